package taskrouter

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/oaicheck"
	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/sandbox/internal/twilioapi"
)

// sink is the application's event callback: it records every event in arrival order and checks
// its signature as an application would, with twilio-go's RequestValidator.
type sink struct {
	mu       sync.Mutex
	events   []url.Values
	badSigs  int
	status   int
	failures int // answer 500 to this many deliveries first
	attempts int // every request received, failed ones included
	srv      *httptest.Server
}

func newSink(t *testing.T) *sink {
	s := &sink{status: http.StatusNoContent}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		form, valid := sandboxtest.SignedForm(r, "http://"+r.Host, sandboxtest.Token)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.attempts++
		if s.failures > 0 {
			s.failures--
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if !valid {
			s.badSigs++
		}
		s.events = append(s.events, form)
		w.WriteHeader(s.status)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// tries counts the requests received so far, failed ones included.
func (s *sink) tries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// fail answers 500 to the next n requests.
func (s *sink) fail(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = n
}

func (s *sink) all() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.events...)
}

type canceledCall struct{ task, call, reason string }

// listener is a QueueListener that remembers what it was told.
type listener struct {
	mu       sync.Mutex
	canceled []canceledCall
}

func (l *listener) TaskCanceled(_ context.Context, taskSid, callSid, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.canceled = append(l.canceled, canceledCall{taskSid, callSid, reason})
}

func (l *listener) calls() []canceledCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]canceledCall(nil), l.canceled...)
}

type harness struct {
	t        *testing.T
	clock    *clock.Manual
	rec      *twilioapi.Recorder
	engine   *Engine
	sink     *sink
	listener *listener
	oai      *oaicheck.Transport
	tr       *trapi.ApiService
	seen     int // sink events already returned by next

	ws        string
	available string
	offline   string
	unavail   string
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	clk := clock.NewManual(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	rec := &twilioapi.Recorder{}
	eng := New(Config{Clock: clk, Credentials: twilioapi.Credentials{AccountSid: sandboxtest.Account, AuthToken: sandboxtest.Token},
		Recorder: rec})
	t.Cleanup(eng.Close)
	lis := &listener{}
	eng.SetQueueListener(lis)
	srv := httptest.NewServer(eng.Handler())
	t.Cleanup(srv.Close)
	rc, oai := sandboxtest.Client(t, srv.URL)
	h := &harness{t: t, clock: clk, rec: rec, engine: eng, sink: newSink(t), listener: lis, oai: oai, tr: rc.TaskrouterV1}
	t.Cleanup(func() {
		assert.Empty(t, oai.Failures(), "every response validates against Twilio's OpenAPI spec")
		assert.Zero(t, h.sink.badSigs, "every event signature verifies")
	})
	return h
}

// workspace creates a workspace whose events go to the sink.
func (h *harness) workspace(filter string) {
	params := (&trapi.CreateWorkspaceParams{}).SetFriendlyName("ws").SetEventCallbackUrl(h.sink.srv.URL + "/events")
	if filter != "" {
		params.SetEventsFilter(filter)
	}
	ws, err := h.tr.CreateWorkspace(params)
	require.NoError(h.t, err)
	h.ws = *ws.Sid
	acts, err := h.tr.ListActivity(h.ws, nil)
	require.NoError(h.t, err)
	for _, a := range acts {
		switch *a.FriendlyName {
		case "Available":
			h.available = *a.Sid
		case "Offline":
			h.offline = *a.Sid
		case "Unavailable":
			h.unavail = *a.Sid
		}
	}
	require.NotEmpty(h.t, h.available)
}

func (h *harness) queue(name, target string) string {
	params := (&trapi.CreateTaskQueueParams{}).SetFriendlyName(name)
	if target != "" {
		params.SetTargetWorkers(target)
	}
	q, err := h.tr.CreateTaskQueue(h.ws, params)
	require.NoError(h.t, err)
	return *q.Sid
}

func (h *harness) worker(name string, attrs map[string]any, activity string) string {
	if attrs == nil {
		attrs = map[string]any{}
	}
	b, _ := json.Marshal(attrs)
	params := (&trapi.CreateWorkerParams{}).SetFriendlyName(name).SetAttributes(string(b))
	if activity != "" {
		params.SetActivitySid(activity)
	}
	w, err := h.tr.CreateWorker(h.ws, params)
	require.NoError(h.t, err)
	return *w.Sid
}

func (h *harness) workflow(config map[string]any, reservationTimeout int) string {
	b, _ := json.Marshal(config)
	params := (&trapi.CreateWorkflowParams{}).SetFriendlyName("wf").SetConfiguration(string(b))
	if reservationTimeout > 0 {
		params.SetTaskReservationTimeout(reservationTimeout)
	}
	wf, err := h.tr.CreateWorkflow(h.ws, params)
	require.NoError(h.t, err)
	return *wf.Sid
}

// simpleWorkflow routes every task to queue, with no target timeout.
func (h *harness) simpleWorkflow(queue string) string {
	return h.workflow(map[string]any{"task_routing": map[string]any{
		"filters": []any{map[string]any{"filter_friendly_name": "all", "expression": "1==1",
			"targets": []any{map[string]any{"queue": queue}}}},
	}}, 0)
}

// aliceQueue sets up the commonest case: the workspace (with the given event filter), one queue
// "q", an available worker "alice" with no attributes and a workflow sending every task to q.
func (h *harness) aliceQueue(filter string) (queue, alice, workflow string) {
	h.workspace(filter)
	queue = h.queue("q", "")
	alice = h.worker("alice", nil, h.available)
	return queue, alice, h.simpleWorkflow(queue)
}

func (h *harness) task(workflow string, attrs map[string]any) string {
	if attrs == nil {
		attrs = map[string]any{}
	}
	b, _ := json.Marshal(attrs)
	tk, err := h.tr.CreateTask(h.ws, (&trapi.CreateTaskParams{}).SetWorkflowSid(workflow).SetAttributes(string(b)))
	require.NoError(h.t, err)
	return *tk.Sid
}

func (h *harness) fetchTask(sid string) *trapi.TaskrouterV1Task {
	tk, err := h.tr.FetchTask(h.ws, sid)
	require.NoError(h.t, err)
	return tk
}

func (h *harness) fetchWorker(sid string) *trapi.TaskrouterV1Worker {
	w, err := h.tr.FetchWorker(h.ws, sid)
	require.NoError(h.t, err)
	return w
}

func (h *harness) reservations(task string) []trapi.TaskrouterV1TaskReservation {
	rs, err := h.tr.ListTaskReservation(h.ws, task, nil)
	require.NoError(h.t, err)
	return rs
}

// pendingReservation returns the task's only pending reservation.
func (h *harness) pendingReservation(task string) trapi.TaskrouterV1TaskReservation {
	var pending []trapi.TaskrouterV1TaskReservation
	for _, r := range h.reservations(task) {
		if *r.ReservationStatus == "pending" {
			pending = append(pending, r)
		}
	}
	require.Len(h.t, pending, 1, "one pending reservation")
	return pending[0]
}

// produced counts the events the engine queued for delivery so far (it records each one
// synchronously, before the REST call or timer that produced it returns).
func (h *harness) produced() int {
	n := 0
	for _, e := range h.rec.Entries("") {
		if e.Kind == "event" && e.Detail["sent"] != "false" {
			n++
		}
	}
	return n
}

// next waits until every produced event reached the sink (times factor, for duplicates) and
// returns the types of those that arrived since the last call.
func (h *harness) next(factor int) []string {
	h.t.Helper()
	want := h.produced() * factor
	require.Eventually(h.t, func() bool { return len(h.sink.all()) >= want }, 5*time.Second, 2*time.Millisecond,
		"waiting for %d events", want)
	all := h.sink.all()
	var types []string
	for _, ev := range all[h.seen:] {
		types = append(types, ev.Get("EventType"))
	}
	h.seen = len(all)
	return types
}

// lastEvent returns the most recent delivered event of that type.
func (h *harness) lastEvent(typ string) url.Values {
	all := h.sink.all()
	for i := len(all) - 1; i >= 0; i-- {
		if all[i].Get("EventType") == typ {
			return all[i]
		}
	}
	h.t.Fatalf("no %s event delivered", typ)
	return nil
}
