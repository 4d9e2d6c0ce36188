package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
)

// TestSandboxModeRunsTheDemoThenServesUntilInterrupted is `go run ./cmd/bridge` on a fresh
// machine: no account, the demo's five calls each end as their personas dictate, and an interrupt
// is a clean exit.
func TestSandboxModeRunsTheDemoThenServesUntilInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut testkit.SyncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-env-file", "", "-port", "0", "-speed", "50"}, env(map[string]string{}), &out, &errOut)
	}()
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "Still serving") }, 90*time.Second, 20*time.Millisecond,
		"stdout:\n%s\nstderr:\n%s", out.String(), errOut.String())

	text := out.String()
	assert.Contains(t, text, "SANDBOX MODE")
	for _, want := range []string{
		"Call 1: agent answers in person", "AMD verdict: human", "talks with the caller",
		"AMD verdict: machine_start", "leg ends: no-answer", "leg ends: busy",
		"gives up and hangs up while waiting", "leg ends: canceled",
		"hears: You are next in line.", "pressed * to leave a message", "voicemail (stored by queuebridge",
	} {
		assert.Contains(t, text, want)
	}
	summary := text[strings.Index(text, "Summary"):strings.Index(text, "Still serving")]
	assert.Equal(t, 6, strings.Count(summary, " yes\n"), summary)
	assert.NotContains(t, summary, " NO\n")

	cancel()
	err := testkit.Receive(t, done, 20*time.Second, "run to return after the interrupt")
	assert.NoError(t, err, "an interrupt is a clean exit; stderr:\n%s", errOut.String())
}

func TestSandboxModeRejectsABadSpeed(t *testing.T) {
	var out, errOut testkit.SyncBuffer
	err := run(context.Background(), []string{"-env-file", "", "-speed", "0.5"}, env(map[string]string{}), &out, &errOut)
	assert.EqualError(t, err, "-speed 0.5: want 1 (real time) to 1000")
}
