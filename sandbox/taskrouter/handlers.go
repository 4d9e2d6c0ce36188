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
// does besides storing parameters. rest.go has the machinery.

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

// Workspaces. A workspace is in itself (its wsSid is its SID), so the generic lookups find it.

var workspaceParams = []param[*workspace]{
	{"DefaultActivitySid", activityIn, func(ws *workspace, v value) { ws.defaultActivitySid = v.s }},
	{"TimeoutActivitySid", activityIn, func(ws *workspace, v value) { ws.timeoutActivitySid = v.s }},
	{"EventCallbackUrl", callbackURL, func(ws *workspace, v value) { ws.eventCallbackURL = v.s }},
	{"MultiTaskEnabled", boolean, func(ws *workspace, v value) { ws.multiTaskEnabled = v.b }},
	{"PrioritizeQueueOrder", oneOf("FIFO", "LIFO"), func(ws *workspace, v value) { ws.queueOrder = v.s }},
	{"EventsFilter", nil, func(ws *workspace, v value) { ws.eventsFilter = v.s }},
	{"FriendlyName", nil, func(ws *workspace, v value) { ws.friendlyName = orKeep(v.s, ws.friendlyName) }},
}

// newWorkspaceParams are what a create reads besides FriendlyName, in Twilio's order.
var newWorkspaceParams = []param[*workspace]{
	workspaceParams[3], // MultiTaskEnabled
	{"PrioritizeQueueOrder", emptyAs("FIFO", oneOf("FIFO", "LIFO")), workspaceParams[4].apply},
	workspaceParams[2], // EventCallbackUrl
	workspaceParams[5], // EventsFilter
}

func (e *Engine) listWorkspaces(c *call) *reply {
	name := c.r.URL.Query().Get("FriendlyName")
	return listed(c, workspaceKind, func(ws *workspace) bool { return matches(name, ws.friendlyName) })
}

func (e *Engine) createWorkspace(c *call) *reply {
	c.required("FriendlyName")
	ws := &workspace{record: e.newRecord("WS", ""), friendlyName: c.r.PostForm.Get("FriendlyName"),
		multiTaskEnabled: true, queueOrder: "FIFO", channels: map[string]string{}}
	ws.wsSid = ws.sid
	if apply(c, ws, newWorkspaceParams); c.err != nil {
		return nil
	}
	e.workspaces[ws.sid] = ws
	// Twilio gives every new workspace these activities, Offline being the default one, and
	// these task channels.
	offline := e.newActivity(ws, "Offline", false)
	ws.defaultActivitySid, ws.timeoutActivitySid = offline.sid, offline.sid
	e.newActivity(ws, "Available", true)
	e.newActivity(ws, "Unavailable", false)
	for _, ch := range channelNames {
		ws.channels[ch.unique] = twilioapi.NewSID("TC")
	}
	e.record("workspace", ws.sid, "created", map[string]string{"workspace": ws.sid})
	return workspaceKind.answer(c, created, ws)
}

func (e *Engine) newActivity(ws *workspace, name string, available bool) *activity {
	a := &activity{record: e.newRecord("WA", ws.sid), friendlyName: name, available: available}
	e.activities[a.sid] = a
	return a
}

func (e *Engine) deleteWorkspace(c *call) *reply {
	for _, t := range e.tasks {
		if t.wsSid == c.ws.sid {
			e.removeTask(t)
		}
	}
	dropIn(e.activities, c.ws.sid)
	dropIn(e.queues, c.ws.sid)
	dropIn(e.workers, c.ws.sid)
	dropIn(e.workflows, c.ws.sid)
	dropIn(e.workspaces, c.ws.sid)
	if s := e.senders[c.ws.sid]; s != nil {
		delete(e.senders, c.ws.sid)
		// Let the sender finish what is queued, without waiting for it here under the lock.
		go s.drainAndClose()
	}
	return noContent()
}

func dropIn[P recorded](m map[string]P, ws string) {
	maps.DeleteFunc(m, func(_ string, x P) bool { return x.rec().wsSid == ws })
}

// Activities.

func (e *Engine) listActivities(c *call) *reply {
	q := c.r.URL.Query()
	avail, availGiven := queryBool(q, "Available")
	return listed(c, activityKind, func(a *activity) bool {
		return matches(q.Get("FriendlyName"), a.friendlyName) && (!availGiven || a.available == avail)
	})
}

func (e *Engine) createActivity(c *call) *reply {
	c.required("FriendlyName")
	name := c.r.PostForm.Get("FriendlyName")
	if c.err == nil && slices.ContainsFunc(inOrder(e.activities, c.ws.sid), func(a *activity) bool { return a.friendlyName == name }) {
		c.fail(twilioapi.Errorf(http.StatusBadRequest, 20001, "Activity with FriendlyName %q already exists in Workspace %s", name, c.ws.sid))
	}
	avail := c.param("Available", boolean)
	if c.err != nil {
		return nil
	}
	return activityKind.answer(c, created, e.newActivity(c.ws, name, avail.b))
}

// updateActivity changes only the name, and the date only when it does.
func (e *Engine) updateActivity(c *call) *reply {
	a := one(c, activityKind, "sid")
	if v := c.r.PostForm.Get("FriendlyName"); c.err == nil && v != "" {
		a.friendlyName, a.updated = v, e.now()
	}
	return activityKind.answer(c, ok, a)
}

func (e *Engine) activityInUse(c *call, a *activity) error {
	inUse := c.ws.defaultActivitySid == a.sid || c.ws.timeoutActivitySid == a.sid
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
func targetWorkers(_ *call, _, s string) (value, error) {
	s = orKeep(s, "1==1")
	x, err := parseExpr(s)
	if err != nil {
		return value{}, twilioapi.Errorf(http.StatusBadRequest, 20001, "Invalid TargetWorkers: %v", err)
	}
	return value{s: s, x: x}, nil
}

func (e *Engine) listQueues(c *call) *reply {
	qv := c.r.URL.Query()
	var w *worker
	if sid := qv.Get("WorkerSid"); sid != "" {
		if w = e.workers[sid]; w == nil || w.wsSid != c.ws.sid {
			return list(queueKind.key, nil)
		}
	}
	// EvaluateWorkerAttributes stands for a worker with those attributes, in place of WorkerSid's.
	if s := qv.Get("EvaluateWorkerAttributes"); s != "" {
		attrs, valid := parseAttributes(s)
		if !valid {
			c.fail(twilioapi.InvalidParam("EvaluateWorkerAttributes", s))
		}
		w = &worker{attrs: attrs}
	}
	return listed(c, queueKind, func(q *taskQueue) bool {
		return matches(qv.Get("FriendlyName"), q.friendlyName) &&
			(w == nil || q.targetExpr.eval(&exprEnv{workerSide: true, worker: w.attrs, task: map[string]any{}}))
	})
}

func (e *Engine) createQueue(c *call) *reply {
	c.required("FriendlyName")
	q := &taskQueue{record: e.newRecord("WQ", c.ws.sid), targetWorkers: "1==1", targetExpr: constExpr(true),
		maxReservedWorkers: 1, taskOrder: "FIFO"}
	return create(c, queueKind, q, queueParams)
}

// queueUpdated offers the queue's tasks to the workers its new parameters let in.
func (e *Engine) queueUpdated(c *call, _ *taskQueue) { e.dispatch(c.ws) }

func (e *Engine) queueInUse(_ *call, q *taskQueue) error {
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

func (e *Engine) listWorkers(c *call) *reply {
	qv := c.r.URL.Query()
	avail, availGiven := queryBool(qv, "Available")
	var target expr
	if s := qv.Get("TargetWorkersExpression"); s != "" {
		var err error
		if target, err = parseExpr(s); err != nil {
			c.fail(twilioapi.Errorf(http.StatusBadRequest, 20001, "Invalid TargetWorkersExpression: %v", err))
		}
	}
	// TaskQueueName, when given, names the queue in place of TaskQueueSid.
	var queue *taskQueue
	if sid := qv.Get("TaskQueueSid"); sid != "" {
		if queue = e.queues[sid]; queue == nil {
			return list(workerKind.key, nil)
		}
	}
	if name := qv.Get("TaskQueueName"); name != "" {
		queue = nil
		for _, q := range inOrder(e.queues, c.ws.sid) {
			if q.friendlyName == name {
				queue = q
			}
		}
		if queue == nil {
			return list(workerKind.key, nil)
		}
	}
	return listed(c, workerKind, func(w *worker) bool {
		env := &exprEnv{workerSide: true, worker: w.attrs, task: map[string]any{}}
		return matches(qv.Get("ActivitySid"), w.activitySid) &&
			matches(qv.Get("ActivityName"), e.activityName(w.activitySid)) &&
			matches(qv.Get("FriendlyName"), w.friendlyName) &&
			(!availGiven || e.activityAvailable(w.activitySid) == avail) &&
			(target == nil || target.eval(env)) && (queue == nil || queue.targetExpr.eval(env))
	})
}

func (e *Engine) createWorker(c *call) *reply {
	c.required("FriendlyName")
	name := c.r.PostForm.Get("FriendlyName")
	if c.err == nil && slices.ContainsFunc(inOrder(e.workers, c.ws.sid), func(w *worker) bool { return w.friendlyName == name }) {
		c.fail(twilioapi.Errorf(http.StatusBadRequest, 20001, "Worker with FriendlyName %q already exists in Workspace %s", name, c.ws.sid))
	}
	w := &worker{record: e.newRecord("WK", c.ws.sid), friendlyName: name, attributes: "{}", attrs: map[string]any{},
		activitySid: c.ws.defaultActivitySid}
	if apply(c, w, newWorkerParams); c.err != nil {
		return nil
	}
	w.statusChanged, w.idleSince = w.created, w.created
	e.workers[w.sid] = w
	e.record("worker", w.sid, "activity: "+e.activityName(w.activitySid), map[string]string{"worker": w.sid, "activity": w.activitySid})
	e.dispatch(c.ws)
	return workerKind.answer(c, created, w)
}

func (e *Engine) updateWorker(c *call) *reply {
	w := one(c, workerKind, "sid")
	c.ifMatch(w)
	act := c.param("ActivitySid", activityIn)
	attrs := c.param("Attributes", attributes)
	rejectPending := c.param("RejectPendingReservations", boolean)
	if c.err != nil {
		return nil
	}
	if name := c.r.PostForm.Get("FriendlyName"); name != "" && name != w.friendlyName {
		w.friendlyName, w.updated = name, e.now()
		w.version++
	}
	if attrs.given {
		w.attributes, w.attrs, w.updated = attrs.s, attrs.x.(map[string]any), e.now()
		w.version++
		e.record("worker", w.sid, "attributes", map[string]string{"worker": w.sid, "attributes": attrs.s})
		e.emit(c.ws, "worker.attributes.update", "Worker "+w.friendlyName+" attributes updated", "worker", w.sid, nil, w, nil, nil)
	}
	if act.given {
		var pending []*reservation
		if rejectPending.b && !e.activityAvailable(act.s) {
			pending = slices.DeleteFunc(inOrder(e.reservations, c.ws.sid), func(res *reservation) bool {
				return res.workerSid != w.sid || res.status != resPending
			})
		}
		// Each rejection leaves the worker in the new activity, so she is not reserved again.
		for _, res := range pending {
			e.reject(res, act.s)
		}
		e.setWorkerActivity(w, act.s)
	}
	e.dispatch(c.ws)
	return workerKind.answer(c, ok, w)
}

func (e *Engine) workerInUse(_ *call, w *worker) error {
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
func routing(c *call, _, s string) (value, error) {
	cfg, err := parseRoutingConfig(s, func(sid string) bool {
		q := c.e.queues[sid]
		return q != nil && q.wsSid == c.ws.sid
	})
	if err != nil {
		return value{}, twilioapi.Errorf(http.StatusBadRequest, 20001, "Invalid Configuration: %v", err)
	}
	return value{s: s, x: cfg}, nil
}

func (e *Engine) listWorkflows(c *call) *reply {
	name := c.r.URL.Query().Get("FriendlyName")
	return listed(c, workflowKind, func(wf *workflow) bool { return matches(name, wf.friendlyName) })
}

func (e *Engine) createWorkflow(c *call) *reply {
	c.required("FriendlyName", "Configuration")
	wf := &workflow{record: e.newRecord("WW", c.ws.sid), reservationTimeout: defaultReservationTimeout}
	return create(c, workflowKind, wf, workflowParams)
}

// workflowUpdated routes the workflow's waiting tasks again when the update asks for it.
func (e *Engine) workflowUpdated(c *call, wf *workflow) {
	if reeval, _ := boolean(c, "", c.r.PostForm.Get("ReEvaluateTasks")); !reeval.b {
		return
	}
	for _, t := range inOrder(e.tasks, c.ws.sid) {
		if t.workflowSid == wf.sid && t.status == taskPending {
			e.route(t)
		}
	}
	e.dispatch(c.ws)
}

func (e *Engine) workflowInUse(_ *call, wf *workflow) error {
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
func taskChannel(c *call, name, s string) (value, error) {
	for unique, sid := range c.ws.channels {
		if s == unique || s == sid {
			return value{s: unique}, nil
		}
	}
	return value{}, twilioapi.InvalidParam(name, s)
}

func (e *Engine) listTasks(c *call) *reply {
	qv := c.r.URL.Query()
	statuses := map[string]bool{}
	for _, v := range qv["AssignmentStatus"] {
		for _, s := range strings.Split(v, ",") {
			statuses[strings.TrimSpace(s)] = true
		}
	}
	var evalTask expr
	if s := qv.Get("EvaluateTaskAttributes"); s != "" {
		var err error
		if evalTask, err = parseExpr(s); err != nil {
			c.fail(twilioapi.Errorf(http.StatusBadRequest, 20001, "Invalid EvaluateTaskAttributes: %v", err))
		}
	}
	rp := listed(c, taskKind, func(t *task) bool {
		return (len(statuses) == 0 || statuses[t.status]) &&
			matches(qv.Get("WorkflowSid"), t.workflowSid) && matches(qv.Get("WorkflowName"), e.workflowName(t.workflowSid)) &&
			matches(qv.Get("TaskQueueSid"), t.queueSid) && matches(qv.Get("TaskQueueName"), e.queueName(t.queueSid)) &&
			matches(qv.Get("Priority"), strconv.Itoa(t.priority)) && (evalTask == nil || evalTask.eval(&exprEnv{task: t.attrs}))
	})
	if strings.HasPrefix(qv.Get("Ordering"), "DateCreated:desc") {
		slices.Reverse(rp.items)
	}
	return rp
}

func (e *Engine) createTaskREST(c *call) *reply {
	var wf *workflow
	if sid := c.r.PostForm.Get("WorkflowSid"); sid != "" {
		if wf = e.workflows[sid]; wf == nil || wf.wsSid != c.ws.sid {
			c.fail(twilioapi.InvalidParam("WorkflowSid", sid))
		}
	} else if wfs := inOrder(e.workflows, c.ws.sid); len(wfs) == 1 {
		wf = wfs[0] // Twilio uses the workspace's only workflow when none is named.
	} else {
		c.fail(twilioapi.MissingParam("WorkflowSid"))
	}
	nt := &newTask{attributes: "{}", attrs: map[string]any{}, timeout: defaultTaskTimeout, channel: "default"}
	if apply(c, nt, newTaskParams); c.err != nil {
		return nil
	}
	return taskKind.answer(c, created, e.createTask(c.ws, wf, nt.attributes, nt.attrs, nt.priority, nt.timeout, nt.channel))
}

func (e *Engine) updateTask(c *call) *reply {
	t := one(c, taskKind, "sid")
	c.ifMatch(t)
	attrs := c.param("Attributes", attributes)
	priority := c.param("Priority", integer(0, maxPriority))
	status, reason := c.param("AssignmentStatus", nil), c.r.PostForm.Get("Reason")
	if status.given {
		c.fail(checkTaskTransition(t, status.s, reason))
	}
	if c.err != nil {
		return nil
	}
	if attrs.given || priority.given {
		if attrs.given {
			t.attributes, t.attrs = attrs.s, attrs.x.(map[string]any)
		}
		if priority.given {
			t.priority, t.basePriority = priority.n, priority.n
		}
		t.updated = e.now()
		t.version++
		e.emit(c.ws, "task.updated", "Task "+t.sid+" updated", "task", t.sid, t, nil, nil, nil)
		// A waiting task is evaluated against the workflow again with its new attributes.
		if attrs.given && t.status == taskPending {
			e.route(t)
		}
	}
	switch {
	case status.s == taskCanceled:
		e.cancelTask(t, reason, true)
	case status.s == taskWrapping:
		e.wrap(t)
	case status.s == taskCompleted:
		e.complete(t, reason)
	}
	e.dispatch(c.ws)
	return taskKind.answer(c, ok, t)
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

func (e *Engine) deleteTask(c *call) *reply {
	t := one(c, taskKind, "sid")
	if c.ifMatch(t); c.err != nil {
		return nil
	}
	e.emit(c.ws, "task.deleted", "Task "+t.sid+" deleted", "task", t.sid, t, nil, nil, nil)
	e.removeTask(t)
	e.dispatch(c.ws)
	return noContent()
}

// Reservations, under Tasks and under Workers (viaWorker), where they render their own URL.

// reservationsOf finds the task or worker the path names and says whose reservations are its.
func (e *Engine) reservationsOf(c *call, viaWorker bool) func(*reservation) bool {
	if viaWorker {
		w := one(c, workerKind, "worker")
		return func(res *reservation) bool { return res.workerSid == w.sid }
	}
	t := one(c, taskKind, "task")
	return func(res *reservation) bool { return res.taskSid == t.sid }
}

func (e *Engine) listReservations(viaWorker bool) handlerFunc {
	return func(c *call) *reply {
		of, qv := e.reservationsOf(c, viaWorker), c.r.URL.Query()
		return listOf(c, "reservations", inOrder(e.reservations, c.ws.sid), func(res *reservation) bool {
			return of(res) && matches(qv.Get("ReservationStatus"), res.status) &&
				(viaWorker || matches(qv.Get("WorkerSid"), res.workerSid))
		}, func(res *reservation) map[string]any { return e.renderReservation(c.base, res, viaWorker) })
	}
}

// reservation answers the reservation the path names, once change, if any, has run on it.
func (e *Engine) reservation(viaWorker bool, change func(c *call, res *reservation)) handlerFunc {
	return func(c *call) *reply {
		of := e.reservationsOf(c, viaWorker)
		sid := c.r.PathValue("sid")
		res := e.reservations[sid]
		if c.err == nil && (res == nil || !of(res)) {
			c.fail(twilioapi.NotFound("Reservations", sid))
		}
		if change != nil {
			c.ifMatch(res)
			if c.err == nil {
				change(c, res)
			}
		}
		if c.err != nil {
			return nil
		}
		return &reply{status: http.StatusOK, body: e.renderReservation(c.base, res, viaWorker), etag: strconv.Itoa(res.version)}
	}
}

// Error codes Twilio gives an instruction issued on a reservation that is no longer pending.
var instructionCodes = map[string]int{"dequeue": 40135, "call": 40114, "redirect": 40123, "conference": 40136}

// Twilio's rule for a status update: the statuses a reservation may be in beforehand.
var reservationFrom = map[string][]string{
	resAccepted: {resPending}, resRejected: {resPending}, resWrapping: {resAccepted}, resCompleted: {resAccepted, resWrapping},
}

// updateReservation carries out an Instruction or a ReservationStatus.
func (e *Engine) updateReservation(c *call, res *reservation) {
	c.ws = e.workspaces[res.wsSid]
	activity := c.param("WorkerActivitySid", optional(activityIn))
	if instruction := strings.ToLower(c.r.PostForm.Get("Instruction")); instruction != "" {
		e.instruct(c, res, instruction)
		return
	}
	status := c.param("ReservationStatus", nil)
	if from, known := reservationFrom[status.s]; status.given && !known {
		c.fail(twilioapi.InvalidParam("ReservationStatus", status.s))
	} else if status.given && !slices.Contains(from, res.status) {
		// Twilio's message for it ("is already in state [x] and cannot be updated to [y]"); the
		// code is not documented: 20001, the generic invalid-parameter code.
		c.fail(twilioapi.Errorf(http.StatusBadRequest, 20001,
			"Reservation %s is already in state [%s] and cannot be updated to [%s]", res.sid, res.status, status.s))
	}
	if c.err != nil {
		return
	}
	switch t := e.tasks[res.taskSid]; status.s {
	case resAccepted:
		e.accept(res)
	case resRejected:
		e.reject(res, activity.s)
	case resWrapping:
		e.wrap(t)
	case resCompleted:
		e.complete(t, "Reservation completed")
	}
}

// instruct carries out the instructions the sandbox models: dequeue and conference accept the
// reservation; it places no call for them.
func (e *Engine) instruct(c *call, res *reservation, instruction string) {
	code, known := instructionCodes[instruction]
	switch {
	case !known:
		c.fail(twilioapi.InvalidParam("Instruction", instruction))
	case res.status != resPending:
		c.fail(twilioapi.Errorf(http.StatusBadRequest, code,
			"Unable to execute %s instruction. Reservation %s is not currently in a Pending state.", instruction, res.sid))
	case instruction == "call" || instruction == "redirect":
		c.fail(twilioapi.Errorf(http.StatusBadRequest, 20001, "The sandbox does not execute the %s instruction", instruction))
	}
	for _, name := range []string{"PostWorkActivitySid", "DequeuePostWorkActivitySid"} {
		if v := c.param(name, optional(activityIn)); v.s != "" {
			res.postWorkActivitySid = v.s
		}
	}
	if c.err == nil {
		e.accept(res)
	}
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

// channels answers the workspace's channels or, when the path names one by TC SID or (as
// Twilio allows) unique name, that one.
func (e *Engine) channels(c *call) *reply {
	sid := c.r.PathValue("sid")
	rp := list("channels", nil)
	for _, ch := range channelNames {
		body := e.renderChannel(c.base, c.ws, ch.unique, ch.friendly)
		if sid == "" {
			rp.items = append(rp.items, body)
		} else if sid == ch.unique || sid == c.ws.channels[ch.unique] {
			return ok(body)
		}
	}
	if sid != "" {
		c.fail(twilioapi.NotFound("TaskChannels", sid))
	}
	return rp
}
