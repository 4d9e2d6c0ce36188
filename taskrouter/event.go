package taskrouter

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Event types queuebridge acts on. Every other type is acknowledged and ignored.
const (
	EventReservationCreated   = "reservation.created"
	EventReservationAccepted  = "reservation.accepted"
	EventReservationRejected  = "reservation.rejected"
	EventReservationTimeout   = "reservation.timeout"
	EventReservationCanceled  = "reservation.canceled"
	EventReservationRescinded = "reservation.rescinded"
	EventReservationCompleted = "reservation.completed"
	EventReservationWrapup    = "reservation.wrapup"
	EventTaskCanceled         = "task.canceled"
	EventTaskCompleted        = "task.completed"
)

// Event types the bridge does not act on but reports to Config's observers (the operator page):
// a caller entering the queue, the queue it waits in, and the agents' activities.
const (
	EventTaskCreated           = "task.created"
	EventTaskQueueEntered      = "task-queue.entered"
	EventWorkerActivityUpdated = "worker.activity.update"
)

// Event is a TaskRouter event callback, parsed once at the edge.
type Event struct {
	SID            string // EV…; may be empty in hand-made requests
	Type           string
	AccountSID     string
	WorkspaceSID   string
	ResourceType   string // lower-cased: docs say "Task", payloads say "task"
	ResourceSID    string
	Timestamp      time.Time
	TaskSID        string
	ReservationSID string
	WorkerSID      string
	WorkerName     string
	WorkflowSID    string
	TaskQueueSID   string
	TaskAttributes map[string]any
	WorkerAttrs    map[string]any
	Reason         string // TaskCanceledReason / TaskCompletedReason, when given

	// For the operator page: the task's queue, and the worker's activity on events about a worker.
	TaskQueueName                         string
	WorkerActivitySID, WorkerActivityName string
	// TaskAge is how long the task existed when the event was sent (0 when not given).
	TaskAge time.Duration
}

// IsReservation reports whether the event concerns one reservation.
func (e Event) IsReservation() bool { return strings.HasPrefix(e.Type, "reservation.") }

// handledEvents are the event types queuebridge acts on.
var handledEvents = [...]string{
	EventReservationCreated, EventReservationAccepted, EventReservationRejected, EventReservationTimeout,
	EventReservationCanceled, EventReservationRescinded, EventReservationCompleted, EventReservationWrapup,
	EventTaskCanceled, EventTaskCompleted,
}

// HandledEvents returns the event types queuebridge acts on: a workspace's events filter must
// let every one of them through.
func HandledEvents() []string { return append([]string(nil), handledEvents[:]...) }

// observedEvents are the event types the bridge ignores but shows on the operator page.
var observedEvents = [...]string{EventTaskCreated, EventTaskQueueEntered, EventWorkerActivityUpdated}

// ObservedEvents returns the event types the operator page shows beside HandledEvents. A
// workspace whose events filter leaves them out still works; its page shows a caller only once
// an agent is reserved for them, and no agent's activity until a reservation names it.
func ObservedEvents() []string { return append([]string(nil), observedEvents[:]...) }

// Observed reports whether the event is one the operator page shows but the bridge ignores.
func (e Event) Observed() bool {
	for _, t := range observedEvents {
		if e.Type == t {
			return true
		}
	}
	return false
}

// Handled reports whether queuebridge acts on this event type.
func (e Event) Handled() bool {
	for _, t := range handledEvents {
		if e.Type == t {
			return true
		}
	}
	return false
}

// ParseEvent reads a TaskRouter event callback's form. It checks what queuebridge relies on for
// the event types it handles (SIDs present and well formed, attribute JSON that parses) and only
// EventType for the others, which are acknowledged and ignored.
func ParseEvent(form url.Values) (Event, error) {
	e := Event{
		SID:            form.Get("Sid"),
		Type:           form.Get("EventType"),
		AccountSID:     form.Get("AccountSid"),
		WorkspaceSID:   form.Get("WorkspaceSid"),
		ResourceType:   strings.ToLower(form.Get("ResourceType")),
		ResourceSID:    form.Get("ResourceSid"),
		TaskSID:        form.Get("TaskSid"),
		ReservationSID: form.Get("ReservationSid"),
		WorkerSID:      form.Get("WorkerSid"),
		WorkerName:     form.Get("WorkerName"),
		WorkflowSID:    form.Get("WorkflowSid"),
		TaskQueueSID:   form.Get("TaskQueueSid"),
		Reason:         firstNonEmpty(form.Get("TaskCanceledReason"), form.Get("TaskCompletedReason")),
		TaskQueueName:  form.Get("TaskQueueName"),
	}
	e.WorkerActivitySID, e.WorkerActivityName = form.Get("WorkerActivitySid"), form.Get("WorkerActivityName")
	if e.Type == "" {
		return Event{}, Errorf(EInvalid, "EventType is missing")
	}
	if e.SID != "" && !ValidSID(e.SID, PrefixEvent) {
		return Event{}, Errorf(EInvalid, "Sid %q is not an EV… SID", e.SID)
	}
	if ms := form.Get("TimestampMs"); ms != "" {
		if n, err := strconv.ParseInt(ms, 10, 64); err == nil {
			e.Timestamp = time.UnixMilli(n).UTC()
		}
	}
	if age, err := strconv.Atoi(form.Get("TaskAge")); err == nil && age > 0 {
		e.TaskAge = time.Duration(age) * time.Second
	}
	if !e.Handled() {
		if e.Observed() {
			// Only the operator page reads these: attributes that do not parse are left out
			// rather than refused, so a page-only detail never fails a webhook.
			e.TaskAttributes, _ = parseAttributes("TaskAttributes", form.Get("TaskAttributes"))
		}
		return e, nil
	}
	if err := checkSID("WorkspaceSid", e.WorkspaceSID, PrefixWorkspace); err != nil {
		return Event{}, err
	}
	if err := checkSID("TaskSid", e.TaskSID, PrefixTask); err != nil {
		return Event{}, err
	}
	if e.IsReservation() {
		if err := checkSID("ReservationSid", e.ReservationSID, PrefixReservation); err != nil {
			return Event{}, err
		}
		if err := checkSID("WorkerSid", e.WorkerSID, PrefixWorker); err != nil {
			return Event{}, err
		}
	}
	var err error
	if e.TaskAttributes, err = parseAttributes("TaskAttributes", form.Get("TaskAttributes")); err != nil {
		return Event{}, err
	}
	if e.WorkerAttrs, err = parseAttributes("WorkerAttributes", form.Get("WorkerAttributes")); err != nil {
		return Event{}, err
	}
	return e, nil
}

func parseAttributes(field, s string) (map[string]any, error) {
	if s == "" {
		return map[string]any{}, nil
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, Errorf(EInvalid, "%s is not a JSON object", field)
	}
	return m, nil
}

// stringAttr returns attrs[key] when it is a non-empty string.
func stringAttr(attrs map[string]any, key string) string {
	if s, ok := attrs[key].(string); ok {
		return strings.TrimSpace(s)
	}
	return ""
}

func firstNonEmpty(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
