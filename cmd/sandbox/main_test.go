package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	api "github.com/twilio/twilio-go/rest/api/v2010"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"queuebridge/internal/testkit"
	"queuebridge/sandbox"
	"queuebridge/sandbox/clock"
	"queuebridge/twiliogo"
)

func noEnv(string) string { return "" }

// How long a test waits for the program, polling every tick.
const waitFor, tick = 10 * time.Second, 5 * time.Millisecond

func TestServeUntilTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr testkit.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-speed", "50"}, noEnv, &stdout, &stderr) }()

	urlLine := regexp.MustCompile(`export TWILIO_API_URL=(\S+)`)
	var url string
	require.Eventually(t, func() bool {
		m := urlLine.FindStringSubmatch(stdout.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	}, waitFor, tick, "waiting for %s", "the banner")
	out := stdout.String()
	assert.Contains(t, out, "export TWILIO_ACCOUNT_SID="+sandbox.DefaultAccountSID)
	assert.Contains(t, out, "export TWILIO_AUTH_TOKEN="+sandbox.DefaultAuthToken)
	assert.Contains(t, out, "50× real time")
	assert.Contains(t, out, "go run ./cmd/sandbox call --url "+url)

	req, _ := http.NewRequest("GET", url+"/sandbox/", nil)
	req.SetBasicAuth(sandbox.DefaultAccountSID, sandbox.DefaultAuthToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err, "Ctrl-C is a clean exit")
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after its context ended")
	}
	_, err = http.Get(url + "/sandbox/")
	assert.Error(t, err, "the server is gone")
}

func TestBadCommandLinesAreUsageErrors(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-speed", "0"}, "-speed 0"},
		{[]string{"-addr", "0.0.0.0:8910"}, "loopback only"},
		{[]string{"-addr", "nonsense"}, "want host:port"},
		{[]string{"-log-level", "loud"}, "-log-level"},
		{[]string{"-nope"}, "flag provided but not defined"},
		{[]string{"serve"}, `unexpected argument "serve"`},
		{[]string{"call", "--agents", "human,robot"}, `unknown persona "robot"`},
		{[]string{"call", "--url", "127.0.0.1:8910"}, "--url"},
		{[]string{"call", "--agents", "human,busy", "--numbers", "+15550000001"}, "2 agents for 1 numbers"},
		{[]string{"call", "--timeout", "0s"}, "--timeout"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, noEnv, &stdout, &stderr)
			var ue usageError
			require.True(t, errors.As(err, &ue), "a usage error, got %v", err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// startSandbox runs a sandbox in process on a fast clock.
func startSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Clock: clock.NewScaled(100)})
	require.NoError(t, err)
	require.NoError(t, sb.Start())
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

func TestCallSetsTheAgentsPersonasAndPrintsTheTimeline(t *testing.T) {
	sb := startSandbox(t)
	ac, token := sb.Credentials()
	rc, err := twiliogo.New(twiliogo.Credentials{AccountSID: ac, AuthToken: token}, sb.URL(), 5*time.Second)
	require.NoError(t, err)

	// One worker, whose phone the number's TwiML dials: --agents busy must make it busy.
	ws, err := rc.TaskrouterV1.CreateWorkspace((&trapi.CreateWorkspaceParams{}).SetFriendlyName("cli"))
	require.NoError(t, err)
	_, err = rc.TaskrouterV1.CreateWorker(*ws.Sid, (&trapi.CreateWorkerParams{}).SetFriendlyName("ann").
		SetAttributes(`{"contact_uri":"+15550000001"}`))
	require.NoError(t, err)
	twimlApp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<Response><Say>Connecting you.</Say><Dial timeout="10"><Number>+15550000001</Number></Dial></Response>`)
	}))
	defer twimlApp.Close()
	pn := sb.SeedNumber(sandbox.DefaultNumber, "")
	_, err = rc.Api.UpdateIncomingPhoneNumber(pn, (&api.UpdateIncomingPhoneNumberParams{}).SetVoiceUrl(twimlApp.URL))
	require.NoError(t, err)

	var stdout, stderr testkit.SyncBuffer
	env := map[string]string{"TWILIO_API_URL": sb.URL()}
	err = run(context.Background(), []string{"call", "--from", "+15551230001", "--agents", "busy"},
		func(k string) string { return env[k] }, &stdout, &stderr)
	require.NoError(t, err, stderr.String())

	out := stdout.String()
	assert.Contains(t, out, "agent +15550000001 answers as busy")
	assert.Regexp(t, `call CA[0-9a-f]{32} from \+15551230001 to \+15005550006`, out)
	assert.Regexp(t, `caller\s+CA[0-9a-f]{32}\s+twiml: Dial`, out)
	assert.Regexp(t, `agent \+15550000001\s+CA[0-9a-f]{32}\s+status: busy`, out, "the dialed leg, with the persona set")
	assert.Regexp(t, `caller\s+CA[0-9a-f]{32}\s+dial: busy`, out)
	assert.Regexp(t, `caller\s+CA[0-9a-f]{32}\s+status: completed`, out, "printing goes on to the end of the call")
}

func TestCallMapsAgentsOntoNumbersWhenGiven(t *testing.T) {
	sb := startSandbox(t)
	ac, token := sb.Credentials()
	rc, err := twiliogo.New(twiliogo.Credentials{AccountSID: ac, AuthToken: token}, sb.URL(), 5*time.Second)
	require.NoError(t, err)
	twimlApp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprint(w, `<Response><Dial timeout="10"><Number>+15550000002</Number></Dial></Response>`)
	}))
	defer twimlApp.Close()
	pn := sb.SeedNumber(sandbox.DefaultNumber, "")
	_, err = rc.Api.UpdateIncomingPhoneNumber(pn, (&api.UpdateIncomingPhoneNumberParams{}).SetVoiceUrl(twimlApp.URL))
	require.NoError(t, err)

	var stdout, stderr testkit.SyncBuffer
	err = run(context.Background(), []string{"call", "--url", sb.URL(), "--agents", "human,fail", "--numbers", "+15550000001,+15550000002"},
		noEnv, &stdout, &stderr)
	require.NoError(t, err, stderr.String())
	out := stdout.String()
	assert.Contains(t, out, "agent +15550000001 answers as human")
	assert.Contains(t, out, "agent +15550000002 answers as fail")
	assert.Regexp(t, `agent \+15550000002\s+CA[0-9a-f]{32}\s+status: failed`, out)
}

func TestCallErrorsSayWhatIsWrong(t *testing.T) {
	sb := startSandbox(t)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"agents without workers", []string{"call", "--url", sb.URL(), "--agents", "human"}, "run the bootstrap first"},
		{"wrong credentials", []string{"call", "--url", sb.URL(), "--auth-token", "nope"}, "Basic auth"},
		{"a number the sandbox does not have", []string{"call", "--url", sb.URL(), "--to", "+15005559999"}, "not one of the sandbox's numbers"},
		{"no sandbox there", []string{"call", "--url", "http://127.0.0.1:1"}, "is the sandbox running?"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tc.args, noEnv, &stdout, &stderr)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
