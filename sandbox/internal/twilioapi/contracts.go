package twilioapi

import (
	"context"
	"sync"
	"time"
)

// The sandbox's engines (taskrouter, voice, studio) live in separate packages and meet only
// through the interfaces below; the top-level sandbox package wires them together.

// EnqueueRequest is what <Enqueue workflowSid=…><Task …>{json}</Task></Enqueue> asks TaskRouter for.
type EnqueueRequest struct {
	CallSid     string
	WorkflowSid string
	// Attributes are the call's (call_sid, account_sid, from, to, caller, called, direction, …)
	// merged with the <Task> body's JSON, as Twilio does.
	Attributes map[string]any
	Priority   *int
	Timeout    *int // task TTL in seconds
}

// DequeuedTask is what TaskRouter answers when an agent call dequeues a reservation.
type DequeuedTask struct {
	WorkspaceSid string
	TaskSid      string
	WorkerSid    string
	// CallSid is the waiting caller's call (the task's call_sid attribute).
	CallSid string
}

// TaskRouter is what the Voice engine needs of TaskRouter.
type TaskRouter interface {
	// EnqueueCall creates the task for a call that entered <Enqueue workflowSid>.
	EnqueueCall(ctx context.Context, req EnqueueRequest) (taskSid string, err error)
	// CallerLeftQueue is told when the enqueued caller hung up (or left) before being bridged: the
	// task is canceled with that reason, which cancels or rescinds its pending reservations.
	CallerLeftQueue(ctx context.Context, taskSid, reason string) error
	// DequeueReservation accepts a pending reservation for <Dial><Queue reservationSid>. When the
	// reservation is not pending it fails with error 14215 ("Dial->Queue: Invalid ReservationSid. Unable to dequeue") and changes nothing.
	DequeueReservation(ctx context.Context, reservationSid, postWorkActivitySid string) (DequeuedTask, error)
	// BridgeEnded is told when a bridged call (agent and caller) ended: the task and the
	// reservation move to wrapping and reservation.wrapup / task.wrapup are sent.
	BridgeEnded(ctx context.Context, taskSid string) error
}

// QueueListener is what TaskRouter tells the Voice engine.
type QueueListener interface {
	// TaskCanceled: a task that holds a waiting call was canceled by TaskRouter (workflow timeout,
	// TTL, REST update): the call leaves the queue and its <Enqueue action> runs.
	TaskCanceled(ctx context.Context, taskSid, callSid, reason string)
}

// Entry is one line of a timeline: what happened to a call, a task, a reservation or a worker,
// or an event TaskRouter sent.
type Entry struct {
	Time   time.Time         `json:"time"`
	Sid    string            `json:"sid"`  // the resource it concerns (CA…, WT…, WR…, WK…, EV…)
	Kind   string            `json:"kind"` // call, task, reservation, worker, event, webhook, flow
	What   string            `json:"what"` // e.g. "ringing", "amd: machine_start", "reservation.created"
	Detail map[string]string `json:"detail,omitempty"`
}

// Recorder keeps every engine's timeline in one place, for tests and the demo.
type Recorder struct {
	mu      sync.Mutex
	entries []Entry
	subs    []chan<- Entry
}

// Record appends e and hands it to every subscriber (a full subscriber misses it rather than
// blocking the sandbox).
func (r *Recorder) Record(e Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.entries = append(r.entries, e)
	for _, ch := range r.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// Subscribe delivers every later entry to ch.
func (r *Recorder) Subscribe(ch chan<- Entry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs = append(r.subs, ch)
}

// Entries returns the entries concerning sid, or all of them when sid is empty.
func (r *Recorder) Entries(sid string) []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Entry, 0, len(r.entries))
	for _, e := range r.entries {
		if sid == "" || e.Sid == sid || e.Detail["task"] == sid || e.Detail["call"] == sid || e.Detail["reservation"] == sid {
			out = append(out, e)
		}
	}
	return out
}
