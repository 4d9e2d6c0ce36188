package studio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"queuebridge/sandbox/internal/twilioapi"
)

// Definition is a Studio flow definition: {description, states[], initial_state, flags}.
type Definition struct {
	Description  string         `json:"description"`
	States       []State        `json:"states"`
	InitialState string         `json:"initial_state"`
	Flags        map[string]any `json:"flags,omitempty"`
}

// State is one widget of a flow.
type State struct {
	Name        string         `json:"name"`
	Type        string         `json:"type"`
	Transitions []Transition   `json:"transitions"`
	Properties  map[string]any `json:"properties"`
}

// Transition leads from a widget to the next one on an event. A split-based-on "match"
// transition carries the conditions that must all hold.
type Transition struct {
	Event      string      `json:"event"`
	Next       string      `json:"next"`
	Conditions []Condition `json:"conditions,omitempty"`
}

// Condition is one test of a split-based-on transition: Type applied to the rendered first
// argument (the widget's input when there is none) and the rendered Value.
type Condition struct {
	FriendlyName string     `json:"friendly_name"`
	Arguments    []string   `json:"arguments"`
	Type         string     `json:"type"`
	Value        flexString `json:"value"`
}

// flexString accepts the JSON string, number or boolean Studio's editor may write for a value.
type flexString string

func (f *flexString) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		*f = flexString(s)
		return nil
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return fmt.Errorf("condition value: %w", err)
	}
	switch v.(type) {
	case nil:
		*f = ""
	case float64, bool:
		*f = flexString(bytes.TrimSpace(data))
	default:
		return fmt.Errorf("condition value must be a string, got %s", data)
	}
	return nil
}

// state finds a widget by name.
func (d *Definition) state(name string) (*State, bool) {
	for i := range d.States {
		if d.States[i].Name == name {
			return &d.States[i], true
		}
	}
	return nil, false
}

// next is where the first transition on event leads ("" when none, which ends the execution).
func (s *State) next(event string) string {
	for _, t := range s.Transitions {
		if t.Event == event {
			return t.Next
		}
	}
	return ""
}

// prop reads a property as text: Studio writes numbers both as JSON numbers and as strings.
func (s *State) prop(name string) string {
	return stringify(s.Properties[name])
}

// widgetSpec is what the sandbox knows of a widget type: the events its transitions may name,
// the properties it cannot run without, and whether the sandbox executes it.
type widgetSpec struct {
	events   []string
	required [][]string // each entry: at least one of these properties must be set
	runs     bool
}

// widgetSpecFor describes the widget types. Types Twilio has but the sandbox does not execute
// are accepted in definitions (a flow using them can be stored, as in Twilio) and fail the
// execution that reaches them; types Twilio does not have are rejected when the flow is saved.
func widgetSpecFor(typ string) (widgetSpec, bool) {
	switch typ {
	case "trigger":
		return widgetSpec{events: []string{"incomingMessage", "incomingCall", "incomingConversationMessage", "incomingRequest", "incomingParent"}, runs: true}, true
	case "say-play":
		return widgetSpec{events: []string{"audioComplete"}, required: [][]string{{"say", "play", "digits"}}, runs: true}, true
	case "gather-input-on-call":
		return widgetSpec{events: []string{"keypress", "speech", "timeout"}, runs: true}, true
	case "split-based-on":
		return widgetSpec{events: []string{"noMatch", "match"}, required: [][]string{{"input"}}, runs: true}, true
	case "enqueue-call":
		return widgetSpec{events: []string{"callComplete", "failedToEnqueue", "callFailure"}, required: [][]string{{"workflow_sid", "queue_name"}}, runs: true}, true
	case "record-voicemail":
		return widgetSpec{events: []string{"recordingComplete", "noAudio", "hangup"}, runs: true}, true
	case "make-http-request":
		return widgetSpec{events: []string{"success", "failed"}, required: [][]string{{"url"}, {"method"}}, runs: true}, true
	case "set-variables":
		return widgetSpec{events: []string{"next"}, runs: true}, true
	case "send-message", "send-and-wait-for-reply", "run-function", "connect-call-to",
		"add-twiml-redirect", "send-to-flex", "record-call", "capture-payments", "fork-stream",
		"connect-virtual-agent", "set-variables-v2", "send-to-auto-pilot", "enqueue-call-v2":
		return widgetSpec{}, true
	}
	return widgetSpec{}, false
}

// parseDefinition decodes the Definition parameter and validates it as Studio does when a flow
// is saved. It returns the definition as given (to echo back) and its parsed form. Every problem
// is reported in one Twilio 81022 error whose message names them all and whose details list
// each with its property path, as Studio's API does.
func parseDefinition(raw string) (any, *Definition, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil, twilioapi.MissingParam("Definition")
	}
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var echo any
	if err := dec.Decode(&echo); err != nil {
		return nil, nil, invalidDefinition(problem{"Definition is not valid JSON: " + err.Error(), "#"})
	}
	switch echo.(type) {
	case map[string]any:
	case string:
		// twilio-go's SetDefinition JSON-encodes its argument: a string arrives double-encoded.
		return nil, nil, invalidDefinition(problem{"Definition must be a JSON object, got a JSON string (pass a map or json.RawMessage to SetDefinition)", "#"})
	default:
		return nil, nil, invalidDefinition(problem{"Definition must be a JSON object", "#"})
	}
	var def Definition
	if err := json.Unmarshal([]byte(raw), &def); err != nil {
		return nil, nil, invalidDefinition(problem{err.Error(), "#"})
	}
	if problems := def.validate(); len(problems) > 0 {
		return nil, nil, invalidDefinition(problems...)
	}
	return echo, &def, nil
}

// problem is one reason a definition cannot be saved.
type problem struct {
	Message      string `json:"message"`
	PropertyPath string `json:"property_path"`
}

// definitionError is Twilio's error 81022 "Flow definition validation failed" ("The Flow
// Definition is invalid. Check the error response details for an array of validation
// failures": https://www.twilio.com/docs/api/errors/81022), with the problems listed under
// details.errors. Its HTTP status is not documented: 400, as Twilio answers invalid parameters.
type definitionError struct {
	problems []problem
}

// definitionErrorCode is Studio's "Flow definition validation failed".
const definitionErrorCode = 81022

func invalidDefinition(problems ...problem) error { return &definitionError{problems: problems} }

func (e *definitionError) Error() string {
	msgs := make([]string, len(e.problems))
	for i, p := range e.problems {
		msgs[i] = p.Message
	}
	return "Flow definition validation failed: " + strings.Join(msgs, "; ")
}

// writeError answers err in Twilio's error format, with details for an invalid definition.
func writeError(w http.ResponseWriter, err error) {
	var de *definitionError
	if !errors.As(err, &de) {
		twilioapi.WriteError(w, err)
		return
	}
	twilioapi.WriteJSON(w, http.StatusBadRequest, map[string]any{
		"code":      definitionErrorCode,
		"message":   de.Error(),
		"more_info": "https://www.twilio.com/docs/errors/81022",
		"status":    http.StatusBadRequest,
		"details":   map[string]any{"errors": de.problems},
	})
}

// validate lists what keeps the definition from being saved.
func (d *Definition) validate() []problem {
	var problems []problem
	add := func(path, format string, args ...any) {
		problems = append(problems, problem{fmt.Sprintf(format, args...), path})
	}
	if len(d.States) == 0 {
		add("#/states", "states must be a non-empty array")
	}
	if d.InitialState != "Trigger" {
		add("#/initial_state", "initial_state must be \"Trigger\", got %q", d.InitialState)
	}
	seen := map[string]bool{}
	triggers := 0
	for i, s := range d.States {
		at := fmt.Sprintf("#/states/%d", i)
		label := fmt.Sprintf("state %q (%s)", s.Name, s.Type)
		if s.Name == "" {
			add(at+"/name", "states[%d] has no name", i)
			continue
		}
		if seen[s.Name] {
			add(at+"/name", "state name %q is used twice", s.Name)
		}
		seen[s.Name] = true
		spec, known := widgetSpecFor(s.Type)
		if !known {
			add(at+"/type", "state %q has unknown widget type %q", s.Name, s.Type)
			continue
		}
		if s.Type == "trigger" {
			triggers++
			if s.Name != d.InitialState {
				add(at+"/name", "%s must be named after initial_state %q", label, d.InitialState)
			}
		}
		for _, oneOf := range spec.required {
			if !slices.ContainsFunc(oneOf, func(p string) bool { return s.prop(p) != "" }) {
				add(at+"/properties/"+oneOf[0], "%s is missing required property %s", label, strings.Join(oneOf, " or "))
			}
		}
		problems = append(problems, s.validateProperties(at, label)...)
		for j, t := range s.Transitions {
			tat := fmt.Sprintf("%s/transitions/%d", at, j)
			if spec.runs && !slices.Contains(spec.events, t.Event) {
				add(tat+"/event", "%s has a transition on unknown event %q (expected one of %s)", label, t.Event, strings.Join(spec.events, ", "))
			}
			if t.Next != "" && !d.hasState(t.Next) {
				add(tat+"/next", "%s: transition %q points to unknown state %q", label, t.Event, t.Next)
			}
			for k, c := range t.Conditions {
				if !conditionKnown(c.Type) {
					add(fmt.Sprintf("%s/conditions/%d/type", tat, k), "%s: condition %q has unknown type %q", label, c.FriendlyName, c.Type)
				}
			}
		}
	}
	if triggers == 0 && len(d.States) > 0 {
		add("#/states", "no state of type \"trigger\"")
	}
	if triggers > 1 {
		add("#/states", "more than one state of type \"trigger\"")
	}
	return problems
}

func (d *Definition) hasState(name string) bool {
	_, ok := d.state(name)
	return ok
}

// validateProperties checks the properties whose values the sandbox would otherwise trip on at
// run time: numbers must be numbers unless they are Liquid templates.
func (s *State) validateProperties(at, label string) []problem {
	var problems []problem
	numeric := map[string][]string{
		"say-play":             {"loop"},
		"gather-input-on-call": {"timeout", "number_of_digits", "loop"},
		"enqueue-call":         {"priority", "timeout"},
		"record-voicemail":     {"timeout", "max_length"},
	}[s.Type]
	for _, p := range numeric {
		v := s.prop(p)
		if v == "" || strings.Contains(v, "{{") {
			continue
		}
		if _, err := strconv.Atoi(v); err != nil {
			problems = append(problems, problem{fmt.Sprintf("%s: property %s must be an integer, got %q", label, p, v), at + "/properties/" + p})
		}
	}
	if s.Type == "enqueue-call" {
		if attrs := s.prop("task_attributes"); len(attrs) > 1024 {
			problems = append(problems, problem{label + ": task_attributes is longer than 1024 characters", at + "/properties/task_attributes"})
		}
	}
	if s.Type == "make-http-request" {
		switch m := strings.ToUpper(s.prop("method")); m {
		case "", "GET", "POST", "PUT", "DELETE", "PATCH":
		default:
			problems = append(problems, problem{fmt.Sprintf("%s: unsupported method %q", label, m), at + "/properties/method"})
		}
	}
	return problems
}
