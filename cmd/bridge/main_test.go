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
)

// twilioWithWorkflow is the kit's fake Twilio holding what the bridge reads at start-up: the
// workspace's workflow and its Missed Call activity.
func twilioWithWorkflow(t *testing.T, reservationTimeout int) *testkit.Twilio {
	tw := testkit.NewTwilio(t)
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
		"DATABASE_URL": filepath.Join(t.TempDir(), "q.db"), "PUBLIC_BASE_URL": "https://bridge.example.com",
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
