package taskrouter

import (
	"context"
	"io"
	"log/slog"
	"math/rand"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/twilioapi"
)

// Config is what the engine needs from the sandbox around it.
type Config struct {
	Clock       clock.Clock
	Credentials twilioapi.Credentials
	Webhooks    *twilioapi.Webhooks
	Recorder    *twilioapi.Recorder
	Logger      *slog.Logger
}

// DeliveryFaults make event delivery misbehave the way tests need to prove a consumer copes:
// Duplicate sends every event twice, Reorder swaps adjacent events of the same workspace, Drop
// loses a fraction of them (as a network would: never delivered, no retry).
type DeliveryFaults struct {
	Duplicate bool
	Reorder   bool
	// Drop is the fraction (0–1) of events never delivered, drawn from Seed: the same seed and
	// the same sequence of events lose the same ones.
	Drop float64
	Seed int64
	// DropTypes limits Drop to these event types (e.g. "reservation.canceled"); empty: every type.
	DropTypes []string
}

// Twilio's defaults.
const (
	defaultReservationTimeout = 120
	defaultTaskTimeout        = 86400
	maxTaskTimeout            = 1209600
	retention                 = 5 * time.Minute
	maxRejections             = 1000

	// Reasons the engine gives a task it cancels itself. TWILIO.md does not name them; these
	// are the descriptions Twilio's documentation uses for those events.
	reasonTTL             = "Task TTL Exceeded"
	reasonWorkflowTimeout = "Workflow Timeout"
	reasonTooManyRejects  = "Task rejected too many times"
)

// Engine is the sandbox's TaskRouter. One mutex guards all of its state; webhooks and the
// QueueListener are only ever called after it is released.
type Engine struct {
	cfg Config
	log *slog.Logger
	rec *twilioapi.Recorder

	mu           sync.Mutex
	seq          int64
	workspaces   map[string]*workspace
	activities   map[string]*activity
	queues       map[string]*taskQueue
	workers      map[string]*worker
	workflows    map[string]*workflow
	tasks        map[string]*task
	reservations map[string]*reservation
	listener     twilioapi.QueueListener
	faults       DeliveryFaults
	faultRand    *rand.Rand
	options      Options
	senders      map[string]*sender
	events       eventCount // events handed to the senders, not yet delivered
	closed       bool

	// Collected while the lock is held, handed over when it is released (see unlock).
	outgoing []*event
	after    []func()
}

var _ twilioapi.TaskRouter = (*Engine)(nil)

// Options choose where Twilio's documentation leaves the behaviour open (see the package
// comment); tests run the application under both choices.
type Options struct {
	// NoReoffer: a worker who rejected a task is never offered that task again. Off by default:
	// Twilio puts a rejected task back in the queue and routes it again, and says to move the
	// worker to an unavailable activity "to avoid having the Task immediately reassigned to the
	// worker".
	NoReoffer bool
	// TimeoutsCountAsRejections: reservation time-outs count toward the 1,000 rejections that
	// cancel a task. Off by default: the documentation speaks of rejections only.
	TimeoutsCountAsRejections bool
	// EventRedeliveries: how many more times the engine itself posts an event whose delivery
	// failed, on top of the retries the EventCallbackUrl's connection overrides ask for. 0 by
	// default: Twilio documents no TaskRouter retry policy of its own, only the webhook
	// connection defaults and the URL fragment overrides.
	EventRedeliveries int
	// EmptyTargetWorkersWait: a queue created or updated with an empty TargetWorkers matches no
	// worker, so its tasks wait ("If no TargetWorkers parameter is provided, Tasks will wait in
	// the TaskQueue"). Off by default: the same description says "Defaults to 1==1".
	EmptyTargetWorkersWait bool
}

// Options returns the choices in force.
func (e *Engine) Options() Options {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.options
}

// SetEventRedeliveries sets how many extra deliveries the engine makes of an event whose
// delivery failed after the URL's own retries (0, the default: none). Negative is 0.
func (e *Engine) SetEventRedeliveries(n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.options.EventRedeliveries = max(n, 0)
}

// SetEmptyTargetWorkersWait chooses what an empty TargetWorkers means for queues created or
// updated afterwards: false (the default) stores "1==1", every worker; true matches nobody.
func (e *Engine) SetEmptyTargetWorkersWait(wait bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.options.EmptyTargetWorkersWait = wait
}

// SetReofferRejected chooses whether a worker who rejected a task may be offered it again
// (true, the default, as documented; false, the sandbox's former behaviour).
func (e *Engine) SetReofferRejected(reoffer bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.options.NoReoffer = !reoffer
}

// SetTimeoutsCountAsRejections chooses whether reservation time-outs count toward the
// rejections that cancel a task (false by default).
func (e *Engine) SetTimeoutsCountAsRejections(count bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.options.TimeoutsCountAsRejections = count
}

// New returns an engine with no workspaces.
func New(cfg Config) *Engine {
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.Webhooks == nil {
		cfg.Webhooks = &twilioapi.Webhooks{AuthToken: cfg.Credentials.AuthToken}
	}
	if cfg.Recorder == nil {
		cfg.Recorder = &twilioapi.Recorder{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Engine{
		cfg: cfg, log: log, rec: cfg.Recorder,
		workspaces: map[string]*workspace{}, activities: map[string]*activity{},
		queues: map[string]*taskQueue{}, workers: map[string]*worker{}, workflows: map[string]*workflow{},
		tasks: map[string]*task{}, reservations: map[string]*reservation{}, senders: map[string]*sender{},
	}
}

// SetQueueListener registers who is told when TaskRouter cancels a task holding a call.
func (e *Engine) SetQueueListener(l twilioapi.QueueListener) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.listener = l
}

// SetDeliveryFaults changes how later events are delivered.
func (e *Engine) SetDeliveryFaults(f DeliveryFaults) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.faults = f
	e.faultRand = rand.New(rand.NewSource(f.Seed))
}

// Close stops the event senders; events not yet delivered are dropped.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	senders := e.senders
	e.senders = map[string]*sender{}
	e.mu.Unlock()
	for _, s := range senders {
		s.close()
	}
}

// unlock hands the events produced under the lock to the workspaces' senders, releases the
// lock, then runs the deferred calls (the QueueListener), so no callback runs under the lock.
func (e *Engine) unlock() {
	events := e.outgoing
	after := e.after
	e.outgoing, e.after = nil, nil
	if !e.closed {
		e.enqueue(events)
	}
	e.mu.Unlock()
	for _, f := range after {
		f()
	}
}

func (e *Engine) now() time.Time { return e.cfg.Clock.Now() }

func (e *Engine) nextSeq() int64 {
	e.seq++
	return e.seq
}

// record adds a state change to the timeline.
func (e *Engine) record(kind, sid, what string, detail map[string]string) {
	e.rec.Record(twilioapi.Entry{Time: e.now(), Sid: sid, Kind: kind, What: what, Detail: detail})
}

func (e *Engine) setTaskStatus(t *task, status string) {
	if t.status == status {
		return
	}
	t.status = status
	t.updated = e.now()
	t.version++
	d := map[string]string{"task": t.sid, "workspace": t.wsSid}
	if t.reason != "" {
		d["reason"] = t.reason
	}
	e.record("task", t.sid, status, d)
}

// setResStatus moves a reservation and keeps the worker's and the task's counters right.
func (e *Engine) setResStatus(r *reservation, status string) {
	r.status = status
	r.updated = e.now()
	r.version++
	if status != resPending && r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	if !r.active() {
		if w := e.workers[r.workerSid]; w != nil {
			w.idleSince = e.now()
		}
	}
	e.record("reservation", r.sid, status, map[string]string{"reservation": r.sid, "task": r.taskSid, "worker": r.workerSid})
}

// workerBusy: a worker holds at most one reservation or assignment at a time (one voice task).
func (e *Engine) workerBusy(sid string) bool {
	for _, r := range e.reservations {
		if r.workerSid == sid && r.active() {
			return true
		}
	}
	return false
}

func (e *Engine) taskReservations(t *task) []*reservation {
	var out []*reservation
	for _, r := range e.reservations {
		if r.taskSid == t.sid {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func (e *Engine) pendingReservations(t *task) []*reservation {
	var out []*reservation
	for _, r := range e.taskReservations(t) {
		if r.status == resPending {
			out = append(out, r)
		}
	}
	return out
}

func (e *Engine) setWorkerActivity(w *worker, activitySid string) {
	if w.activitySid == activitySid || e.activities[activitySid] == nil {
		return
	}
	prev := w.activitySid
	prevSince := w.statusChanged
	w.activitySid = activitySid
	w.statusChanged = e.now()
	w.updated = e.now()
	w.version++
	if e.activityAvailable(activitySid) && !e.activityAvailable(prev) {
		w.idleSince = e.now()
	}
	e.record("worker", w.sid, "activity: "+e.activityName(activitySid), map[string]string{"worker": w.sid, "activity": activitySid})
	inPrev := e.now().Sub(prevSince)
	e.emit(e.workspaces[w.wsSid], "worker.activity.update", "Worker "+w.friendlyName+" updated to "+e.activityName(activitySid)+" Activity",
		"worker", w.sid, nil, w, nil, map[string]string{
			"WorkerPreviousActivitySid":      prev,
			"WorkerPreviousActivityName":     e.activityName(prev),
			"WorkerTimeInPreviousActivity":   strconv.FormatInt(int64(inPrev/time.Second), 10),
			"WorkerTimeInPreviousActivityMs": strconv.FormatInt(inPrev.Milliseconds(), 10),
		})
}

// newTask is a task of the workspace with Twilio's defaults, to be filled in and started.
func (e *Engine) newTask(wsSid string) *task {
	return &task{record: e.newRecord("WT", wsSid), attributes: "{}", attrs: map[string]any{}, status: taskPending,
		timeout: defaultTaskTimeout, channel: "default", filter: -1, excluded: map[string]bool{}}
}

// startTask is the one way tasks are born: REST and <Enqueue> both come here.
func (e *Engine) startTask(t *task) {
	ws := e.workspaces[t.wsSid]
	e.tasks[t.sid] = t
	e.record("task", t.sid, taskPending, map[string]string{"task": t.sid, "workspace": ws.sid, "workflow": t.workflowSid})
	sid := t.sid
	t.ttlTimer = e.cfg.Clock.AfterFunc(time.Duration(t.timeout)*time.Second, func() { e.onTaskTTL(sid) })
	e.emit(ws, "task.created", "Task "+t.sid+" created", "task", t.sid, t, nil, nil, nil)
	e.route(t)
	e.dispatch(ws)
}

// route evaluates the workflow's filters for t (first match wins, else the default filter)
// and puts it in the first target of that filter.
func (e *Engine) route(t *task) {
	wf := e.workflows[t.workflowSid]
	if wf == nil || wf.config == nil {
		return
	}
	env := &exprEnv{task: t.attrs}
	t.filter, t.routed = -1, false
	for i, f := range wf.config.filters {
		if f.match.eval(env) {
			t.filter, t.routed = i, true
			break
		}
	}
	if !t.routed && wf.config.defaultFilter == nil {
		// No filter matched and there is no default filter: the task waits, unrouted, for its
		// TTL (or an attribute update that makes a filter match).
		if t.targetTimer != nil {
			t.targetTimer.Stop()
			t.targetTimer = nil
		}
		t.queueSid = ""
		e.record("task", t.sid, "unrouted", map[string]string{"task": t.sid})
		return
	}
	t.routed = true
	e.enterTarget(t, 0)
}

func (e *Engine) currentTarget(t *task) *routingTarget {
	wf := e.workflows[t.workflowSid]
	if wf == nil || wf.config == nil || !t.routed {
		return nil
	}
	targets := wf.config.targets(t.filter)
	if t.target < 0 || t.target >= len(targets) {
		return nil
	}
	return &targets[t.target]
}

// enterTarget moves t to target idx of its filter, skipping targets whose skip_if holds;
// past the last target the workflow times out.
func (e *Engine) enterTarget(t *task, idx int) {
	wf := e.workflows[t.workflowSid]
	ws := e.workspaces[t.wsSid]
	targets := wf.config.targets(t.filter)
	for idx < len(targets) && targets[idx].skipIf != nil {
		q := e.queues[targets[idx].queue]
		n := 0
		if q != nil {
			n = len(e.eligibleWorkers(ws, t, q, &targets[idx]))
		}
		env := &exprEnv{workerSide: true, task: t.attrs, worker: map[string]any{},
			extra: map[string]any{"workers.available": float64(n)}}
		if !targets[idx].skipIf.eval(env) {
			break
		}
		idx++
	}
	if t.targetTimer != nil {
		t.targetTimer.Stop()
		t.targetTimer = nil
	}
	if idx >= len(targets) {
		e.emit(ws, "workflow.timeout", "Task "+t.sid+" timed out of Workflow "+wf.friendlyName, "workflow", wf.sid, t, nil, nil, nil)
		e.cancelTask(t, reasonWorkflowTimeout, true)
		return
	}
	tg := targets[idx]
	t.target = idx
	t.targetExpired = false
	t.queueSid = tg.queue
	t.queueEntered = e.now()
	t.priority = t.basePriority
	if tg.priority != nil {
		t.priority = *tg.priority
	}
	t.updated = e.now()
	e.emit(ws, "workflow.target-matched", "Task "+t.sid+" matched a target of Workflow "+wf.friendlyName, "workflow", wf.sid, t, nil, nil,
		map[string]string{
			"WorkflowFilterName":             wf.config.filterName(t.filter),
			"WorkflowFilterExpression":       e.filterExpression(wf, t.filter),
			"WorkflowFilterTargetExpression": tg.expression,
			"WorkflowFilterTargetName":       strconv.Itoa(idx),
		})
	e.emit(ws, "task-queue.entered", "Task "+t.sid+" entered TaskQueue "+e.queueName(tg.queue), "taskqueue", tg.queue, t, nil, nil, nil)
	if tg.timeout != nil {
		// Twilio: "the queue timeout is based on the current age of the Task", not on its entry
		// into the target. A task already older than the timeout leaves the target at once.
		sid, target := t.sid, idx
		left := max(time.Duration(*tg.timeout)*time.Second-e.now().Sub(t.created), 0)
		t.targetTimer = e.cfg.Clock.AfterFunc(left, func() { e.onTargetTimeout(sid, target) })
	}
}

func (e *Engine) filterExpression(wf *workflow, i int) string {
	if i < 0 || i >= len(wf.config.filters) {
		return ""
	}
	return wf.config.filters[i].expression
}

func (e *Engine) onTargetTimeout(taskSid string, target int) {
	e.mu.Lock()
	defer e.unlock()
	t := e.tasks[taskSid]
	if t == nil || !t.open() || t.target != target {
		return
	}
	t.targetTimer = nil
	if len(e.pendingReservations(t)) > 0 {
		// A reserved task moves on only once its reservations are resolved.
		t.targetExpired = true
		return
	}
	e.moveOn(t)
}

// moveOn takes t out of its timed-out target to the next one.
func (e *Engine) moveOn(t *task) {
	ws := e.workspaces[t.wsSid]
	e.emit(ws, "task-queue.timeout", "Task "+t.sid+" timed out of TaskQueue "+e.queueName(t.queueSid), "taskqueue", t.queueSid, t, nil, nil, nil)
	e.enterTarget(t, t.target+1)
	e.dispatch(ws)
}

func (e *Engine) onTaskTTL(taskSid string) {
	e.mu.Lock()
	defer e.unlock()
	t := e.tasks[taskSid]
	if t == nil || !t.open() {
		// Only a task not yet assigned lives by its TTL.
		return
	}
	t.ttlTimer = nil
	e.cancelTask(t, reasonTTL, true)
}

// eligibleWorkers are the workers that may be reserved for t in q now, longest idle first.
func (e *Engine) eligibleWorkers(ws *workspace, t *task, q *taskQueue, tg *routingTarget) []*worker {
	var out []*worker
	for _, w := range e.workers {
		if w.wsSid != ws.sid || !e.activityAvailable(w.activitySid) || t.excluded[w.sid] || e.workerBusy(w.sid) {
			continue
		}
		env := &exprEnv{workerSide: true, task: t.attrs, worker: w.attrs, fields: e.workerFields(w)}
		if !q.targetExpr.eval(env) || (tg != nil && !tg.match.eval(env)) {
			continue
		}
		out = append(out, w)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].idleSince.Equal(out[j].idleSince) {
			return out[i].idleSince.Before(out[j].idleSince)
		}
		return out[i].seq < out[j].seq
	})
	return out
}

// dispatch reserves available workers for the workspace's waiting tasks: highest priority
// first, then oldest, up to each queue's MaxReservedWorkers pending reservations per task.
func (e *Engine) dispatch(ws *workspace) {
	if ws == nil {
		return
	}
	var waiting []*task
	for _, t := range e.tasks {
		if t.wsSid == ws.sid && t.open() && t.queueSid != "" && !t.targetExpired {
			waiting = append(waiting, t)
		}
	}
	sort.Slice(waiting, func(i, j int) bool {
		a, b := waiting[i], waiting[j]
		if a.priority != b.priority {
			return a.priority > b.priority
		}
		if a.queueSid == b.queueSid {
			if q := e.queues[a.queueSid]; q != nil && q.taskOrder == "LIFO" {
				return a.seq > b.seq
			}
		}
		return a.seq < b.seq
	})
	for _, t := range waiting {
		q := e.queues[t.queueSid]
		if q == nil || !t.open() {
			continue
		}
		tg := e.currentTarget(t)
		for len(e.pendingReservations(t)) < q.maxReservedWorkers {
			cands := e.eligibleWorkers(ws, t, q, tg)
			if len(cands) == 0 {
				break
			}
			e.reserve(t, cands[0], q)
		}
	}
}

func (e *Engine) reserve(t *task, w *worker, q *taskQueue) {
	ws := e.workspaces[t.wsSid]
	r := &reservation{record: e.newRecord("WR", t.wsSid), taskSid: t.sid, workerSid: w.sid, status: resPending}
	e.reservations[r.sid] = r
	e.record("reservation", r.sid, resPending, map[string]string{"reservation": r.sid, "task": t.sid, "worker": w.sid})
	e.setTaskStatus(t, taskReserved)
	timeout := defaultReservationTimeout
	if wf := e.workflows[t.workflowSid]; wf != nil && wf.reservationTimeout > 0 {
		timeout = wf.reservationTimeout
	}
	sid := r.sid
	r.timer = e.cfg.Clock.AfterFunc(time.Duration(timeout)*time.Second, func() { e.onReservationTimeout(sid) })
	e.emit(ws, "reservation.created", "Reservation "+r.sid+" created for Worker "+w.friendlyName, "reservation", r.sid, t, w, r, nil)
	if q.reservationActivitySid != "" && q.reservationActivitySid != w.activitySid {
		r.priorActivitySid, r.activityChanged = w.activitySid, true
		e.setWorkerActivity(w, q.reservationActivitySid)
	}
}

func (e *Engine) onReservationTimeout(resSid string) {
	e.mu.Lock()
	defer e.unlock()
	r := e.reservations[resSid]
	if r == nil || r.status != resPending {
		return
	}
	r.timer = nil
	t, w, ws := e.tasks[r.taskSid], e.workers[r.workerSid], e.workspaces[r.wsSid]
	e.setResStatus(r, resTimeout)
	e.emit(ws, "reservation.timeout", "Reservation "+r.sid+" timed out", "reservation", r.sid, t, w, r, nil)
	if w != nil && ws.timeoutActivitySid != "" {
		e.setWorkerActivity(w, ws.timeoutActivitySid)
	}
	if t != nil {
		// The worker is not excluded: the timeout activity keeps her away, and once she is
		// available again she may be offered the task again.
		if e.options.TimeoutsCountAsRejections && e.tooManyRejections(t) {
			return
		}
		e.reservationEnded(t)
	}
}

// reservationEnded: a pending reservation of t ended without being accepted. With none left
// the task is pending again, moves on if its target timed out meanwhile, and is routed again.
func (e *Engine) reservationEnded(t *task) {
	ws := e.workspaces[t.wsSid]
	if t.open() && len(e.pendingReservations(t)) == 0 {
		e.setTaskStatus(t, taskPending)
		if t.targetExpired {
			e.moveOn(t)
			return
		}
	}
	e.dispatch(ws)
}

// reject resolves a pending reservation as rejected; activitySid is the worker's new activity
// (empty: the activity it had before the reservation).
func (e *Engine) reject(r *reservation, activitySid string) {
	t, w, ws := e.tasks[r.taskSid], e.workers[r.workerSid], e.workspaces[r.wsSid]
	e.setResStatus(r, resRejected)
	e.emit(ws, "reservation.rejected", "Reservation "+r.sid+" rejected by Worker", "reservation", r.sid, t, w, r, nil)
	if activitySid == "" && r.activityChanged {
		activitySid = r.priorActivitySid
	}
	if w != nil && activitySid != "" {
		e.setWorkerActivity(w, activitySid)
	}
	if t == nil {
		return
	}
	if e.options.NoReoffer {
		t.excluded[r.workerSid] = true
	}
	if !e.tooManyRejections(t) {
		e.reservationEnded(t)
	}
}

// tooManyRejections counts one more rejection of t and cancels it at Twilio's limit.
func (e *Engine) tooManyRejections(t *task) bool {
	t.rejections++
	if t.rejections >= maxRejections && t.open() {
		e.cancelTask(t, reasonTooManyRejects, true)
		return true
	}
	return false
}

// accept resolves a pending reservation as accepted: the task is assigned and its other
// pending reservations are rescinded.
func (e *Engine) accept(r *reservation) {
	t, w, ws := e.tasks[r.taskSid], e.workers[r.workerSid], e.workspaces[r.wsSid]
	e.setResStatus(r, resAccepted)
	e.setTaskStatus(t, taskAssigned)
	if t.targetTimer != nil {
		t.targetTimer.Stop()
		t.targetTimer = nil
	}
	if t.ttlTimer != nil {
		t.ttlTimer.Stop()
		t.ttlTimer = nil
	}
	e.emit(ws, "reservation.accepted", "Reservation "+r.sid+" accepted by Worker "+w.friendlyName, "reservation", r.sid, t, w, r, nil)
	for _, other := range e.pendingReservations(t) {
		e.setResStatus(other, resRescinded)
		e.emit(ws, "reservation.rescinded", "Reservation "+other.sid+" rescinded", "reservation", other.sid, t, e.workers[other.workerSid], other, nil)
		e.restoreActivity(other)
	}
	if q := e.queues[t.queueSid]; q != nil && q.assignmentActivitySid != "" && q.assignmentActivitySid != w.activitySid {
		if !r.activityChanged {
			r.priorActivitySid, r.activityChanged = w.activitySid, true
		}
		e.setWorkerActivity(w, q.assignmentActivitySid)
	}
	e.dispatch(ws)
}

// restoreActivity gives the worker of an ended reservation back the activity it had before
// the queue's ReservationActivitySid or AssignmentActivitySid moved it.
func (e *Engine) restoreActivity(r *reservation) {
	if w := e.workers[r.workerSid]; w != nil && r.activityChanged {
		e.setWorkerActivity(w, r.priorActivitySid)
	}
}

func (e *Engine) assignedReservation(t *task) *reservation {
	for _, r := range e.taskReservations(t) {
		if r.status == resAccepted || r.status == resWrapping {
			return r
		}
	}
	return nil
}

// wrap moves an assigned task and its reservation to wrapping.
func (e *Engine) wrap(t *task) {
	ws := e.workspaces[t.wsSid]
	r := e.assignedReservation(t)
	var w *worker
	if r != nil {
		w = e.workers[r.workerSid]
		if r.status != resWrapping {
			e.setResStatus(r, resWrapping)
			e.emit(ws, "reservation.wrapup", "Reservation "+r.sid+" wrapping", "reservation", r.sid, t, w, r, nil)
		}
	}
	e.setTaskStatus(t, taskWrapping)
	e.emit(ws, "task.wrapup", "Task "+t.sid+" wrapping", "task", t.sid, t, w, nil, nil)
}

// complete ends an assigned or wrapping task; the worker is free again, in its post-work
// activity if <Dial><Queue postWorkActivitySid> gave one, else in the one it had before.
func (e *Engine) complete(t *task, reason string) {
	ws := e.workspaces[t.wsSid]
	r := e.assignedReservation(t)
	t.reason = reason
	var w *worker
	if r != nil {
		w = e.workers[r.workerSid]
		e.setResStatus(r, resCompleted)
		e.emit(ws, "reservation.completed", "Reservation "+r.sid+" completed", "reservation", r.sid, t, w, r, nil)
	}
	e.setTaskStatus(t, taskCompleted)
	e.emit(ws, "task.completed", "Task "+t.sid+" completed", "task", t.sid, t, w, nil, nil)
	if r != nil && w != nil {
		switch {
		case r.postWorkActivitySid != "":
			e.setWorkerActivity(w, r.postWorkActivitySid)
		case r.activityChanged:
			e.setWorkerActivity(w, r.priorActivitySid)
		}
	}
	e.scheduleCleanup(t)
	e.dispatch(ws)
}

// cancelTask cancels a pending or reserved task and its pending reservations. notify tells
// the QueueListener, for a task holding a call that the caller did not leave himself.
func (e *Engine) cancelTask(t *task, reason string, notify bool) {
	ws := e.workspaces[t.wsSid]
	t.reason = reason
	for _, tm := range []clock.Timer{t.targetTimer, t.ttlTimer} {
		if tm != nil {
			tm.Stop()
		}
	}
	t.targetTimer, t.ttlTimer = nil, nil
	e.setTaskStatus(t, taskCanceled)
	e.emit(ws, "task.canceled", "Task "+t.sid+" canceled: "+reason, "task", t.sid, t, nil, nil, nil)
	for _, r := range e.pendingReservations(t) {
		e.setResStatus(r, resCanceled)
		e.emit(ws, "reservation.canceled", "Reservation "+r.sid+" canceled", "reservation", r.sid, t, e.workers[r.workerSid], r, nil)
		e.restoreActivity(r)
	}
	callSid, _ := t.attrs["call_sid"].(string)
	if notify && e.listener != nil && callSid != "" {
		l, taskSid := e.listener, t.sid
		e.after = append(e.after, func() { l.TaskCanceled(context.Background(), taskSid, callSid, reason) })
	}
	e.scheduleCleanup(t)
	e.dispatch(ws)
}

// scheduleCleanup deletes a completed or canceled task after Twilio's retention of 5 minutes.
func (e *Engine) scheduleCleanup(t *task) {
	sid := t.sid
	e.cfg.Clock.AfterFunc(retention, func() {
		e.mu.Lock()
		defer e.unlock()
		t := e.tasks[sid]
		if t == nil || (t.status != taskCompleted && t.status != taskCanceled) {
			return
		}
		e.emit(e.workspaces[t.wsSid], "task.system-deleted", "Task "+t.sid+" deleted by the system", "task", t.sid, t, nil, nil, nil)
		e.removeTask(t)
	})
}

func (e *Engine) removeTask(t *task) {
	for _, tm := range []clock.Timer{t.targetTimer, t.ttlTimer} {
		if tm != nil {
			tm.Stop()
		}
	}
	for _, r := range e.taskReservations(t) {
		if r.timer != nil {
			r.timer.Stop()
		}
		delete(e.reservations, r.sid)
		if w := e.workers[r.workerSid]; w != nil && r.active() {
			w.idleSince = e.now()
		}
	}
	delete(e.tasks, t.sid)
	e.record("task", t.sid, "deleted", map[string]string{"task": t.sid})
}

// The Voice engine's side (twilioapi.TaskRouter).

// EnqueueCall creates the task of a call that entered <Enqueue workflowSid>.
func (e *Engine) EnqueueCall(_ context.Context, req twilioapi.EnqueueRequest) (string, error) {
	e.mu.Lock()
	defer e.unlock()
	wf := e.workflows[req.WorkflowSid]
	if wf == nil {
		return "", twilioapi.NotFound("Workflows", req.WorkflowSid)
	}
	attrs := req.Attributes
	if attrs == nil {
		attrs = map[string]any{}
	}
	raw, err := jsonString(attrs)
	if err != nil {
		return "", twilioapi.InvalidParam("Attributes", err.Error())
	}
	t := e.newTask(wf.wsSid)
	t.workflowSid, t.channel = wf.sid, "voice"
	// Round-trip so the engine sees what a REST client would (numbers as float64).
	t.attributes = raw
	t.attrs, _ = parseAttributes(raw)
	if req.Priority != nil {
		t.priority, t.basePriority = *req.Priority, *req.Priority
	}
	if req.Timeout != nil && *req.Timeout > 0 {
		t.timeout = *req.Timeout
	}
	e.startTask(t)
	return t.sid, nil
}

// CallerLeftQueue cancels the task of a caller who left the queue before being bridged.
func (e *Engine) CallerLeftQueue(_ context.Context, taskSid, reason string) error {
	e.mu.Lock()
	defer e.unlock()
	t := e.tasks[taskSid]
	if t == nil {
		return twilioapi.NotFound("Tasks", taskSid)
	}
	if !t.open() {
		return nil
	}
	if reason == "" {
		reason = "caller left the queue"
	}
	e.cancelTask(t, reason, false)
	return nil
}

// DequeueReservation accepts a pending reservation for <Dial><Queue reservationSid>.
func (e *Engine) DequeueReservation(_ context.Context, reservationSid, postWorkActivitySid string) (twilioapi.DequeuedTask, error) {
	e.mu.Lock()
	defer e.unlock()
	r := e.reservations[reservationSid]
	if r == nil || r.status != resPending {
		// Twilio's error 14215 "Dial->Queue: Invalid ReservationSid. Unable to dequeue": the
		// reservation is unknown, already accepted, or no longer pending.
		return twilioapi.DequeuedTask{}, twilioapi.Errorf(http.StatusBadRequest, 14215,
			"Dial->Queue: Invalid ReservationSid %s. Unable to dequeue", reservationSid)
	}
	if postWorkActivitySid != "" && e.activities[postWorkActivitySid] != nil {
		r.postWorkActivitySid = postWorkActivitySid
	}
	e.accept(r)
	t := e.tasks[r.taskSid]
	callSid, _ := t.attrs["call_sid"].(string)
	return twilioapi.DequeuedTask{WorkspaceSid: r.wsSid, TaskSid: t.sid, WorkerSid: r.workerSid, CallSid: callSid}, nil
}

// BridgeEnded moves the task of an ended bridged call, and its reservation, to wrapping.
func (e *Engine) BridgeEnded(_ context.Context, taskSid string) error {
	e.mu.Lock()
	defer e.unlock()
	t := e.tasks[taskSid]
	if t == nil {
		return twilioapi.NotFound("Tasks", taskSid)
	}
	if t.status != taskAssigned {
		// Already wrapping or completed (the application was quicker): nothing to do.
		return nil
	}
	e.wrap(t)
	return nil
}

// Introspection, for tests and the demo. Each returns a copy.

// Task returns a copy of the task's state.
func (e *Engine) Task(sid string) (Task, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tasks[sid]
	if t == nil {
		return Task{}, false
	}
	attrs, _ := parseAttributes(t.attributes)
	return Task{Sid: t.sid, WorkspaceSid: t.wsSid, WorkflowSid: t.workflowSid, TaskQueueSid: t.queueSid,
		AssignmentStatus: t.status, Reason: t.reason, Attributes: attrs, Priority: t.priority, Timeout: t.timeout,
		TaskChannel: t.channel, DateCreated: t.created, DateUpdated: t.updated}, true
}

// Reservation returns a copy of the reservation's state.
func (e *Engine) Reservation(sid string) (Reservation, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.reservations[sid]
	if r == nil {
		return Reservation{}, false
	}
	return copyReservation(r), true
}

// TaskReservations returns copies of the task's reservations, oldest first.
func (e *Engine) TaskReservations(taskSid string) []Reservation {
	e.mu.Lock()
	defer e.mu.Unlock()
	t := e.tasks[taskSid]
	if t == nil {
		return nil
	}
	var out []Reservation
	for _, r := range e.taskReservations(t) {
		out = append(out, copyReservation(r))
	}
	return out
}

func copyReservation(r *reservation) Reservation {
	return Reservation{Sid: r.sid, WorkspaceSid: r.wsSid, TaskSid: r.taskSid, WorkerSid: r.workerSid,
		ReservationStatus: r.status, DateCreated: r.created, DateUpdated: r.updated}
}

// Worker returns a copy of the worker's state.
func (e *Engine) Worker(sid string) (Worker, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	w := e.workers[sid]
	if w == nil {
		return Worker{}, false
	}
	attrs, _ := parseAttributes(w.attributes)
	return Worker{Sid: w.sid, WorkspaceSid: w.wsSid, FriendlyName: w.friendlyName, ActivitySid: w.activitySid,
		ActivityName: e.activityName(w.activitySid), Available: e.activityAvailable(w.activitySid), Attributes: attrs}, true
}

// Tasks returns copies of every task the engine still holds, oldest first (completed and
// canceled tasks are deleted 5 minutes after they end, as in Twilio).
func (e *Engine) Tasks() []Task { return copiesOf(e, e.tasks, e.Task) }

// Workers returns copies of every worker, oldest first.
func (e *Engine) Workers() []Worker { return copiesOf(e, e.workers, e.Worker) }

// copiesOf answers copyOf of every resource of m in every workspace, oldest first, leaving out
// the ones gone by the time they are copied.
func copiesOf[P recorded, C any](e *Engine, m map[string]P, copyOf func(sid string) (C, bool)) []C {
	e.mu.Lock()
	items := inOrder(m, "")
	e.mu.Unlock()
	out := make([]C, 0, len(items))
	for _, x := range items {
		if c, ok := copyOf(x.rec().sid); ok {
			out = append(out, c)
		}
	}
	return out
}
