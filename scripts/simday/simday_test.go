package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testOptions(t *testing.T, seed uint64, callers int, keys string) options {
	t.Helper()
	used, err := selectStrategies(keys)
	require.NoError(t, err)
	return options{seed: seed, callers: callers, agents: 20, strategy: keys, out: t.TempDir(),
		amd: amdErrors{HumanAsMachine: 0.04, MachineAsHuman: 0.08}, logLevel: slog.LevelError + 4, strategiesUsed: used}
}

// playConcurrently plays each strategy's day of one seed in its own goroutine (each has its own
// sandbox, bridge and clock, so they cannot disturb one another) and returns the results in
// order: on two cores, one day's waits overlap another's work.
func playConcurrently(t *testing.T, seed uint64, callers int, keys ...string) []Result {
	t.Helper()
	d := newDay(seed, callers, 20, amdErrors{HumanAsMachine: 0.04, MachineAsHuman: 0.08})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	results := make([]Result, len(keys))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, key := range keys {
		used, err := selectStrategies(key)
		require.NoError(t, err)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = playStrategy(context.Background(), d, used[0], t.TempDir(), 0, log)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, keys[i])
	}
	return results
}

// TestSameSeedSameDay: the day runs on a manual clock moved only when the sandbox and the
// bridge are quiescent, so two runs with one seed give the same numbers, to the last timer,
// whatever the machine's load or goroutine scheduling (here: two runs at once). The strategy
// is the one with the most going on at once: three agents rung for each caller, with
// confirmation and resting.
func TestSameSeedSameDay(t *testing.T) {
	runs := playConcurrently(t, 7, 50, "combined", "combined")
	res := runs[0]
	require.True(t, res.Available)
	assert.Equal(t, 50, res.Bridged+res.ReachedAgentVoicemail+res.LeftVoicemail+res.VoicemailNoMessage+res.Abandoned,
		"every caller ended one of the expected ways: %v", res.Problems)
	assert.Positive(t, res.Bridged)
	assert.Positive(t, res.Steps)
	first, err := json.MarshalIndent(runs[0], "", "  ")
	require.NoError(t, err)
	second, err := json.MarshalIndent(runs[1], "", "  ")
	require.NoError(t, err)
	assert.Equal(t, string(first), string(second), "same seed, same day")
}

// TestAMDOrdering is the acceptance test on a small day: with AMD no more callers reach
// an agent's voicemail than without it, and those who do got there through AMD's errors only;
// with confirmation none do (when this build has it).
func TestAMDOrdering(t *testing.T) {
	if testing.Short() {
		t.Skip("a 200-caller day per strategy: not in -short")
	}
	byKey := map[string]Result{}
	for _, r := range playConcurrently(t, 3, 200, "no-amd", "default", "confirm") {
		byKey[r.Key] = r
	}
	noAMD, amd := byKey["no-amd"], byKey["default"]
	t.Run("with AMD no more callers reach an agent's voicemail", func(t *testing.T) {
		for _, r := range []Result{noAMD, amd} {
			require.True(t, r.Available, r.Key)
			assert.Zero(t, r.Other, "%s: every caller ends an expected way: %v", r.Key, r.Problems)
			assert.Equal(t, r.Callers, r.Bridged+r.ReachedAgentVoicemail+r.LeftVoicemail+r.VoicemailNoMessage+r.Abandoned, r.Key)
		}
		t.Logf("reached an agent's voicemail: without AMD %d, with AMD %d (%d through AMD errors)",
			noAMD.ReachedAgentVoicemail, amd.ReachedAgentVoicemail, amd.ViaAMDError)
		assert.Positive(t, noAMD.ReachedAgentVoicemail, "the day has agents whose voicemail answers")
		assert.LessOrEqual(t, amd.ReachedAgentVoicemail, noAMD.ReachedAgentVoicemail)
		assert.Equal(t, amd.ViaAMDError, amd.ReachedAgentVoicemail, "with AMD, a voicemail is reached only through AMD's errors")
		assert.Zero(t, noAMD.ViaAMDError, "without AMD there is no AMD error")
	})
	t.Run("with confirmation no caller reaches an agent's voicemail", func(t *testing.T) {
		confirm := byKey["confirm"]
		if !confirm.Available {
			t.Skipf("with confirmation: %s", confirm.Missing)
		}
		assert.Zero(t, confirm.ReachedAgentVoicemail)
	})
}

func TestArrivalsPeakInTheMorningAndTheAfternoon(t *testing.T) {
	at := arrivals(1, 5000)
	require.Len(t, at, 5000)
	perHour := make([]int, 10)
	for i, a := range at {
		require.True(t, a >= 0 && a < dayLength, "inside opening hours")
		if i > 0 {
			require.GreaterOrEqual(t, a, at[i-1], "sorted")
		}
		perHour[a/time.Hour]++
	}
	t.Logf("callers per hour from 08:00: %v", perHour)
	assert.Greater(t, perHour[2], 2*perHour[0], "10:00-11:00 is a peak")
	assert.Greater(t, perHour[6], 2*perHour[9], "14:00-15:00 is a peak")
	assert.Greater(t, perHour[2], perHour[4], "a trough between the peaks")
	assert.Greater(t, perHour[6], perHour[4])
	assert.Equal(t, at, arrivals(1, 5000), "the seed decides")
	assert.NotEqual(t, at, arrivals(2, 5000))
}

// TestLegPersonaRealisesAMDErrorRates: AMD errs through the personas' greetings at the rates
// asked for, and absences decide between a person, the voicemail and no answer.
func TestLegPersonaRealisesAMDErrorRates(t *testing.T) {
	r := newRand(1, 99)
	errs := amdErrors{HumanAsMachine: 0.04, MachineAsHuman: 0.08}
	present := agent{Profile: profiles[0]}
	away := agent{Profile: profiles[6], Away: []span{{0, time.Hour}}}
	noVoicemail := agent{Profile: profiles[0], Away: []span{{0, time.Hour}}}
	const n = 20000
	kinds := map[string]int{}
	for range n {
		kinds[legPersona(r, present, time.Minute, errs).Kind]++
		kinds[legPersona(r, away, time.Minute, errs).Kind]++
		d := legPersona(r, noVoicemail, time.Minute, errs)
		require.Equal(t, legNoAnswer, d.Kind, "away without voicemail: the phone rings out")
	}
	assert.InDelta(t, 0.04, float64(kinds[legHumanLongHello])/n, 0.005)
	assert.InDelta(t, 0.08, float64(kinds[legVoicemailShort])/n, 0.006)
	assert.Equal(t, n, kinds[legHuman]+kinds[legHumanLongHello])
	assert.Equal(t, n, kinds[legVoicemail]+kinds[legVoicemailShort])

	long := legPersona(newRand(1, 1), present, 0, amdErrors{HumanAsMachine: 1}).Persona
	assert.Greater(t, long.Greeting, 2400*time.Millisecond, "outlasts AMD's speech threshold: taken for a machine")
	short := legPersona(newRand(1, 1), away, 0, amdErrors{MachineAsHuman: 1}).Persona
	assert.Less(t, short.Greeting, 2400*time.Millisecond, "under the speech threshold: taken for a person")
}

func TestFlagsRefuseBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-callers", "0"}, "-callers 0"},
		{[]string{"-agents", "-1"}, "-agents -1"},
		{[]string{"-speed", "-2"}, "-speed -2"},
		{[]string{"-amd-human-error", "1.5"}, "-amd-human-error 1.5"},
		{[]string{"-amd-machine-error", "-0.1"}, "-amd-machine-error -0.1"},
		{[]string{"-strategy", "default,bogus"}, `unknown strategy "bogus"`},
		{[]string{"-out", ""}, "-out"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-callers", "many"}, "invalid value"},
	} {
		var stderr bytes.Buffer
		err := run(context.Background(), tc.args, io.Discard, &stderr)
		require.Error(t, err, "%v", tc.args)
		assert.Contains(t, err.Error()+stderr.String(), tc.want, "%v", tc.args)
	}
}

func TestStrategiesSelection(t *testing.T) {
	all, err := selectStrategies("all")
	require.NoError(t, err)
	assert.Equal(t, strategies, all)
	two, err := selectStrategies("default, no-amd")
	require.NoError(t, err)
	require.Len(t, two, 2)
	assert.Equal(t, "default", two[0].Key)
	assert.Equal(t, "off", two[1].env()["AMD_MODE"])
	assert.Equal(t, "30", two[1].env()["RING_TIMEOUT"], "the settings every strategy shares")
	for _, s := range strategies {
		assert.Empty(t, s.Missing, "%s: issue 13 is in this build; every strategy runs", s.Key)
	}
}

// TestMissingStrategyIsListedNotRun: a strategy whose features this build lacks is reported
// with the reason, and nothing is played for it (no sandbox, no numbers).
func TestMissingStrategyIsListedNotRun(t *testing.T) {
	o := testOptions(t, 1, 10, "default")
	o.strategiesUsed = []strategy{{Key: "future", Name: "a future strategy", Env: map[string]string{"FUTURE": "on"},
		Missing: "not available (issue 99): the future"}}
	var progress bytes.Buffer
	rep, err := simulate(context.Background(), o, &progress)
	require.NoError(t, err)
	require.Len(t, rep.Results, 1)
	r := rep.Results[0]
	assert.False(t, r.Available)
	assert.Equal(t, "not available (issue 99): the future", r.Missing)
	assert.Zero(t, r.Callers+r.Bridged+r.LegsPlaced+r.Steps, "nothing was played")
	assert.Contains(t, progress.String(), "a future strategy")
	assert.Contains(t, progress.String(), "not available (issue 99)")
}

// TestReportFiles: the three files, with unavailable strategies named as such.
func TestReportFiles(t *testing.T) {
	dir := t.TempDir()
	rep := Report{Seed: 1, Callers: 3, Agents: 2, Day: map[string]string{"agents": "2 steady", "hours": "08:00 to 18:00"}, Results: []Result{
		{Key: "default", Strategy: "queuebridge default", Available: true, Callers: 3, Bridged: 3, TimesToHuman: []float64{5, 9, 40},
			TimeToHumanMean: 18, TimeToHumanP90: 40, Within30s: 2, LegsPlaced: 4},
		{Key: "confirm", Strategy: "with confirmation", Missing: "not available (issue 13): confirmation"},
	}}
	require.NoError(t, writeReport(dir, rep))
	svg, err := os.ReadFile(filepath.Join(dir, "time-to-human.svg"))
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(svg), "<svg"))
	assert.Contains(t, string(svg), "queuebridge default")
	assert.Contains(t, string(svg), "mean 18 s, p90 40 s")
	assert.Contains(t, string(svg), "not available (issue 13): confirmation")
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	require.NoError(t, err)
	assert.Contains(t, string(md), "| queuebridge default | 3 | 0 (0) | 0 | 0 | 0 | 18.0 s | 40.0 s | 66.7% |")
	assert.Contains(t, string(md), "| with confirmation | not available (issue 13): confirmation |")
	var back Report
	data, err := os.ReadFile(filepath.Join(dir, "results.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, 3, back.Results[0].Bridged)
	assert.False(t, back.Results[1].Available)
}
