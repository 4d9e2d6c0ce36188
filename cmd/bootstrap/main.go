// Command bootstrap provisions everything queuebridge needs on the Twilio side from one
// declarative spec, the way Terraform does: plan shows what would change and changes nothing,
// apply makes the change (and a second apply finds nothing to do), teardown deletes what the
// spec owns and nothing else. It works against a real account and, with TWILIO_API_URL,
// against the sandbox, with the same code.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	cfgpkg "queuebridge/internal/config"
	"queuebridge/taskrouter/provision"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	var exit exitCode
	switch {
	case errors.As(err, &exit):
		os.Exit(int(exit))
	case err != nil:
		fmt.Fprintln(os.Stderr, "bootstrap:", err)
		os.Exit(1)
	}
}

// exitCode ends the program with a status and no message: --detailed-exitcode's 2.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `usage: bootstrap [plan|apply|teardown] [flags]

  plan      show what apply would change; changes nothing (the default)
  apply     show the plan, ask, then make the changes (--yes: do not ask)
  teardown  show what the spec owns, ask, then delete it (numbers are only detached)

flags:
`

type options struct {
	verb             string
	spec             string
	envOut           string
	json             bool
	yes              bool
	detailedExitCode bool
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	opts := options{verb: "plan"}
	fs := flag.NewFlagSet("bootstrap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	fs.StringVar(&opts.spec, "spec", "queuebridge.yaml", "the spec `file` (YAML or JSON)")
	fs.StringVar(&opts.envOut, "env-out", "", "after apply, write TWILIO_WORKSPACE_SID, TWILIO_WORKFLOW_SID and TWILIO_FLOW_SID to this `file` (other lines are kept)")
	fs.BoolVar(&opts.json, "json", false, "machine-readable output on stdout")
	fs.BoolVar(&opts.yes, "yes", false, "apply or tear down without asking")
	fs.BoolVar(&opts.detailedExitCode, "detailed-exitcode", false, "plan exits 2 when there are changes (0: none, 1: error)")

	// The verb may come before or after the flags.
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return opts, err
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	switch len(positional) {
	case 0:
	case 1:
		opts.verb = positional[0]
	default:
		return opts, fmt.Errorf("one verb expected, got %q", positional)
	}
	switch opts.verb {
	case "plan", "apply", "teardown":
	default:
		return opts, fmt.Errorf("unknown verb %q: use plan, apply or teardown", opts.verb)
	}
	if opts.json && opts.verb != "plan" && !opts.yes {
		return opts, fmt.Errorf("%s --json needs --yes: machine output cannot ask for confirmation", opts.verb)
	}
	return opts, nil
}

// run is the whole program, with its environment passed in so tests can call it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	opts, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	spec, cfg, err := load(opts, getenv)
	if err != nil {
		return err
	}
	rc, err := cfg.twilio.RestClient(30 * time.Second)
	if err != nil {
		return err
	}
	prov := provision.NewProvisioner(provision.NewTwilioProvisionAPI(rc), cfg.settings)
	var plan *provision.Plan
	if opts.verb == "teardown" {
		plan, err = prov.PlanTeardown(ctx, spec)
	} else {
		plan, err = prov.Plan(ctx, spec)
	}
	if err != nil {
		return err
	}
	if opts.verb == "plan" {
		return showPlan(opts, plan, cfg, stdout)
	}
	return change(ctx, opts, prov, plan, cfg, stdin, stdout)
}

// load reads the spec and the configuration, and validates the one against the other.
func load(opts options, getenv func(string) string) (*provision.Spec, config, error) {
	env, err := cfgpkg.NewEnv(getenv, ".env", true)
	if err != nil {
		return nil, config{}, err
	}
	data, err := os.ReadFile(opts.spec)
	if err != nil {
		return nil, config{}, fmt.Errorf("read spec: %w", err)
	}
	spec, err := provision.LoadSpec(data)
	if err != nil {
		return nil, config{}, fmt.Errorf("%s: %w", opts.spec, err)
	}
	cfg, err := loadConfig(env)
	if err != nil {
		return nil, cfg, err
	}
	if err := spec.Validate(cfg.settings); err != nil {
		return nil, cfg, fmt.Errorf("%s: %w", opts.spec, withVariables(err))
	}
	return spec, cfg, nil
}

// settingVars names the variable behind each spec setting.
var settingVars = strings.NewReplacer(
	provision.SpecFieldPublicBaseURL, "PUBLIC_BASE_URL",
	provision.SpecFieldRingTimeout, "RING_TIMEOUT",
	provision.SpecFieldAMDTimeout, "AMD_TIMEOUT",
)

// withVariables rewrites the spec's problems with settings to name the variables a user sets.
func withVariables(err error) error {
	var es provision.SpecErrors
	if !errors.As(err, &es) {
		return err
	}
	out := make(provision.SpecErrors, len(es))
	for i, e := range es {
		e.Field, e.Problem = settingVars.Replace(e.Field), settingVars.Replace(e.Problem)
		out[i] = e
	}
	return out
}

// showPlan prints the plan; with --detailed-exitcode a plan with changes exits 2.
func showPlan(opts options, plan *provision.Plan, cfg config, stdout io.Writer) error {
	if opts.json {
		if err := writeJSON(stdout, jsonReport{Plan: plan, Summary: plan.Summary(), HasChanges: plan.HasChanges()}); err != nil {
			return err
		}
	} else {
		printPlan(stdout, plan, cfg.twilio.AccountSID)
	}
	if opts.detailedExitCode && plan.HasChanges() {
		return exitCode(2)
	}
	return nil
}

// change shows the plan, asks (unless --yes), applies it and reports what was done.
func change(ctx context.Context, opts options, prov *provision.Provisioner, plan *provision.Plan, cfg config, stdin io.Reader, stdout io.Writer) error {
	if !opts.json {
		printPlan(stdout, plan, cfg.twilio.AccountSID)
	}
	done := plan
	if plan.HasChanges() {
		if !opts.yes {
			ok, err := confirm(stdin, stdout, opts.verb, cfg.twilio.AccountSID)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%s cancelled: nothing changed", opts.verb)
			}
		}
		var err error
		if done, err = prov.Apply(ctx, plan); err != nil {
			// Changes made before the failure stay made; the next run reads the account again
			// and carries on from there.
			return fmt.Errorf("%s stopped (what was done before stays done; run it again once fixed): %w", opts.verb, err)
		}
	}
	if opts.envOut != "" && opts.verb == "apply" {
		if err := writeEnvFile(opts.envOut, envOutputs(done.Outputs)); err != nil {
			return err
		}
	}
	if opts.json {
		return writeJSON(stdout, jsonReport{Plan: plan, Summary: plan.Summary(), HasChanges: plan.HasChanges(), Applied: done})
	}
	printDone(stdout, opts, plan, done)
	return nil
}

// envOutputs are the lines --env-out keeps up to date: what the bridge is configured with.
func envOutputs(out provision.ProvisionOutputs) [][2]string {
	return [][2]string{
		{"TWILIO_WORKSPACE_SID", out.WorkspaceSID},
		{"TWILIO_WORKFLOW_SID", out.WorkflowSID},
		{"TWILIO_FLOW_SID", out.FlowSID},
	}
}

func confirm(stdin io.Reader, stdout io.Writer, verb, account string) (bool, error) {
	fmt.Fprintf(stdout, "\nDo you want to %s these changes on account %s?\n  Only 'yes' will be accepted: ", verb, account)
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, fmt.Errorf("read confirmation: %w", err)
	}
	fmt.Fprintln(stdout)
	return strings.TrimSpace(line) == "yes", nil
}

type jsonReport struct {
	Plan       *provision.Plan       `json:"plan"`
	Summary    provision.PlanSummary `json:"summary"`
	HasChanges bool                  `json:"has_changes"`
	// Applied is what apply or teardown did (the plan again, with the new SIDs).
	Applied *provision.Plan `json:"applied,omitempty"`
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// config is what bootstrap reads from the environment (and .env).
type config struct {
	twilio   cfgpkg.Twilio
	settings provision.SpecSettings
}

func loadConfig(env cfgpkg.Env) (config, error) {
	var p cfgpkg.Problems
	c := config{twilio: env.Twilio(&p, true)}
	c.settings.PublicBaseURL = env("PUBLIC_BASE_URL")
	c.settings.RingTimeout, c.settings.AMDTimeout = env.LegTiming(&p)
	c.settings.ConfirmTime = env.ConfirmTime(&p)
	c.settings.RecordCalls = env.Bool(&p, "RECORD_CALLS", false)
	return c, p.Err()
}
