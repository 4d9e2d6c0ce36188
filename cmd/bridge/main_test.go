package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"queuebridge/internal/app"
	"queuebridge/internal/config"
	"queuebridge/internal/testkit"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testAccount   = testkit.Account
	testWorkspace = "WS00000000000000000000000000000001"
	testPublicURL = "https://bridge.example.com"
)

// twilioWithWorkflow is the kit's fake Twilio holding what the bridge reads at start-up: the
// workspace (its events sent to the bridge), its workflow and its Missed Call activity.
func twilioWithWorkflow(t *testing.T, reservationTimeout int) *testkit.Twilio {
	tw := testkit.NewTwilio(t)
	tw.Add("/v1/Workspaces", map[string]any{"sid": testWorkspace, "friendly_name": "queuebridge",
		"event_callback_url": testPublicURL + "/taskrouter/events#ct=2000&rc=3"})
	ws := "/v1/Workspaces/" + testWorkspace
	tw.Add(ws+"/Workflows", map[string]any{"sid": "WW00000000000000000000000000000001", "friendly_name": "Support", "task_reservation_timeout": reservationTimeout})
	tw.Add(ws+"/Activities", map[string]any{"sid": "WA00000000000000000000000000000007", "friendly_name": "Missed Call"})
	return tw
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func baseEnv(t *testing.T, apiURL string) map[string]string {
	return map[string]string{
		"TWILIO_ACCOUNT_SID": testAccount, "TWILIO_AUTH_TOKEN": testkit.Token,
		"TWILIO_WORKSPACE_SID": testWorkspace, "TWILIO_API_URL": apiURL, "PORT": "0",
		"DATABASE_URL": filepath.Join(t.TempDir(), "q.db"), "PUBLIC_BASE_URL": testPublicURL,
	}
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	cases := map[string]struct {
		set  map[string]string
		want string
	}{
		"port":          {map[string]string{"PORT": "eighty"}, `PORT "eighty"`},
		"log level":     {map[string]string{"LOG_LEVEL": "loud"}, `LOG_LEVEL "loud"`},
		"ring timeout":  {map[string]string{"RING_TIMEOUT": "soon"}, `RING_TIMEOUT "soon"`},
		"account":       {map[string]string{"TWILIO_ACCOUNT_SID": "ACnope"}, `TWILIO_ACCOUNT_SID "ACnope"`},
		"token":         {map[string]string{"TWILIO_AUTH_TOKEN": ""}, "TWILIO_AUTH_TOKEN is not set"},
		"workspace":     {map[string]string{"TWILIO_WORKSPACE_SID": ""}, "TWILIO_WORKSPACE_SID"},
		"api key alone": {map[string]string{"TWILIO_API_KEY": "SK1"}, "TWILIO_API_KEY and TWILIO_API_SECRET go together"},
		"amd mode":      {map[string]string{"AMD_MODE": "sometimes"}, "AMD_MODE"},
		"unknown":       {map[string]string{"UNKNOWN_ANSWER": "maybe"}, "UNKNOWN_ANSWER"},
		"public url":    {map[string]string{"PUBLIC_BASE_URL": "bridge"}, "PUBLIC_BASE_URL"},
		"no public url": {map[string]string{"PUBLIC_BASE_URL": ""}, "PUBLIC_BASE_URL is not set: with an account it is required"},
		"token, no account": {map[string]string{"TWILIO_ACCOUNT_SID": ""},
			"TWILIO_AUTH_TOKEN is set but TWILIO_ACCOUNT_SID is not"},
		"whisper":          {map[string]string{"AGENT_WHISPER": "loud"}, `AGENT_WHISPER "loud": want on or off`},
		"confirm key":      {map[string]string{"AGENT_CONFIRM_KEY": "12"}, `AGENT_CONFIRM_KEY "12": want one key`},
		"confirm timeout":  {map[string]string{"AGENT_CONFIRM_KEY": "1", "AGENT_CONFIRM_TIMEOUT": "90"}, `AGENT_CONFIRM_TIMEOUT "1m30s"`},
		"rest count":       {map[string]string{"REST_AFTER_MISSES": "many"}, `REST_AFTER_MISSES "many"`},
		"rest activity":    {map[string]string{"REST_AFTER_MISSES": "3"}, "REST_ACTIVITY is not set"},
		"rest cool-down":   {map[string]string{"REST_AFTER_MISSES": "3", "REST_ACTIVITY": "Resting", "REST_COOLDOWN": "later"}, `REST_COOLDOWN "later"`},
		"sms threshold":    {map[string]string{"SMS_TEXT": "Thanks", "SMS_ABANDONED_AFTER": "a while"}, `SMS_ABANDONED_AFTER "a while"`},
		"sms time zone":    {map[string]string{"SMS_TEXT": "Thanks", "SMS_TIME_ZONE": "Mars/Olympus"}, `SMS_TIME_ZONE "Mars/Olympus": want an IANA time zone`},
		"sms without text": {map[string]string{"SMS_ABANDONED_AFTER": "60"}, "SMS_ABANDONED_AFTER is set but SMS_TEXT is not"},
		"sms too long":     {map[string]string{"SMS_TEXT": strings.Repeat("x", 1601)}, "SMS_TEXT is 1601 characters long"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			e := baseEnv(t, "http://127.0.0.1:1")
			for k, v := range tc.set {
				e[k] = v
			}
			var out, errOut bytes.Buffer
			err := run(context.Background(), []string{"-env-file", ""}, env(e), &out, &errOut)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestDotEnvIsReadAndEnvironmentWins(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, ".env")
	require.NoError(t, os.WriteFile(file, []byte("RING_TIMEOUT=25\nAMD_TIMEOUT=20\n"), 0o600))
	get, err := config.NewEnv(env(map[string]string{"AMD_TIMEOUT": "10"}), file, false)
	require.NoError(t, err)
	assert.Equal(t, "25", get("RING_TIMEOUT"))
	assert.Equal(t, "10", get("AMD_TIMEOUT"))
	cfg, err := app.LoadConfig(get)
	require.NoError(t, err)
	assert.Equal(t, 25*time.Second, cfg.Options.RingTimeout)
	assert.Equal(t, 10*time.Second, cfg.Options.AMDTimeout)
}

func TestAnEnvFileThatDoesNotExistIsAnError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "prod.env")
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-env-file", missing}, env(nil), &out, &errOut)
	require.EqualError(t, err, "env file "+missing+" does not exist", "no silent sandbox")
	assert.Empty(t, out.String())
}

// TestStartUpChecksAgainstTheAccount: each refusal says what to fix, and where it asked.
func TestStartUpChecksAgainstTheAccount(t *testing.T) {
	cases := []struct {
		name  string
		setup func(tw *testkit.Twilio, e map[string]string)
		want  []string
	}{
		{"credentials refused", func(tw *testkit.Twilio, _ map[string]string) {
			tw.Fail("fetch_workspace", testkit.Code(401, 20003).WithMessage("Authenticate"), -1)
		}, []string{"refused the credentials (401)", "TWILIO_AUTH_TOKEN", "TWILIO_API_KEY", "(TWILIO_API_URL)"}},
		{"no such workspace", func(_ *testkit.Twilio, e map[string]string) {
			e["TWILIO_WORKSPACE_SID"] = "WS0000000000000000000000000000dead"
		}, []string{"has no workspace WS0000000000000000000000000000dead (404)", "check TWILIO_WORKSPACE_SID"}},
		{"events sent elsewhere", func(_ *testkit.Twilio, e map[string]string) {
			e["PUBLIC_BASE_URL"] = "https://other.example.com"
		}, []string{`sends its events to "https://bridge.example.com/taskrouter/events#ct=2000&rc=3"`,
			`not to this bridge's "https://other.example.com/taskrouter/events"`, "cmd/bootstrap apply"}},
		{"caller ID not owned", func(_ *testkit.Twilio, e map[string]string) {
			e["CALLER_ID"] = "+15005550123"
		}, []string{"CALLER_ID +15005550123 is neither a phone number of account", "21210"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tw := twilioWithWorkflow(t, 120)
			e := baseEnv(t, tw.URL)
			tc.setup(tw, e)
			var out, errOut bytes.Buffer
			err := run(context.Background(), []string{"-env-file", ""}, env(e), &out, &errOut)
			require.Error(t, err)
			for _, want := range tc.want {
				assert.Contains(t, err.Error(), want)
			}
			assert.NotContains(t, err.Error(), "(null)")
			assert.NotContains(t, err.Error(), testkit.Token, "no secret in an error")
			assert.NotContains(t, out.String(), "listening on")
		})
	}
	t.Run("a caller ID the account owns or verified, or a client identity", func(t *testing.T) {
		for _, coll := range []string{"IncomingPhoneNumbers", "OutgoingCallerIds", ""} {
			tw := twilioWithWorkflow(t, 120)
			e := baseEnv(t, tw.URL)
			e["CALLER_ID"] = "+15005550123"
			if coll == "" {
				e["CALLER_ID"] = "client:support" // not a number: nothing to own
			} else {
				tw.Add("/2010-04-01/Accounts/"+testAccount+"/"+coll, map[string]any{"phone_number": "+15005550123"})
			}
			ctx, cancel := context.WithCancel(context.Background())
			var out, errOut testkit.SyncBuffer
			done := make(chan error, 1)
			go func() { done <- run(ctx, []string{"-env-file", ""}, env(e), &out, &errOut) }()
			require.Eventually(t, func() bool { return strings.Contains(out.String(), "listening on") }, 5*time.Second, 5*time.Millisecond,
				"%s: stderr %s", coll, errOut.String())
			cancel()
			assert.NoError(t, testkit.Receive(t, done, 10*time.Second, "run to return"))
		}
	})
}

func TestRefusesToStartWhenTheLegDoesNotFitTheReservation(t *testing.T) {
	tw := twilioWithWorkflow(t, 80)
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"-env-file", ""}, env(baseEnv(t, tw.URL)), &out, &errOut)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refusing to start: workflow Support (WW00000000000000000000000000000001): "+
		"ring timeout 1m0s + AMD timeout 30s = 1m30s does not fit in its reservation timeout 1m20s")
	assert.Contains(t, err.Error(), "lower the ring or AMD timeout")
	assert.Contains(t, err.Error(), "RING_TIMEOUT, AMD_TIMEOUT")
}

func TestRunServesThenShutsDownCleanly(t *testing.T) {
	tw := twilioWithWorkflow(t, 120)
	e := baseEnv(t, tw.URL)
	e["NOANSWER_ACTIVITY"] = "Missed Call"
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut testkit.SyncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-env-file", ""}, env(e), &out, &errOut) }()

	var addr string
	require.Eventually(t, func() bool {
		_, rest, ok := strings.Cut(out.String(), "listening on ")
		if !ok {
			return false
		}
		addr, _, _ = strings.Cut(rest, " ")
		return true
	}, 5*time.Second, 5*time.Millisecond, "stdout: %s\nstderr: %s", out.String(), errOut.String())
	port := addr[strings.LastIndex(addr, ":")+1:]
	resp, err := http.Get("http://127.0.0.1:" + port + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Get("http://127.0.0.1:" + port + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)

	cancel()
	err = testkit.Receive(t, done, 10*time.Second, "run to return after its context ended")
	assert.NoError(t, err, "an interrupt is a clean exit")
}
