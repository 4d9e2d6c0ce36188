package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"queuebridge/handlers"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/taskrouter/provision"
)

const (
	testAccount = testkit.Account
	testToken   = testkit.Token
	// testNumber is the account's phone number: the fake holds it before bootstrap runs.
	testNumber = "PN0123456789abcdef0123456789abcdef"
)

// bootstrapTest runs bootstrap in a fresh directory holding the example spec, against the kit's
// fake Twilio reached through TWILIO_API_URL.
type bootstrapTest struct {
	t      *testing.T
	twilio *testkit.Twilio
	env    map[string]string
	dir    string
}

func newBootstrapTest(t *testing.T) *bootstrapTest {
	dir := t.TempDir()
	t.Chdir(dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "queuebridge.yaml"), provision.ExampleSpec, 0o600))
	tw := testkit.NewTwilio(t)
	tw.Add("/2010-04-01/Accounts/"+testAccount+"/IncomingPhoneNumbers", map[string]any{
		"sid": testNumber, "phone_number": "+15005550006", "friendly_name": "(500) 555-0006",
		"voice_url": "", "voice_method": "POST", "voice_application_sid": "",
	})
	return &bootstrapTest{t: t, twilio: tw, dir: dir, env: map[string]string{
		"TWILIO_ACCOUNT_SID": testAccount,
		"TWILIO_AUTH_TOKEN":  testToken,
		"TWILIO_API_URL":     tw.URL,
		"PUBLIC_BASE_URL":    "https://bridge.example.com",
	}}
}

func (b *bootstrapTest) run(stdin string, args ...string) (stdout, stderr string, err error) {
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, func(k string) string { return b.env[k] }, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

func (b *bootstrapTest) editSpec(from, to string) {
	path := filepath.Join(b.dir, "queuebridge.yaml")
	data, err := os.ReadFile(path)
	require.NoError(b.t, err)
	require.Contains(b.t, string(data), from)
	require.NoError(b.t, os.WriteFile(path, bytes.Replace(data, []byte(from), []byte(to), 1), 0o600))
}

func (b *bootstrapTest) sid(collectionSuffix, name string) string {
	found := b.twilio.Find(collectionSuffix, "friendly_name", name)
	require.NotEmpty(b.t, found, "no %s named %q", collectionSuffix, name)
	return found[0]["sid"].(string)
}

// writes are the write requests bootstrap made, as "METHOD /path".
func (b *bootstrapTest) writes() []string { return testkit.Lines(b.twilio.Writes()) }

func TestPlanIsTheDefaultAndChangesNothing(t *testing.T) {
	b := newBootstrapTest(t)
	out, _, err := b.run("", "--detailed-exitcode")
	assert.Equal(t, exitCode(2), err, "changes pending")
	assert.Empty(t, b.writes())
	assert.Contains(t, out, "Plan (apply) for account "+testAccount+":\n")
	assert.Contains(t, out, "  + workspace \"queuebridge\"\n      event_callback_url: https://bridge.example.com/taskrouter/events"+handlers.Overrides+"\n")
	assert.Contains(t, out, "  + worker \"Alice\"\n")
	assert.Contains(t, out, "  ~ number \"+15005550006\" (PN0123456789abcdef0123456789abcdef)\n      voice_url: \"\" -> (webhook_url of new flow queuebridge IVR)\n")
	assert.Contains(t, out, "Plan: 13 to create, 1 to update, 0 to delete, 0 unchanged.\n")

	_, _, err = b.run("", "plan")
	assert.NoError(t, err, "without --detailed-exitcode a plan with changes exits 0")
}

func TestApplyCreatesEverythingThenFindsNothingToDo(t *testing.T) {
	b := newBootstrapTest(t)
	require.NoError(t, os.WriteFile(".env", []byte("# mine\nLOG_LEVEL=debug\nTWILIO_WORKSPACE_SID=WSold\n"), 0o600))
	out, _, err := b.run("", "apply", "--yes", "--env-out", ".env")
	require.NoError(t, err)

	ws := b.sid("/v1/Workspaces", "queuebridge")
	wsPath := "/v1/Workspaces/" + ws
	workflow := b.sid("/Workflows", "Inbound calls")
	flow := b.sid("/v2/Flows", "queuebridge IVR")
	assert.Equal(t, []string{
		"POST /v1/Workspaces",
		"POST " + wsPath + "/Activities",
		"POST " + wsPath,
		"POST " + wsPath + "/TaskQueues", "POST " + wsPath + "/TaskQueues", "POST " + wsPath + "/TaskQueues",
		"POST " + wsPath + "/Workers", "POST " + wsPath + "/Workers", "POST " + wsPath + "/Workers",
		"POST " + wsPath + "/Workflows",
		"POST /v2/Flows",
		"POST /2010-04-01/Accounts/" + testAccount + "/IncomingPhoneNumbers/PN0123456789abcdef0123456789abcdef.json",
	}, b.writes())
	assert.Contains(t, out, "Apply complete: 10 created, 1 updated, 0 deleted.\n")
	assert.Contains(t, out, "TWILIO_WORKSPACE_SID="+ws+"\n")

	number := b.twilio.Find("/2010-04-01/Accounts/"+testAccount+"/IncomingPhoneNumbers", "phone_number", "+15005550006")[0]
	assert.Equal(t, "https://webhooks.twilio.com/v1/Accounts/"+testAccount+"/Flows/"+flow, number["voice_url"])
	assert.Equal(t, "POST", number["voice_method"])

	env, err := os.ReadFile(".env")
	require.NoError(t, err)
	assert.Equal(t, "# mine\nLOG_LEVEL=debug\nTWILIO_WORKSPACE_SID="+ws+"\nTWILIO_WORKFLOW_SID="+workflow+"\nTWILIO_FLOW_SID="+flow+"\n", string(env))

	b.twilio.Forget()
	out, _, err = b.run("", "apply")
	require.NoError(t, err, "nothing to confirm when nothing changes")
	assert.Empty(t, b.writes(), "a second apply makes no write request")
	assert.Contains(t, out, "No changes: the account matches the spec (14 resources).\n")

	_, _, err = b.run("", "plan", "--detailed-exitcode")
	assert.NoError(t, err, "exit 0: nothing to do")
}

func TestApplyAsksFirst(t *testing.T) {
	b := newBootstrapTest(t)
	out, _, err := b.run("no\n", "apply")
	assert.EqualError(t, err, "apply cancelled: nothing changed")
	assert.Contains(t, out, "Do you want to apply these changes on account "+testAccount+"?")
	assert.Empty(t, b.writes())

	_, _, err = b.run("yes\n", "apply")
	require.NoError(t, err)
	assert.Len(t, b.writes(), 12)
}

func TestChangingOneContactURIUpdatesThatWorkerOnly(t *testing.T) {
	b := newBootstrapTest(t)
	_, _, err := b.run("", "apply", "--yes")
	require.NoError(t, err)
	b.twilio.Forget()

	b.editSpec(`"+15005550102"`, `"+15005550199"`)
	out, _, err := b.run("", "apply", "--yes")
	require.NoError(t, err)
	ws := b.sid("/v1/Workspaces", "queuebridge")
	bob := b.sid("/Workers", "Bob")
	assert.Equal(t, []string{"POST /v1/Workspaces/" + ws + "/Workers/" + bob}, b.writes())
	assert.Contains(t, out, `  ~ worker "Bob" (`+bob+")\n      attributes: ")
	assert.Contains(t, out, "Apply complete: 0 created, 1 updated, 0 deleted.\n")
	worker := b.twilio.Find("/v1/Workspaces/"+ws+"/Workers", "friendly_name", "Bob")[0]
	assert.JSONEq(t, `{"contact_uri":"+15005550199","skills":["support"],"languages":["en","es"]}`, worker["attributes"].(string))
}

func TestTeardownRemovesWhatApplyCreated(t *testing.T) {
	b := newBootstrapTest(t)
	_, _, err := b.run("", "apply", "--yes")
	require.NoError(t, err)
	ws := b.sid("/v1/Workspaces", "queuebridge")
	flow := b.sid("/v2/Flows", "queuebridge IVR")
	b.twilio.Forget()

	out, _, err := b.run("", "teardown", "--yes")
	require.NoError(t, err)
	assert.Equal(t, []string{
		"POST /2010-04-01/Accounts/" + testAccount + "/IncomingPhoneNumbers/PN0123456789abcdef0123456789abcdef.json",
		"DELETE /v2/Flows/" + flow,
		"DELETE /v1/Workspaces/" + ws,
	}, b.writes())
	assert.Contains(t, out, "Plan (teardown)")
	assert.Contains(t, out, `  - worker "Alice" (`)
	assert.Contains(t, out, "Teardown complete: 0 created, 1 updated, 13 deleted.\n")
	assert.Empty(t, b.twilio.Find("/v1/Workspaces", "friendly_name", "queuebridge"))
	assert.Empty(t, b.twilio.Find("/v2/Flows", "friendly_name", "queuebridge IVR"))
	assert.Len(t, b.twilio.Find("/2010-04-01/Accounts/"+testAccount+"/IncomingPhoneNumbers", "voice_url", ""), 1, "the number stays, detached")

	b.twilio.Forget()
	out, _, err = b.run("", "teardown")
	require.NoError(t, err, "nothing to confirm")
	assert.Contains(t, out, "Nothing to tear down: the account holds nothing the spec owns.\n")
	assert.Empty(t, b.writes())
}

func TestJSONOutput(t *testing.T) {
	b := newBootstrapTest(t)
	out, _, err := b.run("", "plan", "--json")
	require.NoError(t, err)
	var report struct {
		Plan struct {
			Mode    string `json:"mode"`
			Changes []struct {
				Action string `json:"action"`
				Kind   string `json:"kind"`
				Name   string `json:"name"`
			} `json:"changes"`
		} `json:"plan"`
		Summary    provision.PlanSummary `json:"summary"`
		HasChanges bool                  `json:"has_changes"`
		Applied    *struct {
			Outputs provision.ProvisionOutputs `json:"outputs"`
		} `json:"applied"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &report), out)
	assert.Equal(t, "apply", report.Plan.Mode)
	assert.True(t, report.HasChanges)
	assert.Equal(t, provision.PlanSummary{Create: 13, Update: 1}, report.Summary)
	assert.Equal(t, "create", report.Plan.Changes[0].Action)
	assert.Equal(t, "workspace", report.Plan.Changes[0].Kind)
	assert.Nil(t, report.Applied)

	out, _, err = b.run("", "apply", "--json", "--yes")
	require.NoError(t, err)
	report.Applied = nil
	require.NoError(t, json.Unmarshal([]byte(out), &report), out)
	require.NotNil(t, report.Applied)
	assert.Equal(t, b.sid("/v1/Workspaces", "queuebridge"), report.Applied.Outputs.WorkspaceSID)
	assert.Equal(t, b.sid("/Workflows", "Inbound calls"), report.Applied.Outputs.WorkflowSID)
}

func TestTwilioErrorsNameTheResource(t *testing.T) {
	b := newBootstrapTest(t)
	b.twilio.Fail("create_flow", testkit.Code(400, 20001), -1)
	_, _, err := b.run("", "apply", "--yes")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `create flow "queuebridge IVR": Twilio error 20001: Invalid parameter (HTTP 400) https://www.twilio.com/docs/errors/20001`)
	assert.Empty(t, b.twilio.Find("/v2/Flows", "friendly_name", "queuebridge IVR"))

	// Fixed: the next apply picks up where the failed one stopped.
	b.twilio.Clear()
	b.twilio.Forget()
	_, _, err = b.run("", "apply", "--yes")
	require.NoError(t, err)
	assert.Equal(t, []string{"POST /v2/Flows", "POST /2010-04-01/Accounts/" + testAccount + "/IncomingPhoneNumbers/PN0123456789abcdef0123456789abcdef.json"}, b.writes())
}

func TestBadInputChangesNothing(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string // overrides; "" unsets
		spec [2]string         // edit of the example spec
		want string
		// contains: want is part of the message (a YAML error names a line of the example)
		contains bool
	}{
		{name: "unknown verb", args: []string{"destroy"}, want: `unknown verb "destroy": use plan, apply or teardown`},
		{name: "two verbs", args: []string{"plan", "apply"}, want: `one verb expected, got ["plan" "apply"]`},
		{name: "unknown flag", args: []string{"--force"}, want: "flag provided but not defined: -force"},
		{name: "json apply needs --yes", args: []string{"apply", "--json"}, want: "apply --json needs --yes: machine output cannot ask for confirmation"},
		{name: "missing spec file", args: []string{"--spec", "nope.yaml"}, want: "read spec: open nope.yaml: no such file or directory"},
		{name: "invalid spec", spec: [2]string{`contact_uri: "+15005550101"`, `contact_uri: "5550101"`},
			want: "queuebridge.yaml: invalid spec:\n  workers[0].contact_uri \"5550101\": is not an E.164 number (+ and up to 15 digits) nor a sip: or client: URI"},
		{name: "unknown key in spec", spec: [2]string{"default_queue:", "default_queu:"}, want: "field default_queu not found in type provision.SpecWorkflow", contains: true},
		{name: "no credentials", env: map[string]string{"TWILIO_ACCOUNT_SID": "", "TWILIO_AUTH_TOKEN": ""},
			want: "configuration:\n  TWILIO_ACCOUNT_SID is not set\n  TWILIO_AUTH_TOKEN is not set (nor TWILIO_API_KEY and TWILIO_API_SECRET)"},
		{name: "API key without secret", env: map[string]string{"TWILIO_API_KEY": "SK0123"}, want: "configuration:\n  TWILIO_API_KEY and TWILIO_API_SECRET go together: set both or neither"},
		{name: "bad TWILIO_API_URL", env: map[string]string{"TWILIO_API_URL": "localhost:1234"}, want: "configuration:\n  TWILIO_API_URL \"localhost:1234\": want an absolute http(s) URL"},
		{name: "bad RING_TIMEOUT", env: map[string]string{"RING_TIMEOUT": "soon"}, want: "configuration:\n  RING_TIMEOUT \"soon\": want a number of seconds or a duration such as 25s"},
		{name: "no PUBLIC_BASE_URL", env: map[string]string{"PUBLIC_BASE_URL": ""},
			want: "queuebridge.yaml: invalid spec:\n  PUBLIC_BASE_URL \"\": must be an absolute http(s) URL (where Twilio reaches the bridge)"},
		{name: "reservation timeout too short for the configured ring timeout", env: map[string]string{"RING_TIMEOUT": "100"},
			spec: [2]string{"default_queue: Everyone", "default_queue: Everyone\n  reservation_timeout: 120"},
			want: "queuebridge.yaml: invalid spec:\n  workflow.reservation_timeout \"120\": is shorter than ring timeout 1m40s + AMD timeout 30s + margin 15s = 145s: the reservation would expire while the agent's phone rings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBootstrapTest(t)
			for k, v := range tt.env {
				b.env[k] = v
			}
			if tt.spec[0] != "" {
				b.editSpec(tt.spec[0], tt.spec[1])
			}
			_, _, err := b.run("", tt.args...)
			require.Error(t, err)
			if tt.contains {
				assert.Contains(t, err.Error(), tt.want)
			} else {
				assert.Equal(t, tt.want, err.Error())
			}
			var exit exitCode
			assert.False(t, errors.As(err, &exit), "an error exits 1")
			assert.Empty(t, b.twilio.Requests(), "nothing was sent to Twilio")
		})
	}
}

func TestDotEnvFillsWhatTheEnvironmentLacks(t *testing.T) {
	b := newBootstrapTest(t)
	delete(b.env, "PUBLIC_BASE_URL")
	require.NoError(t, os.WriteFile(".env", []byte("PUBLIC_BASE_URL=https://from-dotenv.example.com\nTWILIO_AUTH_TOKEN=ignored\n"), 0o600))
	out, _, err := b.run("", "plan")
	require.NoError(t, err)
	assert.Contains(t, out, "event_callback_url: https://from-dotenv.example.com/taskrouter/events")
}

func TestWriteEnvFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, ".env")
	require.NoError(t, writeEnvFile(path, [][2]string{{"A", "1"}}))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "A=1\n", string(got))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "a new .env is private: it may hold the auth token")

	require.NoError(t, os.WriteFile(path, []byte("X=keep\nexport A=0\n\n# comment\n"), 0o640))
	require.NoError(t, os.Chmod(path, 0o640))
	require.NoError(t, writeEnvFile(path, [][2]string{{"A", "2"}, {"B", "3"}}))
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "X=keep\nA=2\n\n# comment\nB=3\n", string(got))
	st, err = os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), st.Mode().Perm())
}

func TestJSONSpecFile(t *testing.T) {
	b := newBootstrapTest(t)
	spec, err := provision.LoadSpec(provision.ExampleSpec)
	require.NoError(t, err)
	data, err := json.Marshal(spec)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile("queuebridge.json", data, 0o600))
	_, _, err = b.run("", "apply", "--yes", "--spec", "queuebridge.json")
	require.NoError(t, err)
	assert.Len(t, b.writes(), 12)
	b.twilio.Forget()
	_, _, err = b.run("", "plan", "--detailed-exitcode")
	assert.NoError(t, err, "the YAML spec describes the same account as its JSON twin")
}
