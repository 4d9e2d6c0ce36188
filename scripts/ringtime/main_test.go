package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRingtimeMeasuresBothWays: a short run prints both rows, every caller accounted for; the
// same callers and agents, so three agents at once never make the median wait longer.
func TestRingtimeMeasuresBothWays(t *testing.T) {
	var out, errOut bytes.Buffer
	require.Equal(t, 0, run(context.Background(), []string{"-callers", "6", "-speed", "100"}, &out, &errOut), errOut.String())
	assert.Regexp(t, `one at a time\s+is rung again\s+\d of 6`, out.String())
	assert.Regexp(t, `3 at once\s+is rung again\s+\d of 6`, out.String())
	assert.Regexp(t, `one at a time\s+rests 1m0s\s+\d of 6`, out.String())
	assert.Regexp(t, `3 at once\s+rests 1m0s\s+\d of 6`, out.String())

	one, err := Measure(context.Background(), Options{Callers: 6, Seed: 7, Speed: 100}, Setup{AtOnce: 1, Rest: true})
	require.NoError(t, err)
	three, err := Measure(context.Background(), Options{Callers: 6, Seed: 7, Speed: 100}, Setup{AtOnce: 3, Rest: true})
	require.NoError(t, err)
	assert.Equal(t, 6, len(one.Waits)+one.NoHuman)
	assert.Equal(t, 6, len(three.Waits)+three.NoHuman)
	assert.LessOrEqual(t, len(one.Waits), len(three.Waits), "ringing everyone reaches a human at least as often")
}

func TestRingtimeRefusesBadFlags(t *testing.T) {
	var out, errOut bytes.Buffer
	assert.Equal(t, 2, run(context.Background(), []string{"-callers", "0"}, &out, &errOut))
	assert.Contains(t, errOut.String(), "-callers")
	assert.Equal(t, 2, run(context.Background(), []string{"-nope"}, &out, &errOut))
}
