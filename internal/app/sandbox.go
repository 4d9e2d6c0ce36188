package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"

	"queuebridge/sandbox"
	"queuebridge/sandbox/clock"
	"queuebridge/taskrouter/provision"
)

// SandboxEnv is queuebridge running against its built-in sandbox: the sandbox (Twilio), the
// workspace the spec provisions in it, and the bridge, wired exactly as in production (signed
// webhooks, twilio-go over HTTP, SQLite).
type SandboxEnv struct {
	Sandbox *sandbox.Sandbox
	App     *App
	Outputs provision.ProvisionOutputs
	// BridgeURL is where the bridge listens (its PUBLIC_BASE_URL).
	BridgeURL string
	listener  string
	opts      []Option
	cancel    context.CancelFunc
	served    chan error
}

// SandboxSetup says how to build a SandboxEnv.
type SandboxSetup struct {
	Config Config
	// Spec is the provisioning spec (YAML).
	Spec  []byte
	Clock clock.Clock
	Log   *slog.Logger
	// Listen is the bridge's listen address ("127.0.0.1:0" for any port).
	Listen string
	// TwilioVia, when set, is given the sandbox's URL and returns the URL the bridge reaches
	// Twilio at: a proxy in front of the sandbox (the fault suite's fault injector).
	// Provisioning always goes to the sandbox directly.
	TwilioVia func(sandboxURL string) string
	// Options are passed to New, for this bridge and any Restart of it.
	Options []Option
}

// StartSandbox starts the sandbox, provisions the spec in it with the bootstrap code, and starts
// the bridge against it. Close stops everything.
func StartSandbox(ctx context.Context, s SandboxSetup) (_ *SandboxEnv, err error) {
	sb, err := sandbox.New(sandbox.Config{Clock: s.Clock, Logger: s.Log})
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if err := sb.Start(); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	defer func() {
		if err != nil {
			sb.Close()
		}
	}()
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return nil, fmt.Errorf("bridge listen %s: %w", s.Listen, err)
	}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	cfg := s.Config
	cfg.PublicBaseURL = "http://" + ln.Addr().String()
	cfg.Twilio.AccountSID, cfg.Twilio.AuthToken = sb.Credentials()
	cfg.Twilio.APIKey, cfg.Twilio.APISecret = "", ""
	cfg.Twilio.APIURL = sb.URL()

	outputs, err := Provision(ctx, cfg, s.Spec)
	if err != nil {
		return nil, err
	}
	cfg.WorkspaceSID = outputs.WorkspaceSID
	if s.TwilioVia != nil {
		cfg.Twilio.APIURL = s.TwilioVia(sb.URL())
	}
	env := &SandboxEnv{Sandbox: sb, Outputs: outputs, BridgeURL: cfg.PublicBaseURL, listener: ln.Addr().String(), opts: s.Options}
	if err := env.start(ctx, cfg, s.Log, ln); err != nil {
		return nil, err
	}
	return env, nil
}

// start wires a bridge for cfg and serves it on ln.
func (e *SandboxEnv) start(ctx context.Context, cfg Config, log *slog.Logger, ln net.Listener) error {
	a, err := New(ctx, cfg, append([]Option{WithLogger(log), inSandbox()}, e.opts...)...)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	e.App, e.cancel, e.served = a, cancel, make(chan error, 1)
	go func() { e.served <- a.Serve(runCtx, ln) }()
	return nil
}

// inSandbox marks the bridge as playing against the built-in sandbox: the operator page then
// opens on loopback without a token.
func inSandbox() Option { return func(b *build) { b.sandbox = true } }

// Restart stops the bridge gracefully and starts a new one on the same database and address, as
// a redeploy would; the sandbox goes on meanwhile.
func (e *SandboxEnv) Restart(ctx context.Context) error {
	cfg, log := e.App.Config, e.App.log
	if err := e.stopBridge(); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", e.listener)
	if err != nil {
		return fmt.Errorf("bridge listen %s: %w", e.listener, err)
	}
	if err := e.start(ctx, cfg, log, ln); err != nil {
		ln.Close()
		return err
	}
	return nil
}

func (e *SandboxEnv) stopBridge() error {
	e.cancel()
	return errors.Join(<-e.served, e.App.Close())
}

// Provision applies a spec (YAML) to the account cfg reaches, with the bootstrap code, sized
// for the bridge's ring and AMD timeouts and its whisper and confirmation.
func Provision(ctx context.Context, cfg Config, specData []byte) (provision.ProvisionOutputs, error) {
	spec, err := provision.LoadSpec(specData)
	if err != nil {
		return provision.ProvisionOutputs{}, fmt.Errorf("spec: %w", err)
	}
	rc, err := cfg.Twilio.RestClient(twilioTimeout)
	if err != nil {
		return provision.ProvisionOutputs{}, err
	}
	ring, amd := cfg.Options.LegTimeouts()
	p := provision.NewProvisioner(provision.NewTwilioProvisionAPI(rc), provision.SpecSettings{
		PublicBaseURL: cfg.PublicBaseURL, RingTimeout: ring, AMDTimeout: amd, ConfirmTime: cfg.Options.ConfirmTime(),
		RecordCalls: cfg.RecordCalls,
	})
	plan, err := p.ApplySpec(ctx, spec)
	if err != nil {
		return provision.ProvisionOutputs{}, fmt.Errorf("provisioning: %w", err)
	}
	return plan.Outputs, nil
}

// Close stops the bridge (gracefully: requests and jobs in flight finish) and the sandbox.
func (e *SandboxEnv) Close() error {
	return errors.Join(e.stopBridge(), e.Sandbox.Close())
}
