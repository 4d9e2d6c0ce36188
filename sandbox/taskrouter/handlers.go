package taskrouter

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"queuebridge/sandbox/internal/twilioapi"
)

// The resources' REST handlers: per resource, its kind, its parameter tables and what Twilio
// does beyond storing parameters. rest.go has the machinery.

var (
	workspaceKind = &kind[*workspace]{name: "Workspaces", key: "workspaces", param: "ws",
		all: func(e *Engine) map[string]*workspace { return e.workspaces }, render: (*Engine).renderWorkspace}
	activityKind = &kind[*activity]{name: "Activities", key: "activities", param: "sid",
		all: func(e *Engine) map[string]*activity { return e.activities }, render: (*Engine).renderActivity}
	queueKind = &kind[*taskQueue]{name: "TaskQueues", key: "task_queues", param: "sid",
		all: func(e *Engine) map[string]*taskQueue { return e.queues }, render: (*Engine).renderQueue}
	workerKind = &kind[*worker]{name: "Workers", key: "workers", param: "sid", etag: true,
		all: func(e *Engine) map[string]*worker { return e.workers }, render: (*Engine).renderWorker}
	workflowKind = &kind[*workflow]{name: "Workflows", key: "workflows", param: "sid",
		all: func(e *Engine) map[string]*workflow { return e.workflows }, render: (*Engine).renderWorkflow}
	taskKind = &kind[*task]{name: "Tasks", key: "tasks", param: "sid", etag: true,
		all: func(e *Engine) map[string]*task { return e.tasks }, render: (*Engine).renderTask}
)

// matches is a list filter on one query parameter: want is what it asks for ("": anything).
func matches(want, got string) bool { return want == "" || want == got }

// orKeep is how FriendlyName and the like are updated: an empty value changes nothing.
func orKeep(s, old string) string {
	if s == "" {
		return old
	}
	return s
}

// Workspaces. A workspace's record is in itself, so the generic lookups find it by {ws}.

var workspaceParams = []param[*workspace]{
	{"DefaultActivitySid", activityIn, func(ws *workspace, v value) { ws.defaultActivitySid = v.s }},
	{"TimeoutActivitySid", activityIn, func(ws *workspace, v value) { ws.timeoutActivitySid = v.s }},
	{"EventCallbackUrl", callbackURL, func(ws *workspace, v value) { ws.eventCallbackURL = v.s }},
	{"MultiTaskEnabled", boolean, func(ws *workspace, v value) { ws.multiTaskEnabled = v.b }},
	{"PrioritizeQueueOrder", oneOf("FIFO", "LIFO"), func(ws *workspace, v value) { ws.queueOrder = v.s }},
	{"EventsFilter", nil, func(ws *workspace, v value) { ws.eventsFilter = v.s }},
	{"FriendlyName", nil, func(ws *workspace, v value) { ws.friendlyName = orKeep(v.s, ws.friendlyName) }},
}

// newWorkspaceParams are what a create reads besides FriendlyName; PrioritizeQueueOrder may be
// empty there.
var newWorkspaceParams = []param[*workspace]{
	{"MultiTaskEnabled", boolean, func(ws *workspace, v value) { ws.multiTaskEnabled = v.b }},
	{"PrioritizeQueueOrder", emptyAs("FIFO", oneOf("FIFO", "LIFO")), func(ws *workspace, v value) { ws.queueOrder = v.s }},
	{"EventCallbackUrl", callbackURL, func(ws *workspace, v value) { ws.eventCallbackURL = v.s }},
	{"EventsFilter", nil, func(ws *workspace, v value) { ws.eventsFilter = v.s }},
}

func (e *Engine) listWorkspaces(r *http.Request, base string) (*reply, error) {
	name := r.URL.Query().Get("FriendlyName")
	return listed(e, base, workspaceKind, "", func(ws *workspace) bool { return matches(name, ws.friendlyName) }), nil
}

func (e *Engine) createWorkspace(r *http.Request, base string) (*reply, error) {
	if err := required(r, "FriendlyName"); err != nil {
		return nil, err
	}
	ws := &workspace{record: e.newRecord("WS", ""), friendlyName: r.PostForm.Get("FriendlyName"),
		multiTaskEnabled: true, queueOrder: "FIFO", channels: map[string]string{}}
	ws.wsSid = ws.sid
	if err := applyParams(e, r, ws, ws, newWorkspaceParams); err != nil {
		return nil, err
	}
	e.workspaces[ws.sid] = ws
	// Twilio gives every new workspace these activities, Offline being the default one, and
	// these task channels.
	for _, a := range []struct {
		name      string
		available bool
	}{{"Offline", false}, {"Available", true}, {"Unavailable", false}} {
		act := e.newActivity(ws, a.name, a.available)
		if a.name == "Offline" {
			ws.defaultActivitySid, ws.timeoutActivitySid = act.sid, act.sid
		}
	}
	for _, ch := range channelNames {
		ws.channels[ch.unique] = twilioapi.NewSID("TC")
	}
	e.record("workspace", ws.sid, "created", map[string]string{"workspace": ws.sid})
	return created(e.renderWorkspace(base, ws)), nil
}

func (e *Engine) newActivity(ws *workspace, name string, available bool) *activity {
	a := &activity{record: e.newRecord("WA", ws.sid), friendlyName: name, available: available}
	e.activities[a.sid] = a
	return a
}

func (e *Engine) deleteWorkspace(r *http.Request, _ string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	for _, t := range e.tasks {
		if t.wsSid == ws.sid {
			e.removeTask(t)
		}
	}
	dropIn(e.activities, ws.sid)
	dropIn(e.queues, ws.sid)
	dropIn(e.workers, ws.sid)
	dropIn(e.workflows, ws.sid)
	delete(e.workspaces, ws.sid)
	if s := e.senders[ws.sid]; s != nil {
		delete(e.senders, ws.sid)
		// Let the sender finish what is queued, without waiting for it here under the lock.
		go s.drainAndClose()
	}
	return noContent(), nil
}

func dropIn[P recorded](m map[string]P, ws string) {
	maps.DeleteFunc(m, func(_ string, x P) bool { return x.rec().wsSid == ws })
}

// Activities.

func (e *Engine) listActivities(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	avail, availGiven := queryBool(q, "Available")
	return listed(e, base, activityKind, ws.sid, func(a *activity) bool {
		return matches(q.Get("FriendlyName"), a.friendlyName) && (!availGiven || a.available == avail)
	}), nil
}

func (e *Engine) createActivity(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	if err := required(r, "FriendlyName"); err != nil {
		return nil, err
	}
	name := r.PostForm.Get("FriendlyName")
	for _, a := range e.activities {
		if a.wsSid == ws.sid && a.friendlyName == name {
			return nil, twilioapi.Errorf(http.StatusBadRequest, 20001, "Activity with FriendlyName %q already exists in Workspace %s", name, ws.sid)
		}
	}
	avail, _, err := formValue(e, r, ws, "Available", boolean)
	if err != nil {
		return nil, err
	}
	return created(e.renderActivity(base, e.newActivity(ws, name, avail.b))), nil
}

// updateActivity changes only the name, and the date only when it does.
func (e *Engine) updateActivity(r *http.Request, base string) (*reply, error) {
	_, a, err := lookup(e, r, activityKind, "sid")
	if err != nil {
		return nil, err
	}
	if v := r.PostForm.Get("FriendlyName"); v != "" {
		a.friendlyName = v
		a.updated = e.now()
	}
	return ok(e.renderActivity(base, a)), nil
}

func (e *Engine) activityInUse(ws *workspace, a *activity) error {
	inUse := ws.defaultActivitySid == a.sid || ws.timeoutActivitySid == a.sid
	for _, w := range e.workers {
		inUse = inUse || w.activitySid == a.sid
	}
	for _, q := range e.queues {
		inUse = inUse || q.reservationActivitySid == a.sid || q.assignmentActivitySid == a.sid
	}
	if inUse {
		return twilioapi.Errorf(http.StatusBadRequest, 20001, "Activity %s is in use and cannot be deleted", a.sid)
	}
	return nil
}

// TaskQueues.

var queueParams = []param[*taskQueue]{
	{"FriendlyName", nil, func(q *taskQueue, v value) { q.friendlyName = orKeep(v.s, q.friendlyName) }},
	{"TargetWorkers", targetWorkers, func(q *taskQueue, v value) { q.targetWorkers, q.targetExpr = v.s, v.x.(expr) }},
	{"MaxReservedWorkers", integer(1, 50), func(q *taskQueue, v value) { q.maxReservedWorkers = v.n }},
	{"TaskOrder", oneOf("FIFO", "LIFO"), func(q *taskQueue, v value) { q.taskOrder = v.s }},
	{"ReservationActivitySid", optional(activityIn), func(q *taskQueue, v value) { q.reservationActivitySid = v.s }},
	{"AssignmentActivitySid", optional(activityIn), func(q *taskQueue, v value) { q.assignmentActivitySid = v.s }},
}

// targetWorkers parses a queue's TargetWorkers; empty means every worker.
func targetWorkers(_ *Engine, _ *workspace, _, s string) (value, error) {
	if s == "" {
		s = "1==1"
	}
	x, err := parseExpr(s)
	if err != nil {
		return value{}, twilioapi.Errorf(http.StatusBadRequest, 20001, "Invalid TargetWorkers: %v", err)
	}
	return value{s: s, x: x}, nil
}

func (e *Engine) listQueues(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	qv := r.URL.Query()
	var w *worker
	if sid := qv.Get("WorkerSid"); sid != "" {
		if w = e.workers[sid]; w == nil || w.wsSid != ws.sid {
			return list("task_queues", nil), nil
		}
	}
	// EvaluateWorkerAttributes stands for a worker with those attributes, in place of WorkerSid's.
	if s := qv.Get("EvaluateWorkerAttributes"); s != "" {
		attrs, valid := parseAttributes(s)
		if !valid {
			return nil, twilioapi.InvalidParam("EvaluateWorkerAttributes", s)
		}
		w = &worker{attrs: attrs}
	}
	return listed(e, base, queueKind, ws.sid, func(q *taskQueue) bool {
		return matches(qv.Get("FriendlyName"), q.friendlyName) &&
			(w == nil || q.targetExpr.eval(&exprEnv{workerSide: true, worker: w.attrs, task: map[string]any{}}))
	}), nil
}

func (e *Engine) createQueue(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	if err := required(r, "FriendlyName"); err != nil {
		return nil, err
	}
	q := &taskQueue{record: e.newRecord("WQ", ws.sid), targetWorkers: "1==1", targetExpr: constExpr(true),
		maxReservedWorkers: 1, taskOrder: "FIFO"}
	return create(e, r, base, queueKind, ws, q, queueParams)
}

// queueUpdated offers the queue's tasks to the workers its new parameters let in.
func (e *Engine) queueUpdated(_ *http.Request, ws *workspace, _ *taskQueue) { e.dispatch(ws) }

func (e *Engine) queueInUse(_ *workspace, q *taskQueue) error {
	for _, t := range e.tasks {
		if t.queueSid == q.sid && t.status != taskCompleted && t.status != taskCanceled {
			return twilioapi.Errorf(http.StatusBadRequest, 20001, "TaskQueue %s has tasks and cannot be deleted", q.sid)
		}
	}
	for _, wf := range e.workflows {
		if strings.Contains(wf.configuration, q.sid) {
			return twilioapi.Errorf(http.StatusBadRequest, 20001, "TaskQueue %s is used by Workflow %s and cannot be deleted", q.sid, wf.sid)
		}
	}
	return nil
}

// Workers.

// newWorkerParams are what a create reads besides FriendlyName.
var newWorkerParams = []param[*worker]{
	{"Attributes", emptyAs("{}", attributes), func(w *worker, v value) { w.attributes, w.attrs = v.s, v.x.(map[string]any) }},
	{"ActivitySid", optional(activityIn), func(w *worker, v value) { w.activitySid = orKeep(v.s, w.activitySid) }},
}

func (e *Engine) listWorkers(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	qv := r.URL.Query()
	avail, availGiven := queryBool(qv, "Available")
	var target expr
	if s := qv.Get("TargetWorkersExpression"); s != "" {
		if target, err = parseExpr(s); err != nil {
			return nil, twilioapi.Errorf(http.StatusBadRequest, 20001, "Invalid TargetWorkersExpression: %v", err)
		}
	}
	// TaskQueueName, when given, names the queue in place of TaskQueueSid.
	var queue *taskQueue
	if sid := qv.Get("TaskQueueSid"); sid != "" {
		if queue = e.queues[sid]; queue == nil {
			return list("workers", nil), nil
		}
	}
	if name := qv.Get("TaskQueueName"); name != "" {
		queue = nil
		for _, q := range e.queues {
			if q.wsSid == ws.sid && q.friendlyName == name {
				queue = q
			}
		}
		if queue == nil {
			return list("workers", nil), nil
		}
	}
	return listed(e, base, workerKind, ws.sid, func(w *worker) bool {
		env := &exprEnv{workerSide: true, worker: w.attrs, task: map[string]any{}}
		return matches(qv.Get("ActivitySid"), w.activitySid) &&
			matches(qv.Get("ActivityName"), e.activityName(w.activitySid)) &&
			matches(qv.Get("FriendlyName"), w.friendlyName) &&
			(!availGiven || e.activityAvailable(w.activitySid) == avail) &&
			(target == nil || target.eval(env)) && (queue == nil || queue.targetExpr.eval(env))
	}), nil
}

func (e *Engine) createWorker(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	if err := required(r, "FriendlyName"); err != nil {
		return nil, err
	}
	name := r.PostForm.Get("FriendlyName")
	for _, w := range e.workers {
		if w.wsSid == ws.sid && w.friendlyName == name {
			return nil, twilioapi.Errorf(http.StatusBadRequest, 20001, "Worker with FriendlyName %q already exists in Workspace %s", name, ws.sid)
		}
	}
	w := &worker{record: e.newRecord("WK", ws.sid), friendlyName: name, attributes: "{}", attrs: map[string]any{},
		activitySid: ws.defaultActivitySid}
	if err := applyParams(e, r, ws, w, newWorkerParams); err != nil {
		return nil, err
	}
	w.statusChanged, w.idleSince = w.created, w.created
	e.workers[w.sid] = w
	e.record("worker", w.sid, "activity: "+e.activityName(w.activitySid), map[string]string{"worker": w.sid, "activity": w.activitySid})
	e.dispatch(ws)
	return workerKind.answer(e, created, base, w), nil
}

func (e *Engine) updateWorker(r *http.Request, base string) (*reply, error) {
	ws, w, err := lookup(e, r, workerKind, "sid")
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(r, w.version); err != nil {
		return nil, err
	}
	act, actGiven, err := formValue(e, r, ws, "ActivitySid", activityIn)
	if err != nil {
		return nil, err
	}
	attrs, attrsGiven, err := formValue(e, r, ws, "Attributes", attributes)
	if err != nil {
		return nil, err
	}
	rejectPending, _, err := formValue(e, r, ws, "RejectPendingReservations", boolean)
	if err != nil {
		return nil, err
	}
	if name := r.PostForm.Get("FriendlyName"); name != "" && name != w.friendlyName {
		w.friendlyName = name
		w.updated = e.now()
		w.version++
	}
	if attrsGiven {
		w.attributes, w.attrs = attrs.s, attrs.x.(map[string]any)
		w.updated = e.now()
		w.version++
		e.record("worker", w.sid, "attributes", map[string]string{"worker": w.sid, "attributes": attrs.s})
		e.emit(ws, "worker.attributes.update", "Worker "+w.friendlyName+" attributes updated", "worker", w.sid, nil, w, nil, nil)
	}
	if actGiven {
		var pending []*reservation
		if rejectPending.b && !e.activityAvailable(act.s) {
			for _, res := range inOrder(e.reservations, ws.sid) {
				if res.workerSid == w.sid && res.status == resPending {
					pending = append(pending, res)
				}
			}
		}
		// Each rejection leaves the worker in the new activity, so she is not reserved again.
		for _, res := range pending {
			e.reject(res, act.s)
		}
		e.setWorkerActivity(w, act.s)
	}
	e.dispatch(ws)
	return workerKind.answer(e, ok, base, w), nil
}

func (e *Engine) workerInUse(_ *workspace, w *worker) error {
	if e.workerBusy(w.sid) {
		return twilioapi.Errorf(http.StatusBadRequest, 20001, "Worker %s has a pending or assigned reservation and cannot be deleted", w.sid)
	}
	return nil
}

// Workflows.

var workflowParams = []param[*workflow]{
	{"FriendlyName", nil, func(wf *workflow, v value) { wf.friendlyName = orKeep(v.s, wf.friendlyName) }},
	{"Configuration", routing, func(wf *workflow, v value) { wf.configuration, wf.config = v.s, v.x.(*routingConfig) }},
	{"TaskReservationTimeout", integer(1, 86400), func(wf *workflow, v value) { wf.reservationTimeout = v.n }},
	{"AssignmentCallbackUrl", callbackURL, func(wf *workflow, v value) { wf.assignmentCallbackURL = v.s }},
	{"FallbackAssignmentCallbackUrl", callbackURL, func(wf *workflow, v value) { wf.fallbackCallbackURL = v.s }},
}

// routing parses a workflow's Configuration, whose queues must be the workspace's.
func routing(e *Engine, ws *workspace, _, s string) (value, error) {
	cfg, err := parseRoutingConfig(s, func(sid string) bool {
		q := e.queues[sid]
		return q != nil && q.wsSid == ws.sid
	})
	if err != nil {
		return value{}, twilioapi.Errorf(http.StatusBadRequest, 20001, "Invalid Configuration: %v", err)
	}
	return value{s: s, x: cfg}, nil
}

func (e *Engine) listWorkflows(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	name := r.URL.Query().Get("FriendlyName")
	return listed(e, base, workflowKind, ws.sid, func(wf *workflow) bool { return matches(name, wf.friendlyName) }), nil
}

func (e *Engine) createWorkflow(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	if err := required(r, "FriendlyName", "Configuration"); err != nil {
		return nil, err
	}
	wf := &workflow{record: e.newRecord("WW", ws.sid), reservationTimeout: defaultReservationTimeout}
	return create(e, r, base, workflowKind, ws, wf, workflowParams)
}

// workflowUpdated routes the workflow's waiting tasks again when the update asks for it.
func (e *Engine) workflowUpdated(r *http.Request, ws *workspace, wf *workflow) {
	if reeval, _, _ := formValue(e, r, ws, "ReEvaluateTasks", boolean); !reeval.b {
		return
	}
	for _, t := range inOrder(e.tasks, ws.sid) {
		if t.workflowSid == wf.sid && t.status == taskPending {
			e.route(t)
		}
	}
	e.dispatch(ws)
}

func (e *Engine) workflowInUse(_ *workspace, wf *workflow) error {
	for _, t := range e.tasks {
		if t.workflowSid == wf.sid && t.status != taskCompleted && t.status != taskCanceled {
			return twilioapi.Errorf(http.StatusBadRequest, 20001, "Workflow %s has active tasks and cannot be deleted", wf.sid)
		}
	}
	return nil
}

// Tasks.

const maxPriority = 1<<31 - 1

// newTask is what a create reads, besides the workflow, before the engine makes the task.
type newTask struct {
	attributes        string
	attrs             map[string]any
	priority, timeout int
	channel           string
}

var newTaskParams = []param[*newTask]{
	{"Attributes", emptyAs("{}", attributes), func(t *newTask, v value) { t.attributes, t.attrs = v.s, v.x.(map[string]any) }},
	{"Priority", integer(0, maxPriority), func(t *newTask, v value) { t.priority = v.n }},
	{"Timeout", integer(1, maxTaskTimeout), func(t *newTask, v value) { t.timeout = v.n }},
	{"TaskChannel", emptyAs("default", taskChannel), func(t *newTask, v value) { t.channel = v.s }},
}

// taskChannel reads a unique name or a TC SID as the channel's unique name.
func taskChannel(_ *Engine, ws *workspace, name, s string) (value, error) {
	for unique, sid := range ws.channels {
		if s == unique || s == sid {
			return value{s: unique}, nil
		}
	}
	return value{}, twilioapi.InvalidParam(name, s)
}

func (e *Engine) listTasks(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	qv := r.URL.Query()
	statuses := map[string]bool{}
	for _, v := range qv["AssignmentStatus"] {
		for _, s := range strings.Split(v, ",") {
			statuses[strings.TrimSpace(s)] = true
		}
	}
	var evalTask expr
	if s := qv.Get("EvaluateTaskAttributes"); s != "" {
		if evalTask, err = parseExpr(s); err != nil {
			return nil, twilioapi.Errorf(http.StatusBadRequest, 20001, "Invalid EvaluateTaskAttributes: %v", err)
		}
	}
	rp := listed(e, base, taskKind, ws.sid, func(t *task) bool {
		return (len(statuses) == 0 || statuses[t.status]) &&
			matches(qv.Get("WorkflowSid"), t.workflowSid) && matches(qv.Get("WorkflowName"), e.workflowName(t.workflowSid)) &&
			matches(qv.Get("TaskQueueSid"), t.queueSid) && matches(qv.Get("TaskQueueName"), e.queueName(t.queueSid)) &&
			matches(qv.Get("Priority"), strconv.Itoa(t.priority)) && (evalTask == nil || evalTask.eval(&exprEnv{task: t.attrs}))
	})
	if strings.HasPrefix(qv.Get("Ordering"), "DateCreated:desc") {
		for i, j := 0, len(rp.items)-1; i < j; i, j = i+1, j-1 {
			rp.items[i], rp.items[j] = rp.items[j], rp.items[i]
		}
	}
	return rp, nil
}

func (e *Engine) createTaskREST(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	var wf *workflow
	if sid := r.PostForm.Get("WorkflowSid"); sid != "" {
		if wf = e.workflows[sid]; wf == nil || wf.wsSid != ws.sid {
			return nil, twilioapi.InvalidParam("WorkflowSid", sid)
		}
	} else if wfs := inOrder(e.workflows, ws.sid); len(wfs) == 1 {
		wf = wfs[0] // Twilio uses the workspace's only workflow when none is named.
	} else {
		return nil, twilioapi.MissingParam("WorkflowSid")
	}
	nt := &newTask{attributes: "{}", attrs: map[string]any{}, timeout: defaultTaskTimeout, channel: "default"}
	if err := applyParams(e, r, ws, nt, newTaskParams); err != nil {
		return nil, err
	}
	t := e.createTask(ws, wf, nt.attributes, nt.attrs, nt.priority, nt.timeout, nt.channel)
	return taskKind.answer(e, created, base, t), nil
}

func (e *Engine) updateTask(r *http.Request, base string) (*reply, error) {
	ws, t, err := lookup(e, r, taskKind, "sid")
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(r, t.version); err != nil {
		return nil, err
	}
	attrs, attrsGiven, err := formValue(e, r, ws, "Attributes", attributes)
	if err != nil {
		return nil, err
	}
	priority, priorityGiven, err := formValue(e, r, ws, "Priority", integer(0, maxPriority))
	if err != nil {
		return nil, err
	}
	status, statusGiven, _ := formValue(e, r, ws, "AssignmentStatus", nil)
	reason := r.PostForm.Get("Reason")
	if statusGiven {
		if err := checkTaskTransition(t, status.s, reason); err != nil {
			return nil, err
		}
	}
	if attrsGiven || priorityGiven {
		if attrsGiven {
			t.attributes, t.attrs = attrs.s, attrs.x.(map[string]any)
		}
		if priorityGiven {
			t.priority, t.basePriority = priority.n, priority.n
		}
		t.updated = e.now()
		t.version++
		e.emit(ws, "task.updated", "Task "+t.sid+" updated", "task", t.sid, t, nil, nil, nil)
		// A waiting task is evaluated against the workflow again with its new attributes.
		if attrsGiven && t.status == taskPending {
			e.route(t)
		}
	}
	if statusGiven {
		switch status.s {
		case taskCanceled:
			e.cancelTask(t, reason, true)
		case taskWrapping:
			e.wrap(t)
		case taskCompleted:
			e.complete(t, reason)
		}
	}
	e.dispatch(ws)
	return taskKind.answer(e, ok, base, t), nil
}

// checkTaskTransition refuses what Twilio refuses, with Twilio's messages.
func checkTaskTransition(t *task, status, reason string) error {
	refuse := func(format string) error {
		return twilioapi.Errorf(http.StatusBadRequest, 20001, format, t.sid, t.wsSid)
	}
	switch {
	case status != taskCanceled && status != taskCompleted && status != taskWrapping:
		return twilioapi.InvalidParam("AssignmentStatus", status)
	case status != taskWrapping && reason == "":
		return twilioapi.MissingParam("Reason")
	case status == taskCanceled && !t.open():
		return refuse("Cannot cancel task %s in workspace %s because it is not pending or reserved")
	case status == taskCompleted && t.status != taskAssigned && t.status != taskWrapping:
		return refuse("Cannot complete task %s in workspace %s because it is not assigned or wrapping")
	case status == taskWrapping && t.status != taskAssigned:
		return refuse("Cannot wrap up task %s in workspace %s because it's not currently assigned")
	}
	return nil
}

func (e *Engine) deleteTask(r *http.Request, _ string) (*reply, error) {
	ws, t, err := lookup(e, r, taskKind, "sid")
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(r, t.version); err != nil {
		return nil, err
	}
	e.emit(ws, "task.deleted", "Task "+t.sid+" deleted", "task", t.sid, t, nil, nil, nil)
	e.removeTask(t)
	e.dispatch(ws)
	return noContent(), nil
}

// Reservations, under Tasks and under Workers (viaWorker), where they render their own URL.

func (e *Engine) listReservations(viaWorker bool) handlerFunc {
	return func(r *http.Request, base string) (*reply, error) {
		ws, parent, err := e.reservationParent(r, viaWorker)
		if err != nil {
			return nil, err
		}
		qv := r.URL.Query()
		var items []map[string]any
		for _, res := range inOrder(e.reservations, ws.sid) {
			if parent(res) && matches(qv.Get("ReservationStatus"), res.status) &&
				(viaWorker || matches(qv.Get("WorkerSid"), res.workerSid)) {
				items = append(items, e.renderReservation(base, res, viaWorker))
			}
		}
		return list("reservations", items), nil
	}
}

// reservationParent finds the worker or task the path names, and says whose reservations are its.
func (e *Engine) reservationParent(r *http.Request, viaWorker bool) (*workspace, func(*reservation) bool, error) {
	if viaWorker {
		ws, w, err := lookup(e, r, workerKind, "worker")
		return ws, func(res *reservation) bool { return res.workerSid == w.sid }, err
	}
	ws, t, err := lookup(e, r, taskKind, "task")
	return ws, func(res *reservation) bool { return res.taskSid == t.sid }, err
}

func (e *Engine) reservationOf(r *http.Request, viaWorker bool) (*reservation, error) {
	_, parent, err := e.reservationParent(r, viaWorker)
	if err != nil {
		return nil, err
	}
	sid := r.PathValue("sid")
	res := e.reservations[sid]
	if res == nil || !parent(res) {
		return nil, twilioapi.NotFound("Reservations", sid)
	}
	return res, nil
}

func (e *Engine) fetchReservation(viaWorker bool) handlerFunc {
	return func(r *http.Request, base string) (*reply, error) {
		res, err := e.reservationOf(r, viaWorker)
		if err != nil {
			return nil, err
		}
		return ok(e.renderReservation(base, res, viaWorker)).withETag(res.version), nil
	}
}

// Error codes Twilio gives an instruction issued on a reservation that is no longer pending.
var instructionCodes = map[string]int{"dequeue": 40135, "call": 40114, "redirect": 40123, "conference": 40136}

// Twilio's rule for a status update: the statuses a reservation may be in beforehand.
var reservationFrom = map[string][]string{
	resAccepted:  {resPending},
	resRejected:  {resPending},
	resWrapping:  {resAccepted},
	resCompleted: {resAccepted, resWrapping},
}

func (e *Engine) updateReservation(viaWorker bool) handlerFunc {
	return func(r *http.Request, base string) (*reply, error) {
		res, err := e.reservationOf(r, viaWorker)
		if err != nil {
			return nil, err
		}
		if err := checkIfMatch(r, res.version); err != nil {
			return nil, err
		}
		if err := e.changeReservation(r, res); err != nil {
			return nil, err
		}
		return ok(e.renderReservation(base, res, viaWorker)).withETag(res.version), nil
	}
}

// changeReservation carries out an Instruction or a ReservationStatus.
func (e *Engine) changeReservation(r *http.Request, res *reservation) error {
	ws := e.workspaces[res.wsSid]
	activity, _, err := formValue(e, r, ws, "WorkerActivitySid", optional(activityIn))
	if err != nil {
		return err
	}
	if instruction := strings.ToLower(r.PostForm.Get("Instruction")); instruction != "" {
		return e.instruct(r, res, instruction)
	}
	status, statusGiven := r.PostForm["ReservationStatus"]
	if !statusGiven {
		return nil
	}
	from, known := reservationFrom[status[0]]
	if !known {
		return twilioapi.InvalidParam("ReservationStatus", status[0])
	}
	if !slices.Contains(from, res.status) {
		// Twilio's message for it ("is already in state [x] and cannot be updated to [y]"); the
		// code is not documented: 20001, the generic invalid-parameter code.
		return twilioapi.Errorf(http.StatusBadRequest, 20001,
			"Reservation %s is already in state [%s] and cannot be updated to [%s]", res.sid, res.status, status[0])
	}
	switch t := e.tasks[res.taskSid]; status[0] {
	case resAccepted:
		e.accept(res)
	case resRejected:
		e.reject(res, activity.s)
	case resWrapping:
		e.wrap(t)
	case resCompleted:
		e.complete(t, "Reservation completed")
	}
	return nil
}

// instruct carries out the instructions the sandbox models: dequeue and conference accept the
// reservation; it places no call for them.
func (e *Engine) instruct(r *http.Request, res *reservation, instruction string) error {
	code, known := instructionCodes[instruction]
	if !known {
		return twilioapi.InvalidParam("Instruction", instruction)
	}
	if res.status != resPending {
		return twilioapi.Errorf(http.StatusBadRequest, code,
			"Unable to execute %s instruction. Reservation %s is not currently in a Pending state.", instruction, res.sid)
	}
	if instruction == "call" || instruction == "redirect" {
		return twilioapi.Errorf(http.StatusBadRequest, 20001, "The sandbox does not execute the %s instruction", instruction)
	}
	for _, name := range []string{"PostWorkActivitySid", "DequeuePostWorkActivitySid"} {
		v, _, err := formValue(e, r, e.workspaces[res.wsSid], name, optional(activityIn))
		if err != nil {
			return err
		}
		if v.s != "" {
			res.postWorkActivitySid = v.s
		}
	}
	e.accept(res)
	return nil
}

// TaskChannels: the five every workspace gets, read-only here.

var channelNames = []struct{ unique, friendly string }{
	{"default", "Default"}, {"voice", "Voice"}, {"chat", "Programmable Chat"}, {"sms", "SMS"}, {"video", "Video"},
}

func (e *Engine) renderChannel(base string, ws *workspace, unique, friendly string) map[string]any {
	u := base + "/v1/Workspaces/" + ws.sid + "/TaskChannels/" + ws.channels[unique]
	return map[string]any{
		"account_sid":               e.cfg.Credentials.AccountSid,
		"date_created":              twilioapi.RFC3339(ws.created),
		"date_updated":              twilioapi.RFC3339(ws.created),
		"friendly_name":             friendly,
		"sid":                       ws.channels[unique],
		"unique_name":               unique,
		"workspace_sid":             ws.sid,
		"channel_optimized_routing": false,
		"url":                       u,
		"links":                     map[string]any{"workspace": base + "/v1/Workspaces/" + ws.sid},
	}
}

func (e *Engine) listChannels(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	var items []map[string]any
	for _, c := range channelNames {
		items = append(items, e.renderChannel(base, ws, c.unique, c.friendly))
	}
	return list("channels", items), nil
}

// fetchChannel takes a TC SID or, as Twilio allows, the channel's unique name.
func (e *Engine) fetchChannel(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	sid := r.PathValue("sid")
	for _, c := range channelNames {
		if sid == c.unique || sid == ws.channels[c.unique] {
			return ok(e.renderChannel(base, ws, c.unique, c.friendly)), nil
		}
	}
	return nil, twilioapi.NotFound("TaskChannels", sid)
}
