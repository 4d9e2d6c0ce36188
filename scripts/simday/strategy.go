package main

import (
	"fmt"
	"strings"
)

// strategy is one way of ringing agents, run on the same day (same seed) as the others: the
// bridge's configuration (its environment variables, as a deployment sets them), changes to
// the workspace spec, and a check that the features it needs exist in this build. Adding a
// strategy is adding an entry to strategies.
type strategy struct {
	// Key selects it on the command line (-strategy); Name is what the reports call it.
	Key, Name string
	// Env is the bridge's configuration on top of commonEnv.
	Env map[string]string
	// MaxReservedWorkers is the queues' max_reserved_workers: agents rung at once (0: 1).
	MaxReservedWorkers int
	// Missing names what this build lacks to run the strategy ("" when it runs). Strategies
	// are never approximated with something else: a missing feature is reported as such.
	Missing string
}

// commonEnv is the configuration every strategy shares: a 30 s ring (the agents' voicemail
// picks up after 20 s, so it can answer) and AMD's defaults otherwise.
var commonEnv = map[string]string{"RING_TIMEOUT": "30"}

// confirmKey is the key agents press to take a call when confirmation is on (legPersona's
// people press it; voicemails press nothing).
const confirmKey = "1"

var strategies = []strategy{
	{
		// The simplest seed app: ring one agent, and whoever answers (person or machine) gets
		// the caller; an agent who does not answer stays Available and is rung again.
		Key: "no-amd", Name: "one agent at a time, no AMD",
		Env: map[string]string{"AMD_MODE": "off"},
	},
	{
		// queuebridge with its defaults: AMD Enable (Twilio's thresholds), unknown connects.
		Key: "default", Name: "queuebridge default",
		Env: map[string]string{},
	},
	{
		// queuebridge as the README's checklist sets it up: also NOANSWER_ACTIVITY, so an
		// agent who did not pick up (no-answer, busy, voicemail) leaves the rotation.
		Key: "missed", Name: "default + NOANSWER_ACTIVITY",
		Env: map[string]string{"NOANSWER_ACTIVITY": "Missed Call"},
	},
	{
		// Issue 13: after AMD says human, the agent must press a key before the caller is
		// connected; a voicemail that fooled AMD presses nothing and is not connected.
		Key: "confirm", Name: "with confirmation",
		Env: map[string]string{"AGENT_CONFIRM_KEY": confirmKey},
	},
	{
		// Issue 13: an agent who misses two legs in a row (no-answer, busy, machine, not
		// confirmed) is moved to Missed Call until they come back (no REST_COOLDOWN: its return
		// job would run on the bridge's real-time clock, which the day does not run on).
		Key: "rest", Name: "agents rested after 2 misses",
		Env: map[string]string{"REST_AFTER_MISSES": "2", "REST_ACTIVITY": activityMissedCall},
	},
	{
		// Issue 13: TaskRouter reserves two (three) agents at once for each caller, the bridge
		// rings each, the first person to answer gets the caller.
		Key: "ring2", Name: "two agents rung at once", MaxReservedWorkers: 2,
	},
	{
		Key: "ring3", Name: "three agents rung at once", MaxReservedWorkers: 3,
	},
	{
		Key: "combined", Name: "confirmation + rest + three at once", MaxReservedWorkers: 3,
		Env: map[string]string{"AGENT_CONFIRM_KEY": confirmKey, "REST_AFTER_MISSES": "2", "REST_ACTIVITY": activityMissedCall},
	},
}

// env is the strategy's full bridge configuration.
func (s strategy) env() map[string]string {
	out := map[string]string{}
	for k, v := range commonEnv {
		out[k] = v
	}
	for k, v := range s.Env {
		out[k] = v
	}
	return out
}

// selectStrategies picks the strategies named by -strategy: "all", or keys separated by commas.
func selectStrategies(arg string) ([]strategy, error) {
	if arg == "" || arg == "all" {
		return strategies, nil
	}
	var out []strategy
	for _, key := range strings.Split(arg, ",") {
		key = strings.TrimSpace(key)
		found := false
		for _, s := range strategies {
			if s.Key == key {
				out, found = append(out, s), true
			}
		}
		if !found {
			return nil, fmt.Errorf("-strategy %q: unknown strategy %q (want all, or some of %s)", arg, key, strategyKeys())
		}
	}
	return out, nil
}

func strategyKeys() string {
	keys := make([]string, len(strategies))
	for i, s := range strategies {
		keys[i] = s.Key
	}
	return strings.Join(keys, ", ")
}
