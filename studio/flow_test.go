package studio

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func exampleParams() Params {
	return Params{
		WorkflowSID: "WW0123456789abcdef0123456789abcdef",
		Greeting:    "Thanks for calling.",
		Voice:       "Polly.Joanna",
		Language:    "en-US",
		Menu: &Menu{
			Prompt:  "For sales press 1, for support press 2.",
			Timeout: 5,
			Options: []MenuOption{
				{Digit: "1", Department: "sales"},
				{Digit: "2", Department: "support"},
			},
			DefaultDepartment: "general",
		},
		Timeout:                 600,
		WaitURL:                 "https://bridge.example.com/hold",
		VoicemailPrompt:         "Please leave a message.",
		VoicemailMaxLength:      120,
		RecordingStatusCallback: "https://bridge.example.com/voicemail",
	}
}

type renderedState struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Transitions []struct {
		Event string `json:"event"`
		Next  string `json:"next"`
	} `json:"transitions"`
	Properties map[string]any `json:"properties"`
}

func parseStates(t *testing.T, def json.RawMessage) (map[string]any, map[string]renderedState) {
	t.Helper()
	var top map[string]any
	require.NoError(t, json.Unmarshal(def, &top))
	var d struct {
		States []renderedState `json:"states"`
	}
	require.NoError(t, json.Unmarshal(def, &d))
	states := map[string]renderedState{}
	for _, s := range d.States {
		states[s.Name] = s
	}
	return top, states
}

func next(s renderedState, event string) (string, bool) {
	for _, t := range s.Transitions {
		if t.Event == event {
			return t.Next, true
		}
	}
	return "", false
}

func TestRenderWithMenu(t *testing.T) {
	def, err := Render(exampleParams())
	require.NoError(t, err)
	top, states := parseStates(t, def)

	assert.Equal(t, "Trigger", top["initial_state"])
	assert.Contains(t, top, "description")
	assert.Equal(t, map[string]any{"allow_concurrent_calls": true}, top["flags"])

	wantTypes := map[string]string{
		"Trigger": "trigger", "greeting": "say-play", "menu": "gather-input-on-call",
		"enqueue": "enqueue-call", "after_queue": "split-based-on",
		"voicemail_prompt": "say-play", "voicemail": "record-voicemail",
	}
	require.Len(t, states, len(wantTypes))
	for name, typ := range wantTypes {
		assert.Equal(t, typ, states[name].Type, name)
	}

	edges := []struct{ from, event, to string }{
		{"Trigger", "incomingCall", "greeting"},
		{"greeting", "audioComplete", "menu"},
		{"menu", "keypress", "enqueue"},
		{"menu", "timeout", "enqueue"},
		{"enqueue", "callComplete", "after_queue"},
		{"enqueue", "failedToEnqueue", "voicemail_prompt"},
		{"enqueue", "callFailure", "voicemail_prompt"},
		{"after_queue", "noMatch", "voicemail_prompt"},
		{"voicemail_prompt", "audioComplete", "voicemail"},
		{"voicemail", "recordingComplete", ""}, // the flow ends: Studio hangs up
	}
	for _, e := range edges {
		got, ok := next(states[e.from], e.event)
		assert.True(t, ok, "%s has no %s transition", e.from, e.event)
		assert.Equal(t, e.to, got, "%s --%s-->", e.from, e.event)
	}

	enq := states["enqueue"].Properties
	assert.Equal(t, "WW0123456789abcdef0123456789abcdef", enq["workflow_sid"])
	assert.EqualValues(t, 600, enq["timeout"])
	assert.Equal(t, "https://bridge.example.com/hold", enq["wait_url"])
	assert.Equal(t, "POST", enq["wait_url_method"])
	attrs, ok := enq["task_attributes"].(string)
	require.True(t, ok, "task_attributes must be a string")
	assert.LessOrEqual(t, len(attrs), MaxTaskAttributes)
	var parsed map[string]string
	require.NoError(t, json.Unmarshal([]byte(attrs), &parsed))
	assert.Equal(t, "{{trigger.call.From}}", parsed["from"])
	assert.Equal(t, "{{trigger.call.CallSid}}", parsed["call_sid"])
	assert.Equal(t, "{{widgets.menu.Digits}}", parsed["digits"])
	assert.Equal(t, "{% case widgets.menu.Digits %}{% when '1' %}sales{% when '2' %}support{% else %}general{% endcase %}", parsed["department"])

	assert.Equal(t, "For sales press 1, for support press 2.", states["menu"].Properties["say"])
	assert.EqualValues(t, 1, states["menu"].Properties["number_of_digits"])
	assert.Equal(t, "https://bridge.example.com/voicemail", states["voicemail"].Properties["recording_status_callback_url"])
	assert.EqualValues(t, 120, states["voicemail"].Properties["max_length"])
}

func TestRenderWithoutMenuGoesStraightToTheQueue(t *testing.T) {
	p := exampleParams()
	p.Menu = nil
	p.WaitURL = ""
	p.Timeout = 0
	def, err := Render(p)
	require.NoError(t, err)
	_, states := parseStates(t, def)
	assert.NotContains(t, states, "menu")
	got, _ := next(states["greeting"], "audioComplete")
	assert.Equal(t, "enqueue", got)
	enq := states["enqueue"].Properties
	assert.NotContains(t, enq, "wait_url")
	assert.NotContains(t, enq, "timeout")
	assert.NotContains(t, enq["task_attributes"], "department")
}

func TestRenderEscapesText(t *testing.T) {
	p := exampleParams()
	p.Greeting = `Say "hi" \ <there>`
	def, err := Render(p)
	require.NoError(t, err)
	_, states := parseStates(t, def)
	assert.Equal(t, `Say "hi" \ <there>`, states["greeting"].Properties["say"])
}

func TestRenderRejectsTooLongTaskAttributes(t *testing.T) {
	p := exampleParams()
	for i := 0; i < 12; i++ {
		p.Menu.Options = append(p.Menu.Options, MenuOption{Digit: "9", Department: strings.Repeat("x", 80)})
	}
	_, err := Render(p)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `state "enqueue": task_attributes is `)
	assert.Contains(t, err.Error(), "Studio allows 1024")
}

func TestRenderRejectsMissingWorkflowSID(t *testing.T) {
	p := exampleParams()
	p.WorkflowSID = ""
	_, err := Render(p)
	assert.EqualError(t, err, `state "enqueue": workflow_sid "": must be a workflow SID (WW…)`)
}

func TestValidate(t *testing.T) {
	trigger := `{"name":"Trigger","type":"trigger","transitions":[{"event":"incomingCall","next":"%s"}],"properties":{"offset":{"x":0,"y":0}}}`
	wrap := func(states ...string) json.RawMessage {
		return json.RawMessage(`{"description":"d","initial_state":"Trigger","flags":{},"states":[` + strings.Join(states, ",") + `]}`)
	}
	say := `{"name":"hello","type":"say-play","transitions":[{"event":"audioComplete"}],"properties":{"say":"hi","offset":{}}}`
	tests := []struct {
		name string
		def  json.RawMessage
		want string
	}{
		{"valid", wrap(strings.Replace(trigger, "%s", "hello", 1), say), ""},
		{"initial state not Trigger", json.RawMessage(`{"description":"d","initial_state":"Start","flags":{},"states":[` + strings.Replace(trigger, "%s", "", 1) + `]}`),
			"flow definition: initial_state \"Start\": must be \"Trigger\"\nflow definition: initial_state \"Start\": no such state\nstate \"Trigger\": unreachable from \"Start\""},
		{"missing description", json.RawMessage(`{"initial_state":"Trigger","flags":{},"states":[` + strings.Replace(trigger, "%s", "", 1) + `]}`),
			"flow definition: description is required"},
		{"dangling transition", wrap(strings.Replace(trigger, "%s", "nowhere", 1)),
			`state "Trigger": transition "incomingCall" goes to "nowhere": no such state`},
		{"unknown event", wrap(strings.Replace(trigger, "%s", "hello", 1), strings.Replace(say, "audioComplete", "done", 1)),
			`state "hello": transition event "done": not an event of say-play`},
		{"unknown widget", wrap(strings.Replace(trigger, "%s", "hello", 1), strings.Replace(say, "say-play", "run-function", 1)),
			`state "hello": widget type "run-function" is not one this flow may use`},
		{"unreachable", wrap(strings.Replace(trigger, "%s", "", 1), say),
			`state "hello": unreachable from "Trigger"`},
		{"duplicate", wrap(strings.Replace(trigger, "%s", "hello", 1), say, say),
			`state "hello": duplicate name`},
		{"say without text", wrap(strings.Replace(trigger, "%s", "hello", 1), strings.Replace(say, `"say":"hi",`, "", 1)),
			`state "hello": say or play is required`},
		{"no offset", wrap(strings.Replace(trigger, "%s", "hello", 1), strings.Replace(say, `,"offset":{}`, "", 1)),
			`state "hello": properties.offset is required`},
		{"enqueue with attributes", wrap(strings.Replace(trigger, "%s", "q", 1),
			`{"name":"q","type":"enqueue-call","transitions":[],"properties":{"workflow_sid":"WW1","attributes":"{}","offset":{}}}`),
			`state "q": enqueue-call takes task_attributes, not attributes`},
		{"task_attributes not a string", wrap(strings.Replace(trigger, "%s", "q", 1),
			`{"name":"q","type":"enqueue-call","transitions":[],"properties":{"workflow_sid":"WW1","task_attributes":{"a":1},"offset":{}}}`),
			`state "q": task_attributes must be a JSON string, not map[string]interface {}`},
		{"task_attributes not JSON", wrap(strings.Replace(trigger, "%s", "q", 1),
			`{"name":"q","type":"enqueue-call","transitions":[],"properties":{"workflow_sid":"WW1","task_attributes":"{from}","offset":{}}}`),
			`state "q": task_attributes "{from}": not a JSON object`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.def)
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tt.want)
		})
	}
}

func TestCommitMessageFingerprintsTheDefinition(t *testing.T) {
	a, err := Render(exampleParams())
	require.NoError(t, err)
	p := exampleParams()
	p.Greeting = "Hello."
	b, err := Render(p)
	require.NoError(t, err)
	assert.Equal(t, CommitMessage(a), CommitMessage(append(json.RawMessage(nil), a...)))
	assert.NotEqual(t, CommitMessage(a), CommitMessage(b))
	// Whitespace does not change the fingerprint: Studio may store the definition reformatted.
	assert.Equal(t, CommitMessage(json.RawMessage(`{"a": 1}`)), CommitMessage(json.RawMessage(`{"a":1}`)))
	assert.True(t, strings.HasPrefix(CommitMessage(a), "queuebridge bootstrap definition sha256:"))
}
