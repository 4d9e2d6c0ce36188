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
	// Events is the workspace's EventsFilter; empty means taskrouter.HandledEvents() and the
	// operator page's taskrouter.ObservedEvents().
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
	// Wait, when set, has the bridge serve the wait (spec_caller.go).
	Wait *SpecWait `yaml:"wait" json:"wait"`
	// Hours, when set, sends callers outside the opening hours to voicemail (spec_caller.go).
	Hours *SpecHours `yaml:"hours" json:"hours"`
	// RecordingNotice follows the greeting when the bridge records calls (RECORD_CALLS);
	// empty: DefaultRecordingNotice.
	RecordingNotice string `yaml:"recording_notice" json:"recording_notice"`
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
	// against PUBLIC_BASE_URL. Empty: the bridge's /voicemail/recording, which stores it.
	RecordingStatusCallback string `yaml:"recording_status_callback" json:"recording_status_callback"`
	// Transcribe has Twilio transcribe the message; the text reaches the bridge, which stores
	// it with the voicemail.
	Transcribe bool `yaml:"transcribe" json:"transcribe"`
}

// SpecNumber is a phone number already in the account, whose voice URL is pointed at the flow.
type SpecNumber struct {
	PhoneNumber string `yaml:"phone_number" json:"phone_number"`
}

// SpecSettings are the values the spec is resolved with that are not in the spec: the caller
// supplies them (cmd/bootstrap reads them from its environment).
type SpecSettings struct {
	// PublicBaseURL is where Twilio reaches the bridge (PUBLIC_BASE_URL).
	PublicBaseURL string
	// RingTimeout and AMDTimeout are the bridge's agent-leg timeouts (RING_TIMEOUT, AMD_TIMEOUT).
	RingTimeout time.Duration
	AMDTimeout  time.Duration
	// ConfirmTime is what the agent's whisper and confirmation add to a leg before the dequeue
	// (taskrouter.Options.ConfirmTime: AGENT_WHISPER, AGENT_CONFIRM_KEY, AGENT_CONFIRM_TIMEOUT);
	// 0 when they are off.
	ConfirmTime time.Duration
	// RecordCalls is the bridge's RECORD_CALLS: the greeting then announces the recording.
	RecordCalls bool
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
		s.Workspace.Events = append(taskrouter.HandledEvents(), taskrouter.ObservedEvents()...)
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
// AMD (+ whisper and confirmation) + SpecReservationMargin rounded up.
func (s *Spec) ReservationTimeout(set SpecSettings) int {
	if s.Workflow.ReservationTimeout > 0 {
		return s.Workflow.ReservationTimeout
	}
	return specMinReservationTimeout(set)
}

func specMinReservationTimeout(set SpecSettings) int {
	d := set.RingTimeout + set.AMDTimeout + set.ConfirmTime + SpecReservationMargin
	return int((d + time.Second - 1) / time.Second)
}

// The fields of SpecErrors about the settings rather than the spec. The package does not know
// where settings come from: a command that reads them from its environment maps these fields
// to its variables (PUBLIC_BASE_URL, RING_TIMEOUT, AMD_TIMEOUT for cmd/bootstrap).
const (
	SpecFieldPublicBaseURL = "settings.PublicBaseURL"
	SpecFieldRingTimeout   = "settings.RingTimeout"
	SpecFieldAMDTimeout    = "settings.AMDTimeout"
)

// Validate checks the spec against itself and the settings. It returns SpecErrors holding every
// problem, or nil.
func (s *Spec) Validate(set SpecSettings) error {
	v := &specValidator{activities: specNames{}, queues: specNames{}}
	v.settings(set)
	v.workspace(s.Workspace)
	v.activityList(s.Activities)
	// Checked after the list, which declares the names they refer to.
	v.activityRef("workspace.timeout_activity", s.Workspace.TimeoutActivity, true)
	v.activityRef("workspace.default_activity", s.Workspace.DefaultActivity, false)
	v.queueList(s.Queues)
	v.workerList(s.Workers)
	v.workflow(s.Workflow, set)
	v.flow(s.Flow)
	v.callerFlow(s)
	v.numberList(s.Numbers)
	if len(v.errs) > 0 {
		return v.errs
	}
	return nil
}

// specValidator collects the problems of one spec in spec order, with the activity and queue
// names the spec declares, which later sections refer to.
type specValidator struct {
	errs       SpecErrors
	activities specNames
	queues     specNames
}

// specNames are the keys one list of the spec has declared so far.
type specNames map[string]bool

// seen records key and reports whether an earlier entry had it already.
func (n specNames) seen(key string) bool {
	had := n[key]
	n[key] = true
	return had
}

func (v *specValidator) add(field, value, problem string, args ...any) {
	v.errs = append(v.errs, SpecError{Field: field, Value: value, Problem: fmt.Sprintf(problem, args...)})
}

func (v *specValidator) required(field, value string) {
	if strings.TrimSpace(value) == "" {
		v.add(field, value, "is required")
	}
}

// name checks the required name of one entry of a list whose names must differ.
func (v *specValidator) name(names specNames, field, name, key, duplicate string) {
	v.distinct(names, field, name, key, strings.TrimSpace(name) != "", "is required", duplicate)
}

// distinct checks the value that identifies one entry of a list: invalid is reported when valid
// is false, else duplicate when an earlier entry had the same key. Faulty keys are recorded too,
// so that a reference to them is not reported a second time.
func (v *specValidator) distinct(names specNames, field, value, key string, valid bool, invalid, duplicate string) {
	repeated := names.seen(key)
	switch {
	case !valid:
		v.add(field, value, "%s", invalid)
	case repeated:
		v.add(field, value, "%s", duplicate)
	}
}

// between checks a count; unit ("" or " seconds") ends the message.
func (v *specValidator) between(field string, n, lo, hi int, unit string) {
	if n < lo || n > hi {
		v.add(field, fmt.Sprint(n), "must be between %d and %d%s", lo, hi, unit)
	}
}

func (v *specValidator) notNegative(field string, n int) {
	if n < 0 {
		v.add(field, fmt.Sprint(n), "must not be negative")
	}
}

func (v *specValidator) settings(set SpecSettings) {
	if !specIsAbsoluteHTTP(set.PublicBaseURL) {
		v.add(SpecFieldPublicBaseURL, set.PublicBaseURL, "must be an absolute http(s) URL (where Twilio reaches the bridge)")
	}
	if set.RingTimeout <= 0 {
		v.add(SpecFieldRingTimeout, set.RingTimeout.String(), "must be positive")
	}
	if set.AMDTimeout <= 0 {
		v.add(SpecFieldAMDTimeout, set.AMDTimeout.String(), "must be positive")
	}
}

func (v *specValidator) workspace(ws SpecWorkspace) {
	v.required("workspace.name", ws.Name)
	for _, ev := range taskrouter.HandledEvents() {
		if !slices.Contains(ws.Events, ev) {
			v.add("workspace.events", strings.Join(ws.Events, ","), "misses %q, which the bridge needs", ev)
		}
	}
}

func (v *specValidator) activityList(activities []SpecActivity) {
	for i, a := range activities {
		v.name(v.activities, fmt.Sprintf("activities[%d].name", i), a.Name, a.Name, "duplicate activity name")
	}
}

// activityRef checks a reference to an activity of the spec.
func (v *specValidator) activityRef(field, name string, required bool) {
	switch {
	case name == "" && required:
		v.add(field, name, "is required")
	case name != "" && !v.activities[name]:
		v.add(field, name, "no such activity in activities")
	}
}

func (v *specValidator) queueList(queues []SpecQueue) {
	for i, q := range queues {
		field := fmt.Sprintf("queues[%d]", i)
		v.name(v.queues, field+".name", q.Name, q.Name, "duplicate queue name")
		v.between(field+".max_reserved_workers", q.MaxReservedWorkers, 1, 50, "")
	}
}

func (v *specValidator) workerList(workers []SpecWorker) {
	names := specNames{}
	for i, w := range workers {
		field := fmt.Sprintf("workers[%d]", i)
		// TaskRouter's worker names are case-insensitive.
		v.name(names, field+".name", w.Name, strings.ToLower(w.Name), "duplicate worker name (names are case-insensitive)")
		switch {
		case w.ContactURI == "":
			v.add(field+".contact_uri", w.ContactURI, "is required: the number or SIP URI the bridge rings for worker %q", w.Name)
		case strings.HasPrefix(w.ContactURI, "sip:") || strings.HasPrefix(w.ContactURI, "client:"):
		case !specE164Pattern.MatchString(w.ContactURI):
			v.add(field+".contact_uri", w.ContactURI, "is not an E.164 number (+ and up to 15 digits) nor a sip: or client: URI")
		}
		if _, ok := w.Attributes["contact_uri"]; ok {
			v.add(field+".attributes.contact_uri", fmt.Sprint(w.Attributes["contact_uri"]), "set contact_uri on the worker, not in attributes")
		}
		if _, ok := w.Attributes["skills"]; ok && len(w.Skills) > 0 {
			v.add(field+".attributes.skills", fmt.Sprint(w.Attributes["skills"]), "skills are set twice: keep the worker's skills list")
		}
		v.activityRef(field+".activity", w.Activity, false)
	}
}

func (v *specValidator) workflow(wf SpecWorkflow, set SpecSettings) {
	v.required("workflow.name", wf.Name)
	filters := specNames{}
	for i, f := range wf.Filters {
		field := fmt.Sprintf("workflow.filters[%d]", i)
		v.name(filters, field+".name", f.Name, f.Name, "duplicate filter name")
		v.required(field+".expression", f.Expression)
		if len(f.Targets) == 0 {
			v.add(field+".targets", "", "at least one target is required")
		}
		for j, t := range f.Targets {
			tfield := fmt.Sprintf("%s.targets[%d]", field, j)
			v.queueRef(tfield+".queue", t.Queue)
			v.notNegative(tfield+".timeout", t.Timeout)
		}
	}
	if wf.DefaultQueue == "" {
		v.add("workflow.default_queue", wf.DefaultQueue, "is required: tasks no filter matches go there")
	} else {
		v.queueRef("workflow.default_queue", wf.DefaultQueue)
	}
	v.reservationTimeout(wf.ReservationTimeout, set)
}

// queueRef checks a reference to a queue of the spec.
func (v *specValidator) queueRef(field, name string) {
	if !v.queues[name] {
		v.add(field, name, "no such queue in queues")
	}
}

// reservationTimeout checks an explicit timeout (0 derives it) against the settings' ring and
// AMD timeouts.
func (v *specValidator) reservationTimeout(rt int, set SpecSettings) {
	if rt == 0 {
		return
	}
	const field = "workflow.reservation_timeout"
	switch minimum := specMinReservationTimeout(set); {
	case rt < 0 || rt > 86400:
		v.add(field, fmt.Sprint(rt), "must be between 1 and 86400 seconds")
	case rt < minimum && set.ConfirmTime > 0:
		v.add(field, fmt.Sprint(rt),
			"is shorter than ring timeout %s + AMD timeout %s + whisper and confirmation %s + margin %s = %ds: the reservation would expire before the agent confirms",
			set.RingTimeout, set.AMDTimeout, set.ConfirmTime, SpecReservationMargin, minimum)
	case rt < minimum:
		v.add(field, fmt.Sprint(rt),
			"is shorter than ring timeout %s + AMD timeout %s + margin %s = %ds: the reservation would expire while the agent's phone rings",
			set.RingTimeout, set.AMDTimeout, SpecReservationMargin, minimum)
	}
}

func (v *specValidator) flow(fl SpecFlow) {
	v.required("flow.name", fl.Name)
	v.required("flow.greeting", fl.Greeting)
	if fl.Menu != nil {
		v.menu(fl.Menu)
	}
	v.notNegative("flow.enqueue.timeout", fl.Enqueue.Timeout)
	if strings.TrimSpace(fl.Voicemail.Prompt) == "" {
		v.add("flow.voicemail.prompt", fl.Voicemail.Prompt, "is required: callers hear it when nobody answers")
	}
	v.between("flow.voicemail.max_length", fl.Voicemail.MaxLength, 1, 14400, " seconds")
	v.urlOrPath("flow.enqueue.wait_url", fl.Enqueue.WaitURL)
	v.urlOrPath("flow.voicemail.recording_status_callback", fl.Voicemail.RecordingStatusCallback)
}

// urlOrPath checks an optional URL that may be a path on the bridge (see specResolveURL).
func (v *specValidator) urlOrPath(field, value string) {
	if value != "" && !strings.HasPrefix(value, "/") && !specIsAbsoluteHTTP(value) {
		v.add(field, value, "must be an absolute http(s) URL or a path on %s", SpecFieldPublicBaseURL)
	}
}

func (v *specValidator) menu(m *SpecMenu) {
	if strings.TrimSpace(m.Prompt) == "" {
		v.add("flow.menu.prompt", m.Prompt, "is required when there is a menu")
	}
	if len(m.Options) == 0 {
		v.add("flow.menu.options", "", "at least one option is required when there is a menu")
	}
	if m.DefaultDepartment == "" {
		v.add("flow.menu.default_department", m.DefaultDepartment, "is required: the department of callers who press nothing")
	}
	v.between("flow.menu.timeout", m.Timeout, 1, 30, " seconds")
	digits := specNames{}
	for i, o := range m.Options {
		field := fmt.Sprintf("flow.menu.options[%d]", i)
		v.distinct(digits, field+".digit", o.Digit, o.Digit, specDigitPattern.MatchString(o.Digit),
			"must be one key: 0-9 or * (# submits the menu, so it never picks an option)", "duplicate menu digit")
		if !specSafeLiquidValue(o.Department) {
			v.add(field+".department", o.Department, "must be non-empty, without quotes, braces, %% or backslashes")
		}
	}
	if m.DefaultDepartment != "" && !specSafeLiquidValue(m.DefaultDepartment) {
		v.add("flow.menu.default_department", m.DefaultDepartment, "must be without quotes, braces, %% or backslashes")
	}
}

func (v *specValidator) numberList(numbers []SpecNumber) {
	seen := specNames{}
	for i, n := range numbers {
		v.distinct(seen, fmt.Sprintf("numbers[%d].phone_number", i), n.PhoneNumber, n.PhoneNumber,
			specE164Pattern.MatchString(n.PhoneNumber), "is not an E.164 number (+ and up to 15 digits)", "duplicate phone number")
	}
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
