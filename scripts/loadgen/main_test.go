package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOneSecondAtLowRateGivesSaneNumbers(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-scenario", "flow", "-rate", "20", "-duration", "1s", "-json"}, &out, io.Discard)
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())

	assert.Equal(t, 20, rep.Units, "20 reservations in one second at 20/s")
	assert.Zero(t, rep.Errors, rep.ErrorSamples)
	assert.Zero(t, rep.InFlight, "every reservation finished")
	byName := map[string]Line{}
	for _, l := range rep.Lines {
		byName[l.Name] = l
	}
	assert.Equal(t, 20, byName["events reservation.created"].Count)
	assert.Equal(t, 20, byName["flow (whole reservation)"].Count)
	assert.Positive(t, byName["dial-queue answer"].Count)
	assert.Positive(t, byName["status-callback"].Count)
	require.NotNil(t, rep.CreatedCalls)
	assert.Equal(t, 20, rep.CreatedCalls.Count, "one Calls.create per reservation")
	for _, l := range append(rep.Lines, *rep.CreatedCalls) {
		assert.True(t, 0 < l.P50Millis && l.P50Millis <= l.P90Millis && l.P90Millis <= l.P99Millis && l.P99Millis <= l.MaxMillis,
			"%s: percentiles in order: %+v", l.Name, l)
	}
	assert.Positive(t, rep.RSSMiB)
	assert.Zero(t, rep.TwilioErrors, "the bridge understood every answer of the fake Twilio")
	assert.Zero(t, rep.JobRetries)
}

func TestDialQueueAndCreatedScenariosRun(t *testing.T) {
	for _, scenario := range []string{"dial-queue", "created"} {
		t.Run(scenario, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), []string{"-scenario", scenario, "-n", "50", "-c", "4", "-json"}, &out, io.Discard)
			require.NoError(t, err)
			var rep Report
			require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
			assert.Equal(t, 50, rep.Units)
			assert.Zero(t, rep.Errors, rep.ErrorSamples)
			require.NotEmpty(t, rep.Lines)
			assert.Equal(t, 50, rep.Lines[0].Count)
		})
	}
}

// The retried answers are measured against a bare handler with the same requests, and every
// retry gets the TwiML of the first answer.
func TestDialQueueRetryMeasuresTheBareHandlerToo(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-scenario", "dial-queue-retry", "-n", "200", "-c", "4", "-json"}, &out, io.Discard)
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	assert.Zero(t, rep.Errors, rep.ErrorSamples)
	require.Len(t, rep.Lines, 1)
	assert.Equal(t, "dial-queue retried answer", rep.Lines[0].Name)
	assert.Equal(t, 200, rep.Lines[0].Count)
	require.NotNil(t, rep.Bare)
	assert.Equal(t, 200, rep.Bare.Count)
	assert.Positive(t, rep.BareRatio())
	assert.Zero(t, rep.JobRetries)
}

// -sse holds operator streams open through the run: every reader gets its snapshot and the
// changes the run makes (the answers move reservations to bridging), a stalled one holds on.
func TestOperatorStreamsFollowTheRun(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"-scenario", "dial-queue", "-n", "50", "-c", "4", "-sse", "3", "-sse-stalled", "1", "-json"}, &out, io.Discard)
	require.NoError(t, err)
	var rep Report
	require.NoError(t, json.Unmarshal(out.Bytes(), &rep), out.String())
	require.NotNil(t, rep.SSE)
	assert.Equal(t, 3, rep.SSE.Readers)
	assert.Equal(t, 1, rep.SSE.Stalled)
	assert.GreaterOrEqual(t, rep.SSE.Snapshots, int64(3), "each reader's first snapshot")
	assert.Positive(t, rep.SSE.Patches+rep.SSE.Snapshots-3, "the run's changes reached the readers")
	assert.Zero(t, rep.SSE.Ended)
	assert.Zero(t, rep.Errors, rep.ErrorSamples)
}

func TestBadFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"-scenario", "nope"},
		{"-rate", "-1"},
		{"-c", "0"},
		{"-duration", "1h"},
		{"-n", "2000000"},
		{"-url", "http://example.com:8080"},
		{"-twilio-addr", "0.0.0.0:8099"},
		{"-url", "http://127.0.0.1:8080", "-preload", "10"},
		{"-token", "not-alphanumeric"},
		{"-replicas", "3"},
		{"-replicas", "0"},
		{"-url", "http://127.0.0.1:8080,http://example.com:8080"},
		{"-sse", "1001"},
		{"-operator-token", "short"},
		{"stray"},
	} {
		t.Run(args[0], func(t *testing.T) {
			err := run(context.Background(), args, io.Discard, io.Discard)
			assert.Error(t, err, "%v", args)
		})
	}
}
