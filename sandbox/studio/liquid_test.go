package studio

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRender(t *testing.T) {
	vars := map[string]any{
		"trigger": map[string]any{"call": map[string]any{"From": "+15551230001", "CallSid": "CA1"}},
		"widgets": map[string]any{
			"menu": map[string]any{"Digits": "2"},
			"http": map[string]any{"status_code": 200, "parsed": map[string]any{
				"name": "Ada", "score": json.Number("4.5"), "vip": true,
				"items": []any{"a", map[string]any{"id": "x"}},
			}},
		},
		"flow": map[string]any{"flow_sid": "FW1", "variables": map[string]any{"lang": "en"}},
	}
	cases := []struct{ tpl, want string }{
		{"plain text", "plain text"},
		{"{{trigger.call.From}}", "+15551230001"},
		{"{{ trigger.call.From }}", "+15551230001"},
		{"Digits={{widgets.menu.Digits}}, flow={{flow.flow_sid}}", "Digits=2, flow=FW1"},
		{`{"from":"{{trigger.call.From}}"}`, `{"from":"+15551230001"}`},
		{"{{widgets.http.status_code}}", "200"},
		{"{{widgets.http.parsed.score}}", "4.5"},
		{"{{widgets.http.parsed.vip}}", "true"},
		{"{{widgets.http.parsed.items.0}}", "a"},
		{"{{widgets.http.parsed.items.1.id}}", "x"},
		{"{{widgets.http.parsed.items.7}}", ""},
		{"{{widgets.http.parsed.items}}", `["a",{"id":"x"}]`},
		{"[{{widgets.missing.Digits}}]", "[]"},
		{"{{trigger.call.From.deeper}}", ""},
		{"{{widgets.missing | default: 'none'}}", "none"},
		{`{{widgets.missing | default: "a|b"}}`, "a|b"},
		{"{{widgets.http.parsed.name | upcase}}", "ADA"},
		{"{{widgets.http.parsed.name | downcase | append: '!'}}", "ada!"},
		{"{{widgets.http.parsed.name | prepend: 'Dr. '}}", "Dr. Ada"},
		{"{{widgets.http.parsed.items | size}}", "2"},
		{"{{trigger.call.From | url_encode}}", "%2B15551230001"},
		{"{{ '  x ' | strip }}", "x"},
		{"{{widgets.http.parsed.name | no_such_filter}}", "Ada"},
		{"{{'literal'}}", "literal"},
		{"unclosed {{trigger.call.From", "unclosed {{trigger.call.From"},
		{"{% if x %}kept{% endif %}", "{% if x %}kept{% endif %}"},
		{"{{a}}{{b}}", ""},
		{"{% case widgets.menu.Digits %}{% when '1' %}sales{% when '2' %}support{% else %}general{% endcase %}", "support"},
		{"{% case widgets.missing %}{% when '1' %}sales{% else %}general{% endcase %}", "general"},
		{"{% case widgets.missing %}{% when '1' %}sales{% endcase %}", ""},
		{"[{%- case widgets.menu.Digits -%}{% when '1', '2' %}{{trigger.call.From}}{% endcase %}]", "[+15551230001]"},
		{"{% case widgets.menu.Digits %}{% when '3' or '2' %}a{% when '2' %}b{% endcase %}", "a"},
		{"{% case widgets.menu.Digits %}{% when '2' %}{% case flow.variables.lang %}{% when 'en' %}EN{% else %}X{% endcase %}{% else %}Y{% endcase %}", "EN"},
		{"{% case widgets.menu.Digits %}{% when '2' %}unclosed", "{% case widgets.menu.Digits %}{% when '2' %}unclosed"},
	}
	for _, tc := range cases {
		t.Run(tc.tpl, func(t *testing.T) {
			assert.Equal(t, tc.want, render(tc.tpl, vars))
		})
	}
}

func TestEvalCondition(t *testing.T) {
	cases := []struct {
		typ, subject, value string
		want                bool
		wantErr             bool
	}{
		{"equal_to", "2", "2", true, false},
		{"equal_to", "Yes", "yes", true, false},
		{"equal_to", " 2 ", "2", true, false},
		{"equal_to", "2", "3", false, false},
		{"not_equal_to", "2", "3", true, false},
		{"matches_any_of", "3", "1, 2,3", true, false},
		{"matches_any_of", "4", "1,2,3", false, false},
		{"does_not_match_any_of", "4", "1,2,3", true, false},
		{"is_blank", "  ", "", true, false},
		{"is_blank", "x", "", false, false},
		{"is_not_blank", "x", "", true, false},
		{"contains", "I want Sales", "sales", true, false},
		{"does_not_contain", "support", "sales", true, false},
		{"starts_with", "+1555", "+1", true, false},
		{"does_not_start_with", "+44", "+1", true, false},
		{"less_than", "9", "10", true, false},
		{"less_than", "abc", "10", false, false},
		{"greater_than", "10.5", "10", true, false},
		{"greater_than", "1", "10", false, false},
		{"regex", "12345", `^\d+$`, true, false},
		{"regex", "12a", `^\d+$`, false, false},
		{"regex", "x", `(`, false, true},
		{"is_before_time", "10:00", "11:00", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.typ+" "+tc.subject+" "+tc.value, func(t *testing.T) {
			got, err := evalCondition(tc.typ, tc.subject, tc.value)
			if tc.wantErr {
				assert.Error(t, err)
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}
