package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"queuebridge/handlers"
	"queuebridge/internal/app"
	"queuebridge/sandbox/clock"
	"queuebridge/scripts/demo"
	"queuebridge/taskrouter/provision"
)

// runSandboxMode is `go run ./cmd/bridge` without an account: the sandbox plays Twilio, the
// example spec is provisioned in it, the bridge runs against it exactly as in production, and
// a short demo shows whole calls. It serves until ctx ends.
func runSandboxMode(ctx context.Context, cfg app.Config, runDemo bool, speed float64, stdout io.Writer, log *slog.Logger) error {
	spec, err := provision.LoadSpec(provision.ExampleSpec)
	if err != nil {
		return fmt.Errorf("example spec: %w", err)
	}
	if cfg.DatabaseURL == "" {
		// The sandbox keeps its state in memory: a store that outlived it would only hold
		// reservations no sandbox knows. Use a fresh one unless DATABASE_URL says otherwise.
		dir, err := os.MkdirTemp("", "queuebridge-sandbox-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.DatabaseURL = filepath.Join(dir, "queuebridge.db")
	}
	env, err := app.StartSandbox(ctx, app.SandboxSetup{
		Config: cfg, Spec: provision.ExampleSpec, Clock: clock.NewScaled(speed), Log: log,
		Listen: fmt.Sprintf("127.0.0.1:%d", cfg.Port),
	})
	if err != nil {
		return err
	}
	account, token := env.Sandbox.Credentials()
	fmt.Fprintf(stdout, `queuebridge — SANDBOX MODE: no Twilio account is used and no phone rings.
  The sandbox plays Twilio at %s (account %s, clock %gx faster than real time).
  The example spec (taskrouter/provision/queuebridge.example.yaml) is provisioned in it: workspace %s,
  agents Alice, Bob and Carol, the IVR on %s.
  queuebridge listens at %s, verifying every signed webhook as in production.
  The live operator page: %s%s (%s): the demo's calls show up there as they happen.
  To use a real account instead: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN, TWILIO_WORKSPACE_SID
  and PUBLIC_BASE_URL (see README.md, "Running against a real account").
`, env.Sandbox.URL(), account, speed, env.Outputs.WorkspaceSID, demo.Number, env.BridgeURL,
		env.BridgeURL, handlers.PathOperator, operatorAccess(cfg))

	if runDemo {
		ok, err := demo.Run(ctx, env, demo.AgentNumbers(spec), stdout)
		if err != nil {
			env.Close()
			return fmt.Errorf("demo: %w", err)
		}
		if !ok {
			fmt.Fprintln(stdout, "\nSome calls did not end as their personas dictate: see the timelines above.")
		}
	}
	fmt.Fprintf(stdout, `
Still serving. Place more calls through the sandbox's control surface, e.g.:
  go run ./cmd/sandbox call --url %s --from +15551234567 --to %s --agents voicemail,human
  curl -u %s:%s -H 'Content-Type: application/json' \
       -d '{"from":"+15551234567","to":"%s"}' %s/sandbox/calls
Ctrl-C stops.
`, env.Sandbox.URL(), demo.Number, account, token, demo.Number, env.Sandbox.URL())
	<-ctx.Done()
	return env.Close()
}

// operatorAccess says who may open the operator page in sandbox mode.
func operatorAccess(cfg app.Config) string {
	if cfg.Operator.Token != "" {
		return "log in with OPERATOR_TOKEN"
	}
	return "open to this machine only; OPERATOR_TOKEN requires a token"
}
