package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"queuebridge/sandbox"
	"queuebridge/sandbox/clock"
	"queuebridge/taskrouter"
)

// sandboxEnv is queuebridge running against its built-in sandbox: the sandbox (Twilio), the
// workspace the example spec provisions in it, and the bridge, wired exactly as in production
// (signed webhooks, twilio-go over HTTP, SQLite).
type sandboxEnv struct {
	sb        *sandbox.Sandbox
	app       *app
	outputs   taskrouter.ProvisionOutputs
	bridgeURL string
	cancel    context.CancelFunc
	served    chan error
}

// sandboxSetup says how to build a sandboxEnv.
type sandboxSetup struct {
	cfg   config
	spec  []byte
	clock clock.Clock
	log   *slog.Logger
	// listen is the bridge's listen address ("127.0.0.1:0" for any port).
	listen string
}

// startSandbox starts the sandbox, provisions the spec in it with the bootstrap code, and starts
// the bridge against it. Close stops everything.
func startSandbox(ctx context.Context, s sandboxSetup) (_ *sandboxEnv, err error) {
	sb, err := sandbox.New(sandbox.Config{Clock: s.clock, Logger: s.log})
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
	ln, err := net.Listen("tcp", s.listen)
	if err != nil {
		return nil, fmt.Errorf("bridge listen %s: %w", s.listen, err)
	}
	defer func() {
		if err != nil {
			ln.Close()
		}
	}()
	cfg := s.cfg
	cfg.PublicBaseURL = "http://" + ln.Addr().String()
	cfg.AccountSID, cfg.AuthToken = sb.Credentials()
	cfg.APIKey, cfg.APISecret = "", ""
	cfg.APIURL = sb.URL()

	outputs, err := provision(ctx, cfg, s.spec)
	if err != nil {
		return nil, err
	}
	cfg.WorkspaceSID = outputs.WorkspaceSID
	a, err := newApp(ctx, cfg, s.log)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	env := &sandboxEnv{sb: sb, app: a, outputs: outputs, bridgeURL: cfg.PublicBaseURL, cancel: cancel, served: make(chan error, 1)}
	go func() { env.served <- a.serve(runCtx, ln) }()
	return env, nil
}

// provision applies the spec to the sandbox with the bootstrap code.
func provision(ctx context.Context, cfg config, specData []byte) (taskrouter.ProvisionOutputs, error) {
	spec, err := taskrouter.LoadSpec(specData)
	if err != nil {
		return taskrouter.ProvisionOutputs{}, fmt.Errorf("spec: %w", err)
	}
	rc, err := taskrouter.NewRestClient(taskrouter.Credentials{AccountSID: cfg.AccountSID, AuthToken: cfg.AuthToken}, cfg.APIURL, 10*time.Second)
	if err != nil {
		return taskrouter.ProvisionOutputs{}, err
	}
	opts := cfg.options()
	ring, amd := opts.RingTimeout, opts.AMDTimeout
	if ring == 0 {
		ring = 60 * time.Second
	}
	if amd == 0 {
		amd = 30 * time.Second
	}
	p := taskrouter.NewProvisioner(taskrouter.NewTwilioProvisionAPI(rc), taskrouter.SpecSettings{
		PublicBaseURL: cfg.PublicBaseURL, RingTimeout: ring, AMDTimeout: amd,
	})
	plan, err := p.ApplySpec(ctx, spec)
	if err != nil {
		return taskrouter.ProvisionOutputs{}, fmt.Errorf("provisioning the sandbox: %w", err)
	}
	return plan.Outputs, nil
}

// Close stops the bridge (gracefully: requests and jobs in flight finish) and the sandbox.
func (e *sandboxEnv) Close() error {
	e.cancel()
	err := <-e.served
	e.app.close()
	return errors.Join(err, e.sb.Close())
}
