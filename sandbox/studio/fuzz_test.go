package studio

import (
	"encoding/json"
	"testing"
)

// The parsers face whatever a client sends: they must answer an error, never panic.

func FuzzParseDefinition(f *testing.F) {
	seed, _ := json.Marshal(ivrFlow())
	f.Add(string(seed))
	f.Add(`{"initial_state":"Trigger","states":[{"name":"Trigger","type":"trigger","transitions":[{"event":"incomingCall","next":"x"}]}]}`)
	f.Add(`{"states":[{"name":"a","transitions":[{"conditions":[{"value":null}]}]}]}`)
	f.Add(`[]`)
	f.Add(`{"states":null}`)
	f.Fuzz(func(t *testing.T, raw string) {
		echo, def, err := parseDefinition(raw)
		if err == nil && (echo == nil || def == nil) {
			t.Fatalf("accepted %q without a definition", raw)
		}
	})
}

func FuzzRender(f *testing.F) {
	f.Add("{{trigger.call.From | default: 'x' | upcase}}")
	f.Add("{{ | }}{{")
	f.Add("{{a.0.b | size | append: \"|\"}}}}")
	f.Add("{{'unterminated}}")
	vars := map[string]any{"trigger": map[string]any{"call": map[string]any{"From": "+1"}}, "a": []any{map[string]any{"b": "c"}}}
	f.Fuzz(func(t *testing.T, tpl string) {
		_ = render(tpl, vars)
	})
}
