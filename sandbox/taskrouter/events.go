package taskrouter

import (
	"context"
	"encoding/json"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"queuebridge/sandbox/internal/twilioapi"
)

// event is one TaskRouter event callback, built under the engine lock with everything its
// delivery needs, so the sender never touches the engine's state.
type event struct {
	wsSid  string
	url    string
	sid    string
	typ    string
	params url.Values
	// deliveries is how many times the sender posts the event before dropping it: 1 plus the
	// engine's EventRedeliveries option. Each one is a webhook send, with the retries the URL's
	// connection overrides (or Twilio's defaults) allow.
	deliveries int
}

// emit builds an event, records it, and queues it for the workspace's EventCallbackUrl unless
// the workspace has none or its EventsFilter leaves the type out.
func (e *Engine) emit(ws *workspace, typ, desc, resourceType, resourceSid string, t *task, w *worker, r *reservation, extra map[string]string) {
	if ws == nil {
		return
	}
	now := e.now()
	ev := &event{wsSid: ws.sid, url: ws.eventCallbackURL, sid: twilioapi.NewSID("EV"), typ: typ,
		deliveries: 1 + e.options.EventRedeliveries}
	p := url.Values{}
	p.Set("EventType", typ)
	p.Set("AccountSid", e.cfg.Credentials.AccountSid)
	p.Set("WorkspaceSid", ws.sid)
	p.Set("WorkspaceName", ws.friendlyName)
	p.Set("EventDescription", desc)
	p.Set("ResourceType", resourceType)
	p.Set("ResourceSid", resourceSid)
	p.Set("Timestamp", strconv.FormatInt(now.Unix(), 10))
	p.Set("TimestampMs", strconv.FormatInt(now.UnixMilli(), 10))
	p.Set("EventDate", twilioapi.RFC3339(now))
	p.Set("EventDateMs", strconv.FormatInt(now.UnixMilli(), 10))
	p.Set("Sid", ev.sid)
	if t != nil {
		e.setTaskParams(p, ws, t, now)
	}
	if w != nil {
		p.Set("WorkerSid", w.sid)
		p.Set("WorkerName", w.friendlyName)
		p.Set("WorkerAttributes", w.attributes)
		p.Set("WorkerActivitySid", w.activitySid)
		p.Set("WorkerActivityName", e.activityName(w.activitySid))
		p.Set("WorkerVersion", strconv.Itoa(w.version))
	}
	if r != nil {
		p.Set("ReservationSid", r.sid)
		p.Set("ReservationVersion", strconv.Itoa(r.version))
	}
	for k, v := range extra {
		p.Set(k, v)
	}
	ev.params = p

	detail := map[string]string{"workspace": ws.sid}
	if t != nil {
		detail["task"] = t.sid
	}
	if r != nil {
		detail["reservation"] = r.sid
	}
	if w != nil {
		detail["worker"] = w.sid
	}
	send := ws.eventCallbackURL != "" && eventWanted(ws.eventsFilter, typ)
	if !send {
		detail["sent"] = "false"
	}
	e.rec.Record(twilioapi.Entry{Time: now, Sid: ev.sid, Kind: "event", What: typ, Detail: detail})
	e.log.Debug("taskrouter event", "event", typ, "workspace", ws.sid, "task", detail["task"], "reservation", detail["reservation"], "worker", detail["worker"])
	if send {
		e.outgoing = append(e.outgoing, ev)
	}
}

// setTaskParams sets the Task* and Workflow* parameters of an event about t.
func (e *Engine) setTaskParams(p url.Values, ws *workspace, t *task, now time.Time) {
	p.Set("TaskSid", t.sid)
	p.Set("TaskAttributes", t.attributes)
	p.Set("TaskAge", strconv.Itoa(int(now.Sub(t.created)/time.Second)))
	p.Set("TaskPriority", strconv.Itoa(t.priority))
	p.Set("TaskAssignmentStatus", t.status)
	p.Set("TaskDateCreated", strconv.FormatInt(t.created.Unix(), 10))
	p.Set("TaskTimeout", strconv.Itoa(t.timeout))
	p.Set("TaskVersion", strconv.Itoa(t.version))
	switch t.status {
	case taskCanceled:
		p.Set("TaskCanceledReason", t.reason)
	case taskCompleted:
		p.Set("TaskCompletedReason", t.reason)
	}
	if t.queueSid != "" {
		p.Set("TaskQueueSid", t.queueSid)
		p.Set("TaskQueueName", e.queueName(t.queueSid))
		p.Set("TaskQueueEnteredDate", strconv.FormatInt(t.queueEntered.Unix(), 10))
		if q := e.queues[t.queueSid]; q != nil {
			p.Set("TaskQueueTargetExpression", q.targetWorkers)
		}
	}
	p.Set("WorkflowSid", t.workflowSid)
	p.Set("WorkflowName", e.workflowName(t.workflowSid))
	p.Set("TaskChannelUniqueName", t.channel)
	p.Set("TaskChannelSid", ws.channels[t.channel])
}

// eventWanted applies a workspace's EventsFilter (comma-separated event types; empty: all).
func eventWanted(filter, typ string) bool {
	if strings.TrimSpace(filter) == "" {
		return true
	}
	for _, f := range strings.Split(filter, ",") {
		if strings.TrimSpace(f) == typ {
			return true
		}
	}
	return false
}

// enqueue hands events to their workspaces' senders, applying the delivery faults. Called with
// the engine lock held; pushing never blocks.
func (e *Engine) enqueue(events []*event) {
	if len(events) == 0 {
		return
	}
	byWS := map[string][]*event{}
	var order []string
	for _, ev := range events {
		if e.dropLocked(ev) {
			continue
		}
		if _, ok := byWS[ev.wsSid]; !ok {
			order = append(order, ev.wsSid)
		}
		byWS[ev.wsSid] = append(byWS[ev.wsSid], ev)
	}
	for _, wsSid := range order {
		batch := byWS[wsSid]
		if e.faults.Reorder {
			for i := 0; i+1 < len(batch); i += 2 {
				batch[i], batch[i+1] = batch[i+1], batch[i]
			}
		}
		if e.faults.Duplicate {
			dup := make([]*event, 0, 2*len(batch))
			for _, ev := range batch {
				dup = append(dup, ev, ev)
			}
			batch = dup
		}
		s := e.senders[wsSid]
		if s == nil {
			s = newSender(e.cfg.Webhooks, e.rec, e.log, e.cfg.Clock.Now, &e.events)
			e.senders[wsSid] = s
		}
		s.push(batch)
	}
}

// dropLocked draws whether DeliveryFaults.Drop loses ev, and records the loss on the timeline.
func (e *Engine) dropLocked(ev *event) bool {
	f := e.faults
	if f.Drop <= 0 || e.faultRand == nil || (len(f.DropTypes) > 0 && !slices.Contains(f.DropTypes, ev.typ)) {
		return false
	}
	if e.faultRand.Float64() >= f.Drop {
		return false
	}
	e.rec.Record(twilioapi.Entry{Time: e.cfg.Clock.Now(), Sid: ev.sid, Kind: "webhook", What: "event dropped (fault): " + ev.typ,
		Detail: map[string]string{"workspace": ev.wsSid, "task": ev.params.Get("TaskSid"),
			"reservation": ev.params.Get("ReservationSid"), "worker": ev.params.Get("WorkerSid")}})
	return true
}

// sender delivers one workspace's events in order, from its own goroutine.
type sender struct {
	hooks *twilioapi.Webhooks
	rec   *twilioapi.Recorder
	log   interface {
		Warn(msg string, args ...any)
	}
	now func() time.Time
	// count is the engine's: events pushed here count until delivered or dropped.
	count *eventCount

	mu           sync.Mutex
	queue        []*event
	stopWhenIdle bool
	wake         chan struct{}
	ctx          context.Context
	cancel       context.CancelFunc
	done         chan struct{}
}

func newSender(hooks *twilioapi.Webhooks, rec *twilioapi.Recorder, log interface{ Warn(string, ...any) }, now func() time.Time, count *eventCount) *sender {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sender{hooks: hooks, rec: rec, log: log, now: now, count: count, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go s.run()
	return s
}

func (s *sender) push(evs []*event) {
	s.count.add(len(evs))
	s.mu.Lock()
	s.queue = append(s.queue, evs...)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sender) close() {
	s.cancel()
	<-s.done
}

func (s *sender) run() {
	defer close(s.done)
	defer func() {
		// Stopped: what is still queued will never be delivered.
		s.mu.Lock()
		left := len(s.queue)
		s.queue = nil
		s.mu.Unlock()
		s.count.add(-left)
	}()
	for {
		s.mu.Lock()
		batch := s.queue
		s.queue = nil
		stop := s.stopWhenIdle && len(batch) == 0
		s.mu.Unlock()
		if stop {
			return
		}
		for i, ev := range batch {
			if s.ctx.Err() != nil {
				s.count.add(-(len(batch) - i))
				return
			}
			s.deliver(ev)
			s.count.add(-1)
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		}
	}
}

// deliver posts one event through the shared webhook sender, which makes the attempts the URL's
// connection settings allow (Twilio's defaults: one retry, on a connection failure only). An
// event still not delivered (an error or a non-2xx answer) is posted again only when the
// EventRedeliveries option asks for it, then dropped and recorded.
func (s *sender) deliver(ev *event) {
	var last string
	for attempt := 1; attempt <= max(ev.deliveries, 1); attempt++ {
		// Send bounds itself by the URL's total time (at most 15 s); this is a backstop.
		ctx, cancel := context.WithTimeout(s.ctx, 30*time.Second)
		resp, err := s.hooks.Send(ctx, "POST", ev.url, ev.params)
		cancel()
		switch {
		case err != nil:
			last = err.Error()
		case resp.Status < 200 || resp.Status > 299:
			last = "HTTP " + strconv.Itoa(resp.Status)
		default:
			return
		}
		if s.ctx.Err() != nil {
			return
		}
	}
	s.log.Warn("taskrouter event dropped", "event", ev.typ, "workspace", ev.wsSid, "error", last)
	s.rec.Record(twilioapi.Entry{Time: s.now(), Sid: ev.sid, Kind: "webhook", What: "event dropped: " + ev.typ,
		Detail: map[string]string{"workspace": ev.wsSid, "task": ev.params.Get("TaskSid"),
			"reservation": ev.params.Get("ReservationSid"), "worker": ev.params.Get("WorkerSid"), "error": last}})
}

func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// drainAndClose lets the sender deliver what is already queued, then stops it.
func (s *sender) drainAndClose() {
	s.mu.Lock()
	s.stopWhenIdle = true
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	<-s.done
	s.cancel()
}
