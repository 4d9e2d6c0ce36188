package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"queuebridge/taskrouter/provision"
)

func actionSymbol(a provision.PlanAction) string {
	switch a {
	case provision.PlanCreate:
		return "+"
	case provision.PlanUpdate:
		return "~"
	case provision.PlanDelete:
		return "-"
	default:
		return "="
	}
}

func describe(c provision.PlanChange) string {
	s := fmt.Sprintf("%s %s %q", actionSymbol(c.Action), c.Kind, c.Name)
	if c.SID != "" {
		s += " (" + c.SID + ")"
	}
	if c.Note != "" {
		s += ": " + c.Note
	}
	return s
}

// printPlan shows the changes Terraform-style; unchanged resources are counted, not listed,
// unless they carry a note worth reading.
func printPlan(w io.Writer, plan *provision.Plan, account string) {
	verb := "apply"
	if plan.Mode == provision.PlanModeTeardown {
		verb = "teardown"
	}
	fmt.Fprintf(w, "Plan (%s) for account %s:\n", verb, account)
	for _, c := range plan.Changes {
		if c.Action == provision.PlanUnchanged && c.Note == "" {
			continue
		}
		fmt.Fprintf(w, "  %s\n", describe(c))
		for _, f := range c.Fields {
			switch {
			case c.Action == provision.PlanCreate:
				fmt.Fprintf(w, "      %s: %s\n", f.Name, f.New)
			case c.Action == provision.PlanDelete || (f.New == "" && c.Action != provision.PlanUpdate):
				fmt.Fprintf(w, "      %s: %s\n", f.Name, f.Old)
			default:
				fmt.Fprintf(w, "      %s: %s -> %s\n", f.Name, orNone(f.Old), orNone(f.New))
			}
		}
	}
	s := plan.Summary()
	switch {
	case !plan.HasChanges() && plan.Mode == provision.PlanModeTeardown:
		fmt.Fprintln(w, "Nothing to tear down: the account holds nothing the spec owns.")
		return
	case !plan.HasChanges():
		fmt.Fprintf(w, "No changes: the account matches the spec (%d resources).\n", s.Unchanged)
		return
	}
	fmt.Fprintf(w, "Plan: %d to create, %d to update, %d to delete, %d unchanged.\n", s.Create, s.Update, s.Delete, s.Unchanged)
}

func orNone(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func printDone(w io.Writer, opts options, plan, done *provision.Plan) {
	if !plan.HasChanges() {
		if opts.verb == "apply" {
			printOutputs(w, opts, done.Outputs)
		}
		return
	}
	s := done.Summary()
	fmt.Fprintf(w, "%s complete: %d created, %d updated, %d deleted.\n", capitalize(opts.verb), s.Create, s.Update, s.Delete)
	if opts.verb == "apply" {
		printOutputs(w, opts, done.Outputs)
	}
}

func printOutputs(w io.Writer, opts options, out provision.ProvisionOutputs) {
	fmt.Fprintln(w, "\nOutputs:")
	for _, kv := range envOutputs(out) {
		fmt.Fprintf(w, "  %s=%s\n", kv[0], kv[1])
	}
	if out.FlowWebhookURL != "" {
		fmt.Fprintf(w, "  flow webhook_url: %s\n", out.FlowWebhookURL)
	}
	for _, name := range slices.Sorted(maps.Keys(out.Activities)) {
		fmt.Fprintf(w, "  activity %q: %s\n", name, out.Activities[name])
	}
	if opts.envOut != "" {
		fmt.Fprintf(w, "Wrote the SIDs to %s.\n", opts.envOut)
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// writeEnvFile sets each key in a dotenv file: a line that sets the key is rewritten in place,
// a missing key is appended, every other line is kept as it was. The file is replaced
// atomically and keeps its permissions (0600 for a new one: .env files hold secrets).
func writeEnvFile(path string, kvs [][2]string) error {
	mode := fs.FileMode(0o600)
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("env-out: %w", err)
	default:
		if st, err := os.Stat(path); err == nil {
			mode = st.Mode().Perm()
		}
	}
	var lines []string
	if len(old) > 0 {
		lines = strings.Split(strings.TrimSuffix(string(old), "\n"), "\n")
	}
	for _, kv := range kvs {
		line := kv[0] + "=" + kv[1]
		found := false
		for i, l := range lines {
			t := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "export "))
			if strings.HasPrefix(t, kv[0]+"=") {
				lines[i], found = line, true
			}
		}
		if !found {
			lines = append(lines, line)
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".env-out-*")
	if err != nil {
		return fmt.Errorf("env-out: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("env-out: %w", err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return fmt.Errorf("env-out: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("env-out: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("env-out: %w", err)
	}
	return nil
}
