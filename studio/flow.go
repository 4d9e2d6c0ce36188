package studio

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"
)

//go:embed flow.json.tmpl
var flowTemplate string

// MaxTaskAttributes is Studio's limit on the Enqueue Call widget's task_attributes.
const MaxTaskAttributes = 1024

// Params are what the flow is rendered with.
type Params struct {
	Description string
	// WorkflowSID is the TaskRouter workflow the caller is enqueued to (WW…).
	WorkflowSID string
	Greeting    string
	Voice       string
	Language    string
	// Menu is optional: without it the caller goes straight to the queue.
	Menu *Menu
	// Priority and Timeout (the task TTL, seconds) of the task; 0 leaves Studio's defaults.
	Priority int
	Timeout  int
	// WaitURL is the hold-music TwiML URL (POST); empty plays Twilio's default.
	WaitURL            string
	VoicemailPrompt    string
	VoicemailMaxLength int
	// RecordingStatusCallback is told when a voicemail recording is ready (POST), if set.
	RecordingStatusCallback string
	// TranscriptionCallback, when set, has Twilio transcribe the voicemail and post the text there.
	TranscriptionCallback string
	// Hours, when set, checks the opening hours before the greeting.
	Hours *Hours
}

// Hours is the opening-hours check: a Make HTTP Request to URL (POST, form), whose JSON answer's
// "open" decides; a closed caller hears ClosedMessage and records a voicemail, before any task
// exists. Only "open": false closes: a failed request or any other answer lets the caller in
// (the queue is the safe side).
type Hours struct {
	URL           string
	ClosedMessage string
}

// Menu asks for one key; the key picks the task's department attribute.
type Menu struct {
	Prompt            string
	Timeout           int
	Options           []MenuOption
	DefaultDepartment string
}

// MenuOption maps a key to a department.
type MenuOption struct {
	Digit      string
	Department string
}

// Render builds the flow definition and checks it with Validate, so what it returns is ready
// for FlowAPI.CreateFlow.
func Render(p Params) (json.RawMessage, error) {
	tmpl, err := template.New("flow").Delims("[[", "]]").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}).Parse(flowTemplate)
	if err != nil {
		return nil, fmt.Errorf("parse flow template: %w", err)
	}
	if p.Description == "" {
		p.Description = "queuebridge IVR"
	}
	data := struct {
		Params
		TaskAttributes string
	}{p, TaskAttributes(p.Menu)}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("render flow: %w", err)
	}
	// Compact, so the definition and its fingerprint do not depend on the template's layout.
	var out bytes.Buffer
	if err := json.Compact(&out, buf.Bytes()); err != nil {
		return nil, fmt.Errorf("rendered flow is not JSON: %w", err)
	}
	def := json.RawMessage(out.Bytes())
	if err := Validate(def); err != nil {
		return nil, err
	}
	return def, nil
}

// TaskAttributes is the Enqueue Call widget's task_attributes: a JSON object whose values are
// Liquid that Studio fills in per call. The department comes from the menu key through a Liquid
// case tag (single-quoted, so the attributes stay valid JSON); digits keeps the raw key too.
func TaskAttributes(m *Menu) string {
	var b strings.Builder
	b.WriteString(`{"type":"inbound_call","from":"{{trigger.call.From}}","to":"{{trigger.call.To}}","call_sid":"{{trigger.call.CallSid}}"`)
	if m != nil {
		b.WriteString(`,"digits":"{{widgets.menu.Digits}}","department":"` + DepartmentLiquid(m, func(s string) string { return s }) + `"`)
	}
	b.WriteString("}")
	return b.String()
}

// DepartmentLiquid is the Liquid that Studio renders into the caller's department: a case tag
// on the menu key, each department passed through escape (identity for JSON, a URL query
// escape for a URL); "" without a menu.
func DepartmentLiquid(m *Menu, escape func(string) string) string {
	if m == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString(`{% case widgets.menu.Digits %}`)
	for _, o := range m.Options {
		fmt.Fprintf(&b, `{%% when '%s' %%}%s`, o.Digit, escape(o.Department))
	}
	fmt.Fprintf(&b, `{%% else %%}%s{%% endcase %%}`, escape(m.DefaultDepartment))
	return b.String()
}

// CommitMessage is the commit message a deployment of def carries. It ends with a fingerprint
// of the definition: Studio may reformat a definition it stores, so comparing fingerprints is
// how a second apply knows the published flow is already this one.
func CommitMessage(def json.RawMessage) string {
	var buf bytes.Buffer
	if err := json.Compact(&buf, def); err != nil {
		buf.Reset()
		buf.Write(def)
	}
	sum := sha256.Sum256(buf.Bytes())
	return "queuebridge bootstrap definition sha256:" + hex.EncodeToString(sum[:8])
}

// transitionEvents lists, per widget type the flow may use, the transition events Studio knows.
var transitionEvents = map[string][]string{
	"trigger":              {"incomingMessage", "incomingCall", "incomingConversationMessage", "incomingRequest", "incomingParent"},
	"say-play":             {"audioComplete"},
	"gather-input-on-call": {"keypress", "speech", "timeout"},
	"enqueue-call":         {"callComplete", "failedToEnqueue", "callFailure"},
	"split-based-on":       {"noMatch", "match"},
	"record-voicemail":     {"recordingComplete", "noAudio", "hangup"},
	"make-http-request":    {"success", "failed"},
}

type flowDefinition struct {
	Description  *string        `json:"description"`
	InitialState string         `json:"initial_state"`
	Flags        map[string]any `json:"flags"`
	States       []flowState    `json:"states"`
}

type flowState struct {
	Name        string           `json:"name"`
	Type        string           `json:"type"`
	Transitions []flowTransition `json:"transitions"`
	Properties  map[string]any   `json:"properties"`
}

type flowTransition struct {
	Event      string           `json:"event"`
	Next       string           `json:"next"`
	Conditions []map[string]any `json:"conditions"`
}

// Validate checks a definition against Studio's flow rules (TWILIO.md): the top-level keys, an
// initial trigger, unique state names, known widget types and transition events, transitions to
// states that exist, every state reachable, the Enqueue Call widget's workflow_sid and its
// task_attributes (a JSON string of at most 1024 characters). It returns every problem found.
func Validate(def json.RawMessage) error {
	var d flowDefinition
	if err := json.Unmarshal(def, &d); err != nil {
		return fmt.Errorf("flow definition: %w", err)
	}
	var errs []error
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	validateTop(d, fail)
	byName := statesByName(d, fail)
	for _, s := range d.States {
		validateState(s, byName, fail)
	}
	validateReachable(d, byName, fail)
	return errors.Join(errs...)
}

// validateTop checks the definition's top-level keys.
func validateTop(d flowDefinition, fail func(string, ...any)) {
	if d.Description == nil {
		fail("flow definition: description is required")
	}
	if d.Flags == nil {
		fail("flow definition: flags is required")
	}
	if d.InitialState != "Trigger" {
		fail("flow definition: initial_state %q: must be \"Trigger\"", d.InitialState)
	}
	if len(d.States) == 0 {
		fail("flow definition: states: at least one state is required")
	}
}

// statesByName indexes the states, reporting nameless and duplicate ones and an initial state
// that is missing or not a trigger.
func statesByName(d flowDefinition, fail func(string, ...any)) map[string]flowState {
	byName := map[string]flowState{}
	for i, s := range d.States {
		if s.Name == "" {
			fail("state %d: name is required", i)
			continue
		}
		if _, dup := byName[s.Name]; dup {
			fail("state %q: duplicate name", s.Name)
		}
		byName[s.Name] = s
	}
	if t, ok := byName[d.InitialState]; ok && t.Type != "trigger" {
		fail("state %q: the initial state must be a trigger, not %q", t.Name, t.Type)
	} else if !ok && d.InitialState != "" {
		fail("flow definition: initial_state %q: no such state", d.InitialState)
	}
	return byName
}

// validateState checks one widget: its type, offset, transitions and required properties.
func validateState(s flowState, byName map[string]flowState, fail func(string, ...any)) {
	events, known := transitionEvents[s.Type]
	if !known {
		fail("state %q: widget type %q is not one this flow may use", s.Name, s.Type)
	}
	if _, ok := s.Properties["offset"]; !ok {
		fail("state %q: properties.offset is required", s.Name)
	}
	for _, t := range s.Transitions {
		if known && !slices.Contains(events, t.Event) {
			fail("state %q: transition event %q: not an event of %s", s.Name, t.Event, s.Type)
		}
		if _, ok := byName[t.Next]; t.Next != "" && !ok {
			fail("state %q: transition %q goes to %q: no such state", s.Name, t.Event, t.Next)
		}
		if t.Event == "match" && len(t.Conditions) == 0 {
			fail("state %q: a match transition needs conditions", s.Name)
		}
	}
	switch s.Type {
	case "say-play", "gather-input-on-call":
		if str(s.Properties["say"]) == "" && str(s.Properties["play"]) == "" {
			fail("state %q: say or play is required", s.Name)
		}
	case "split-based-on":
		if str(s.Properties["input"]) == "" {
			fail("state %q: input is required", s.Name)
		}
	case "enqueue-call":
		validateEnqueue(s, fail)
	case "make-http-request":
		if str(s.Properties["url"]) == "" || str(s.Properties["method"]) == "" {
			fail("state %q: method and url are required", s.Name)
		}
	}
}

// validateReachable reports states the trigger cannot reach: an unreachable one is a wiring
// mistake.
func validateReachable(d flowDefinition, byName map[string]flowState, fail func(string, ...any)) {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(name string) {
		s, ok := byName[name]
		if !ok || seen[name] {
			return
		}
		seen[name] = true
		for _, t := range s.Transitions {
			walk(t.Next)
		}
	}
	walk(d.InitialState)
	for _, s := range d.States {
		if s.Name != "" && !seen[s.Name] {
			fail("state %q: unreachable from %q", s.Name, d.InitialState)
		}
	}
}

func validateEnqueue(s flowState, fail func(string, ...any)) {
	if _, ok := s.Properties["attributes"]; ok {
		fail("state %q: enqueue-call takes task_attributes, not attributes", s.Name)
	}
	if sid := str(s.Properties["workflow_sid"]); !strings.HasPrefix(sid, "WW") {
		fail("state %q: workflow_sid %q: must be a workflow SID (WW…)", s.Name, sid)
	}
	raw, present := s.Properties["task_attributes"]
	attrs, isString := raw.(string)
	switch {
	case !present:
		return
	case !isString:
		fail("state %q: task_attributes must be a JSON string, not %T", s.Name, raw)
	case len(attrs) > MaxTaskAttributes:
		fail("state %q: task_attributes is %d characters, Studio allows %d", s.Name, len(attrs), MaxTaskAttributes)
	case !json.Valid([]byte(attrs)):
		fail("state %q: task_attributes %q: not a JSON object", s.Name, attrs)
	}
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
