package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/sandbox"
	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/voice"
)

// testSandbox is a sandbox on a manual clock whose number's TwiML comes from an application
// that answers after a delay, counting its answers.
func testSandbox(t *testing.T, delay time.Duration) (*sandbox.Sandbox, *clock.Manual, *atomic.Int64) {
	t.Helper()
	clk := clock.NewManual(dayStart)
	sb, err := sandbox.New(sandbox.Config{Clock: clk})
	require.NoError(t, err)
	require.NoError(t, sb.Start())
	t.Cleanup(func() { _ = sb.Close() })
	answered := &atomic.Int64{}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<Response><Pause length="10"/></Response>`))
		answered.Add(1)
	}))
	t.Cleanup(app.Close)
	require.True(t, sb.Voice().SetVoiceURL(sandbox.DefaultNumber, app.URL+"/voice", "POST"))
	sb.SetPersona("+15550107001", voice.Human(0, 0))
	return sb, clk, answered
}

// TestQuiesceSeesWorkAJobStartedAfterTheSandboxSettled: a bridge job that reaches the sandbox
// while the driver reads the outbox can be over by the time the read answers, and the webhook
// its call sent can have queued another job meanwhile (the read saw neither). The sandbox's
// started count gives it away: the driver must look again, find that job, and wait for it.
func TestQuiesceSeesWorkAJobStartedAfterTheSandboxSettled(t *testing.T) {
	sb, clk, answered := testSandbox(t, 0)
	jobRan, seen := false, int64(0)
	jobs := func(ctx context.Context) (int, error) {
		if !jobRan {
			jobRan = true // a stale read: the job places a call and ends, its webhook is answered
			_, err := sb.PlaceCall(ctx, "+15550107001", sandbox.DefaultNumber)
			require.NoError(t, err)
			require.Eventually(t, func() bool { n, _ := sb.Activity(); return answered.Load() == 1 && n == 0 }, 5*time.Second, time.Millisecond)
			return 0, nil
		}
		n := answered.Swap(0) // the webhook queued a job at the "bridge": seen now, done next time
		seen += n
		return int(n), nil
	}
	d := newDriver(clk, sb, jobs, 0)
	require.NoError(t, d.quiesce(context.Background()))
	assert.True(t, jobRan)
	assert.Equal(t, int64(1), seen, "the job the webhook queued was found before quiescence was declared")
}

// TestQuiesceWaitsForTheOutbox: jobs queued at the bridge hold the clock.
func TestQuiesceWaitsForTheOutbox(t *testing.T) {
	sb, clk, _ := testSandbox(t, 0)
	var left atomic.Int64
	left.Store(3)
	jobs := func(context.Context) (int, error) { return int(max(left.Add(-1), 0)), nil }
	d := newDriver(clk, sb, jobs, 0)
	require.NoError(t, d.quiesce(context.Background()))
	assert.LessOrEqual(t, left.Load(), int64(0), "asked until the outbox was empty")
}

// TestRunStepsOneTimerAtATimeAfterQuiescence: the driver runs timers in order and stops when
// told; with a speed it paces the clock against real time.
func TestRunStepsOneTimerAtATimeAfterQuiescence(t *testing.T) {
	sb, clk, answered := testSandbox(t, 20*time.Millisecond)
	var got []string
	clk.AfterFunc(2*time.Second, func() { got = append(got, "second") })
	clk.AfterFunc(time.Second, func() {
		got = append(got, "first")
		_, err := sb.PlaceCall(context.Background(), "+15550107001", sandbox.DefaultNumber)
		require.NoError(t, err)
	})
	clk.AfterFunc(time.Hour, func() { got = append(got, "never") })
	d := newDriver(clk, sb, func(context.Context) (int, error) { return 0, nil }, 1000)
	var seenAtSecond int64 = -1
	clk.AfterFunc(1500*time.Millisecond, func() { seenAtSecond = answered.Load() })
	start := time.Now()
	require.NoError(t, d.run(context.Background(), func(next time.Time) bool { return next.After(dayStart.Add(5 * time.Second)) }))
	assert.Equal(t, []string{"first", "second"}, got)
	assert.Equal(t, int64(1), seenAtSecond, "the call's webhook was answered before the next timer ran")
	assert.GreaterOrEqual(t, time.Since(start), 2*time.Millisecond, "at 1000x, 2 s of day take 2 ms")
	assert.Equal(t, 3, d.steps)
}
