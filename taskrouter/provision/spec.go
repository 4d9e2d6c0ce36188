package provision

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"queuebridge/handlers"
	"queuebridge/taskrouter"
)

// ExampleSpec is the commented example spec. It is exported because the bridge's sandbox mode
// provisions the sandbox with it, so the demo and the documentation describe the same account.
//
//go:embed queuebridge.example.yaml
var ExampleSpec []byte

// Spec is the declarative description of everything queuebridge needs on the Twilio side.
// Resources are identified by their friendly names: the spec owns what carries its names.
type Spec struct {
	Workspace  SpecWorkspace  `yaml:"workspace" json:"workspace"`
	Activities []SpecActivity `yaml:"activities" json:"activities"`
	Queues     []SpecQueue    `yaml:"queues" json:"queues"`
	Workers    []SpecWorker   `yaml:"workers" json:"workers"`
	Workflow   SpecWorkflow   `yaml:"workflow" json:"workflow"`
	Flow       SpecFlow       `yaml:"flow" json:"flow"`
	Numbers    []SpecNumber   `yaml:"numbers" json:"numbers"`
}

// SpecWorkspace is the TaskRouter workspace. Its event callback URL is not in the spec: it is
// always the bridge's events URL under PUBLIC_BASE_URL, so the spec cannot disagree with the bridge's routes.
type SpecWorkspace struct {
	Name string `yaml:"name" json:"name"`
	// Events is the workspace's EventsFilter; empty means taskrouter.HandledEvents().
	Events []string `yaml:"events" json:"events"`
	// TimeoutActivity is where TaskRouter moves a worker whose reservation timed out.
	TimeoutActivity string `yaml:"timeout_activity" json:"timeout_activity"`
	// DefaultActivity is the activity of workers created without one (optional).
	DefaultActivity string `yaml:"default_activity" json:"default_activity"`
}

// SpecActivity is a worker activity. Available cannot be changed once the activity exists.
type SpecActivity struct {
	Name      string `yaml:"name" json:"name"`
	Available bool   `yaml:"available" json:"available"`
}

// SpecQueue is a task queue.
type SpecQueue struct {
	Name string `yaml:"name" json:"name"`
	// TargetWorkers is the worker expression; empty means "1==1" (every worker).
	TargetWorkers string `yaml:"target_workers" json:"target_workers"`
	// MaxReservedWorkers is 1–50; 0 means 1.
	MaxReservedWorkers int `yaml:"max_reserved_workers" json:"max_reserved_workers"`
}

// SpecWorker is an agent. ContactURI and Skills end up in the worker's attributes, where the
// bridge (contact_uri) and the queues' target expressions (skills) read them.
type SpecWorker struct {
	Name       string         `yaml:"name" json:"name"`
	ContactURI string         `yaml:"contact_uri" json:"contact_uri"`
	Skills     []string       `yaml:"skills" json:"skills"`
	Attributes map[string]any `yaml:"attributes" json:"attributes"`
	// Activity is the worker's activity when created; an existing worker's activity is its
	// live state and is never changed by apply.
	Activity string `yaml:"activity" json:"activity"`
}

// SpecWorkflow routes tasks to queues.
type SpecWorkflow struct {
	Name    string             `yaml:"name" json:"name"`
	Filters []SpecWorkflowRule `yaml:"filters" json:"filters"`
	// DefaultQueue receives the tasks no filter matched.
	DefaultQueue string `yaml:"default_queue" json:"default_queue"`
	// ReservationTimeout in seconds; 0 derives it from the ring and AMD timeouts plus
	// SpecReservationMargin, so the agent's phone can ring out and AMD decide before TaskRouter
	// gives up on the reservation.
	ReservationTimeout int `yaml:"reservation_timeout" json:"reservation_timeout"`
}

// SpecWorkflowRule is one filter of the workflow: the first whose expression matches the task
// wins, and its targets are tried in order.
type SpecWorkflowRule struct {
	Name       string       `yaml:"name" json:"name"`
	Expression string       `yaml:"expression" json:"expression"`
	Targets    []SpecTarget `yaml:"targets" json:"targets"`
}

// SpecTarget is a queue a filter tries, for at most Timeout seconds (0: no timeout).
type SpecTarget struct {
	Queue      string `yaml:"queue" json:"queue"`
	Expression string `yaml:"expression" json:"expression"`
	Priority   int    `yaml:"priority" json:"priority"`
	Timeout    int    `yaml:"timeout" json:"timeout"`
}

// SpecFlow is the Studio IVR: greeting, optional menu, enqueue to the workflow, voicemail when
// the caller leaves the queue unanswered.
type SpecFlow struct {
	Name      string        `yaml:"name" json:"name"`
	Greeting  string        `yaml:"greeting" json:"greeting"`
	Voice     string        `yaml:"voice" json:"voice"`
	Language  string        `yaml:"language" json:"language"`
	Menu      *SpecMenu     `yaml:"menu" json:"menu"`
	Enqueue   SpecEnqueue   `yaml:"enqueue" json:"enqueue"`
	Voicemail SpecVoicemail `yaml:"voicemail" json:"voicemail"`
}

// SpecMenu asks the caller for one digit; the digit picks the task's department attribute.
type SpecMenu struct {
	Prompt string `yaml:"prompt" json:"prompt"`
	// Timeout in seconds to wait for the digit; 0 means 5.
	Timeout           int              `yaml:"timeout" json:"timeout"`
	Options           []SpecMenuOption `yaml:"options" json:"options"`
	DefaultDepartment string           `yaml:"default_department" json:"default_department"`
}

// SpecMenuOption maps a key press to a department.
type SpecMenuOption struct {
	Digit      string `yaml:"digit" json:"digit"`
	Department string `yaml:"department" json:"department"`
}

// SpecEnqueue tunes the Enqueue Call widget.
type SpecEnqueue struct {
	Priority int `yaml:"priority" json:"priority"`
	// Timeout is the task's TTL in seconds (0: TaskRouter's default).
	Timeout int `yaml:"timeout" json:"timeout"`
	// WaitURL is the hold-music TwiML; a path is resolved against PUBLIC_BASE_URL.
	WaitURL string `yaml:"wait_url" json:"wait_url"`
}

// SpecVoicemail is the fallback after the queue: a prompt, then a recording.
type SpecVoicemail struct {
	Prompt string `yaml:"prompt" json:"prompt"`
	// MaxLength of the recording in seconds; 0 means 120.
	MaxLength int `yaml:"max_length" json:"max_length"`
	// RecordingStatusCallback is told when the recording is ready; a path is resolved
	// against PUBLIC_BASE_URL.
	RecordingStatusCallback string `yaml:"recording_status_callback" json:"recording_status_callback"`
}

// SpecNumber is a phone number already in the account, whose voice URL is pointed at the flow.
type SpecNumber struct {
	PhoneNumber string `yaml:"phone_number" json:"phone_number"`
}

// SpecSettings are the values the spec is resolved with; they come from the environment.
type SpecSettings struct {
	// PublicBaseURL is where Twilio reaches the bridge (PUBLIC_BASE_URL).
	PublicBaseURL string
	// RingTimeout and AMDTimeout are the bridge's agent-leg timeouts (RING_TIMEOUT, AMD_TIMEOUT).
	RingTimeout time.Duration
	AMDTimeout  time.Duration
}

// SpecReservationMargin covers what ring + AMD do not: creating the call, the answer webhook
// and the dequeue. The reservation must still be pending when <Dial><Queue> accepts it.
const SpecReservationMargin = 15 * time.Second

// LoadSpec parses a spec in YAML or JSON (JSON is YAML too) and fills in defaults. Unknown keys
// are errors, so a typo does not silently drop a setting. Call Validate before using it.
func LoadSpec(data []byte) (*Spec, error) {
	var s Spec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); errors.Is(err, io.EOF) {
		return nil, errors.New("parse spec: the spec is empty")
	} else if err != nil {
		return nil, fmt.Errorf("parse spec: %w", err)
	}
	s.applyDefaults()
	return &s, nil
}

func (s *Spec) applyDefaults() {
	if len(s.Workspace.Events) == 0 {
		s.Workspace.Events = taskrouter.HandledEvents()
	}
	for i := range s.Queues {
		if s.Queues[i].TargetWorkers == "" {
			s.Queues[i].TargetWorkers = "1==1"
		}
		if s.Queues[i].MaxReservedWorkers == 0 {
			s.Queues[i].MaxReservedWorkers = 1
		}
	}
	if m := s.Flow.Menu; m != nil && m.Timeout == 0 {
		m.Timeout = 5
	}
	if s.Flow.Voicemail.MaxLength == 0 {
		s.Flow.Voicemail.MaxLength = 120
	}
}

// SpecError is one problem in a spec: the field (a path such as workers[1].contact_uri), the
// value found there, and what is wrong with it.
type SpecError struct {
	Field   string
	Value   string
	Problem string
}

func (e SpecError) Error() string {
	return fmt.Sprintf("%s %q: %s", e.Field, e.Value, e.Problem)
}

// SpecErrors is every problem Validate found, in spec order, so one run shows them all.
type SpecErrors []SpecError

func (es SpecErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return "invalid spec:\n  " + strings.Join(lines, "\n  ")
}

var (
	specE164Pattern = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)
	// Not #: the menu's finish_on_key, which submits the input and never reaches Digits, so a
	// # option could never be chosen.
	specDigitPattern = regexp.MustCompile(`^[0-9*]$`)
)

// ReservationTimeout is the workflow's reservation timeout in seconds: the spec's, or ring +
// AMD + SpecReservationMargin rounded up.
func (s *Spec) ReservationTimeout(set SpecSettings) int {
	if s.Workflow.ReservationTimeout > 0 {
		return s.Workflow.ReservationTimeout
	}
	return specMinReservationTimeout(set)
}

func specMinReservationTimeout(set SpecSettings) int {
	d := set.RingTimeout + set.AMDTimeout + SpecReservationMargin
	return int((d + time.Second - 1) / time.Second)
}

// Validate checks the spec against itself and the settings. It returns SpecErrors holding every
// problem, or nil.
func (s *Spec) Validate(set SpecSettings) error {
	var errs SpecErrors
	add := func(field, value, problem string, args ...any) {
		errs = append(errs, SpecError{Field: field, Value: value, Problem: fmt.Sprintf(problem, args...)})
	}

	if u, err := url.Parse(set.PublicBaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		add("PUBLIC_BASE_URL", set.PublicBaseURL, "must be an absolute http(s) URL (where Twilio reaches the bridge)")
	}
	if set.RingTimeout <= 0 {
		add("RING_TIMEOUT", set.RingTimeout.String(), "must be positive")
	}
	if set.AMDTimeout <= 0 {
		add("AMD_TIMEOUT", set.AMDTimeout.String(), "must be positive")
	}

	ws := s.Workspace
	if strings.TrimSpace(ws.Name) == "" {
		add("workspace.name", ws.Name, "is required")
	}
	for _, ev := range taskrouter.HandledEvents() {
		if !slices.Contains(ws.Events, ev) {
			add("workspace.events", strings.Join(ws.Events, ","), "misses %q, which the bridge needs", ev)
		}
	}

	activities := map[string]bool{}
	for i, a := range s.Activities {
		field := fmt.Sprintf("activities[%d].name", i)
		switch {
		case strings.TrimSpace(a.Name) == "":
			add(field, a.Name, "is required")
		case activities[a.Name]:
			add(field, a.Name, "duplicate activity name")
		}
		activities[a.Name] = true
	}
	checkActivity := func(field, name string, required bool) {
		if name == "" {
			if required {
				add(field, name, "is required")
			}
			return
		}
		if !activities[name] {
			add(field, name, "no such activity in activities")
		}
	}
	checkActivity("workspace.timeout_activity", ws.TimeoutActivity, true)
	checkActivity("workspace.default_activity", ws.DefaultActivity, false)

	queues := map[string]bool{}
	for i, q := range s.Queues {
		field := fmt.Sprintf("queues[%d]", i)
		switch {
		case strings.TrimSpace(q.Name) == "":
			add(field+".name", q.Name, "is required")
		case queues[q.Name]:
			add(field+".name", q.Name, "duplicate queue name")
		}
		queues[q.Name] = true
		if q.MaxReservedWorkers < 1 || q.MaxReservedWorkers > 50 {
			add(field+".max_reserved_workers", fmt.Sprint(q.MaxReservedWorkers), "must be between 1 and 50")
		}
	}

	workers := map[string]bool{}
	for i, w := range s.Workers {
		field := fmt.Sprintf("workers[%d]", i)
		// TaskRouter's worker names are case-insensitive.
		key := strings.ToLower(w.Name)
		switch {
		case strings.TrimSpace(w.Name) == "":
			add(field+".name", w.Name, "is required")
		case workers[key]:
			add(field+".name", w.Name, "duplicate worker name (names are case-insensitive)")
		}
		workers[key] = true
		switch {
		case w.ContactURI == "":
			add(field+".contact_uri", w.ContactURI, "is required: the number or SIP URI the bridge rings for worker %q", w.Name)
		case strings.HasPrefix(w.ContactURI, "sip:") || strings.HasPrefix(w.ContactURI, "client:"):
		case !specE164Pattern.MatchString(w.ContactURI):
			add(field+".contact_uri", w.ContactURI, "is not an E.164 number (+ and up to 15 digits) nor a sip: or client: URI")
		}
		if _, ok := w.Attributes["contact_uri"]; ok {
			add(field+".attributes.contact_uri", fmt.Sprint(w.Attributes["contact_uri"]), "set contact_uri on the worker, not in attributes")
		}
		if _, ok := w.Attributes["skills"]; ok && len(w.Skills) > 0 {
			add(field+".attributes.skills", fmt.Sprint(w.Attributes["skills"]), "skills are set twice: keep the worker's skills list")
		}
		checkActivity(field+".activity", w.Activity, false)
	}

	wf := s.Workflow
	if strings.TrimSpace(wf.Name) == "" {
		add("workflow.name", wf.Name, "is required")
	}
	filters := map[string]bool{}
	for i, f := range wf.Filters {
		field := fmt.Sprintf("workflow.filters[%d]", i)
		switch {
		case strings.TrimSpace(f.Name) == "":
			add(field+".name", f.Name, "is required")
		case filters[f.Name]:
			add(field+".name", f.Name, "duplicate filter name")
		}
		filters[f.Name] = true
		if strings.TrimSpace(f.Expression) == "" {
			add(field+".expression", f.Expression, "is required")
		}
		if len(f.Targets) == 0 {
			add(field+".targets", "", "at least one target is required")
		}
		for j, t := range f.Targets {
			tfield := fmt.Sprintf("%s.targets[%d]", field, j)
			if !queues[t.Queue] {
				add(tfield+".queue", t.Queue, "no such queue in queues")
			}
			if t.Timeout < 0 {
				add(tfield+".timeout", fmt.Sprint(t.Timeout), "must not be negative")
			}
		}
	}
	if wf.DefaultQueue == "" {
		add("workflow.default_queue", wf.DefaultQueue, "is required: tasks no filter matches go there")
	} else if !queues[wf.DefaultQueue] {
		add("workflow.default_queue", wf.DefaultQueue, "no such queue in queues")
	}
	if rt := wf.ReservationTimeout; rt != 0 {
		minimum := specMinReservationTimeout(set)
		switch {
		case rt < 0 || rt > 86400:
			add("workflow.reservation_timeout", fmt.Sprint(rt), "must be between 1 and 86400 seconds")
		case rt < minimum:
			add("workflow.reservation_timeout", fmt.Sprint(rt),
				"is shorter than ring timeout %s + AMD timeout %s + margin %s = %ds: the reservation would expire while the agent's phone rings",
				set.RingTimeout, set.AMDTimeout, SpecReservationMargin, minimum)
		}
	}

	fl := s.Flow
	if strings.TrimSpace(fl.Name) == "" {
		add("flow.name", fl.Name, "is required")
	}
	if strings.TrimSpace(fl.Greeting) == "" {
		add("flow.greeting", fl.Greeting, "is required")
	}
	if m := fl.Menu; m != nil {
		if strings.TrimSpace(m.Prompt) == "" {
			add("flow.menu.prompt", m.Prompt, "is required when there is a menu")
		}
		if len(m.Options) == 0 {
			add("flow.menu.options", "", "at least one option is required when there is a menu")
		}
		if m.DefaultDepartment == "" {
			add("flow.menu.default_department", m.DefaultDepartment, "is required: the department of callers who press nothing")
		}
		if m.Timeout < 1 || m.Timeout > 30 {
			add("flow.menu.timeout", fmt.Sprint(m.Timeout), "must be between 1 and 30 seconds")
		}
		digits := map[string]bool{}
		for i, o := range m.Options {
			field := fmt.Sprintf("flow.menu.options[%d]", i)
			switch {
			case !specDigitPattern.MatchString(o.Digit):
				add(field+".digit", o.Digit, "must be one key: 0-9 or * (# submits the menu, so it never picks an option)")
			case digits[o.Digit]:
				add(field+".digit", o.Digit, "duplicate menu digit")
			}
			digits[o.Digit] = true
			if !specSafeLiquidValue(o.Department) {
				add(field+".department", o.Department, "must be non-empty, without quotes, braces, %% or backslashes")
			}
		}
		if m.DefaultDepartment != "" && !specSafeLiquidValue(m.DefaultDepartment) {
			add("flow.menu.default_department", m.DefaultDepartment, "must be without quotes, braces, %% or backslashes")
		}
	}
	if fl.Enqueue.Timeout < 0 {
		add("flow.enqueue.timeout", fmt.Sprint(fl.Enqueue.Timeout), "must not be negative")
	}
	if strings.TrimSpace(fl.Voicemail.Prompt) == "" {
		add("flow.voicemail.prompt", fl.Voicemail.Prompt, "is required: callers hear it when nobody answers")
	}
	if ml := fl.Voicemail.MaxLength; ml < 1 || ml > 14400 {
		add("flow.voicemail.max_length", fmt.Sprint(ml), "must be between 1 and 14400 seconds")
	}
	for _, f := range []struct{ field, value string }{
		{"flow.enqueue.wait_url", fl.Enqueue.WaitURL},
		{"flow.voicemail.recording_status_callback", fl.Voicemail.RecordingStatusCallback},
	} {
		if f.value != "" && !strings.HasPrefix(f.value, "/") && !specIsAbsoluteHTTP(f.value) {
			add(f.field, f.value, "must be an absolute http(s) URL or a path on PUBLIC_BASE_URL")
		}
	}

	numbers := map[string]bool{}
	for i, n := range s.Numbers {
		field := fmt.Sprintf("numbers[%d].phone_number", i)
		switch {
		case !specE164Pattern.MatchString(n.PhoneNumber):
			add(field, n.PhoneNumber, "is not an E.164 number (+ and up to 15 digits)")
		case numbers[n.PhoneNumber]:
			add(field, n.PhoneNumber, "duplicate phone number")
		}
		numbers[n.PhoneNumber] = true
	}

	if len(errs) > 0 {
		return errs
	}
	return nil
}

// specSafeLiquidValue keeps department names usable inside the Liquid case tag and the JSON string
// the flow renders them into.
func specSafeLiquidValue(v string) bool {
	return strings.TrimSpace(v) != "" && !strings.ContainsAny(v, "\"'{}%\\")
}

func specIsAbsoluteHTTP(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// specResolveURL turns a path into a URL on the public base; absolute URLs and "" pass through.
func specResolveURL(base, ref string) string {
	if ref == "" || specIsAbsoluteHTTP(ref) {
		return ref
	}
	return strings.TrimRight(base, "/") + ref
}

// EventCallbackURL is the workspace's event callback for these settings.
func (set SpecSettings) EventCallbackURL() string {
	return handlers.NewURLs(set.PublicBaseURL).Events()
}

// workerAttributes is the JSON the worker gets: its attributes plus contact_uri and skills.
func (w SpecWorker) workerAttributes() (string, error) {
	attrs := make(map[string]any, len(w.Attributes)+2)
	for k, v := range w.Attributes {
		attrs[k] = v
	}
	attrs["contact_uri"] = w.ContactURI
	if len(w.Skills) > 0 {
		attrs["skills"] = w.Skills
	}
	b, err := json.Marshal(attrs)
	if err != nil {
		return "", fmt.Errorf("worker %q attributes: %w", w.Name, err)
	}
	return string(b), nil
}
