package taskrouter

import (
	"cmp"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"queuebridge/sandbox/internal/twilioapi"
)

// The resources' REST API: per resource, its kind (rest.go), that is its parameter and
// list-filter tables, and what Twilio does besides storing parameters.

// workerEnv is the worker side of an expression about w, with no task (a queue's TargetWorkers
// checked outside routing, the Workers list's TargetWorkersExpression).
func (e *Engine) workerEnv(w *worker) *exprEnv {
	return &exprEnv{workerSide: true, worker: w.attrs, fields: e.workerFields(w), task: map[string]any{}}
}

// workerFields are the worker's own fields an expression may name as worker.<field>.
func (e *Engine) workerFields(w *worker) map[string]any {
	return map[string]any{"sid": w.sid, "friendly_name": w.friendlyName,
		"activity_sid": w.activitySid, "activity_name": e.activityName(w.activitySid)}
}

// some tells whether any item of m satisfies f.
func some[P any](m map[string]P, f func(P) bool) bool {
	return slices.ContainsFunc(slices.Collect(maps.Values(m)), f)
}

func refused(format string, args ...any) error {
	return twilioapi.Errorf(http.StatusBadRequest, 20001, format, args...)
}

// sameName is Twilio's refusal of a second activity or worker of the same name in a workspace.
func sameName[P recorded](c *call, what string, all map[string]P, nameOf func(P) string) {
	name := c.r.PostForm.Get("FriendlyName")
	if c.err == nil && some(all, func(x P) bool { return x.rec().wsSid == c.ws.sid && nameOf(x) == name }) {
		c.fail(refused("%s with FriendlyName %q already exists in Workspace %s", what, name, c.ws.sid))
	}
}

// Workspaces. A workspace is in itself (its wsSid is its SID), so the generic lookups find it.

var workspaceKind = &kind[*workspace]{name: "Workspaces", key: "workspaces", param: "ws", touch: true,
	all: func(e *Engine) map[string]*workspace { return e.workspaces }, render: (*Engine).renderWorkspace,
	filters: []listFilter[*workspace]{eq("FriendlyName", func(_ *Engine, ws *workspace) string { return ws.friendlyName })},
	create: func(c *call) *workspace {
		c.required("FriendlyName")
		ws := &workspace{record: c.e.newRecord("WS", ""), friendlyName: c.r.PostForm.Get("FriendlyName"),
			multiTaskEnabled: true, queueOrder: "FIFO", channels: map[string]string{}}
		ws.wsSid = ws.sid
		return ws
	},
	createParams: []param[*workspace]{workspaceParams[3], // MultiTaskEnabled, then Twilio's create order
		{"PrioritizeQueueOrder", emptyAs("FIFO", oneOf("FIFO", "LIFO")), workspaceParams[4].apply}, workspaceParams[2], workspaceParams[5]},
	created: workspaceCreated, params: workspaceParams, deleted: workspaceDeleted}

var workspaceParams = []param[*workspace]{
	{"DefaultActivitySid", activityIn, func(_ *call, ws *workspace, v value) { ws.defaultActivitySid = v.s }},
	{"TimeoutActivitySid", activityIn, func(_ *call, ws *workspace, v value) { ws.timeoutActivitySid = v.s }},
	{"EventCallbackUrl", callbackURL, func(_ *call, ws *workspace, v value) { ws.eventCallbackURL = v.s }},
	{"MultiTaskEnabled", boolean, func(_ *call, ws *workspace, v value) { ws.multiTaskEnabled = v.b }},
	{"PrioritizeQueueOrder", oneOf("FIFO", "LIFO"), func(_ *call, ws *workspace, v value) { ws.queueOrder = v.s }},
	{"EventsFilter", nil, func(_ *call, ws *workspace, v value) { ws.eventsFilter = v.s }},
	{"FriendlyName", nil, func(_ *call, ws *workspace, v value) { ws.friendlyName = cmp.Or(v.s, ws.friendlyName) }},
}

// workspaceCreated gives the workspace what Twilio gives every new one: these activities,
// Offline being the default one, and these task channels.
func workspaceCreated(c *call, ws *workspace) {
	offline := c.e.newActivity(ws, "Offline", false)
	ws.defaultActivitySid, ws.timeoutActivitySid = offline.sid, offline.sid
	c.e.newActivity(ws, "Available", true)
	c.e.newActivity(ws, "Unavailable", false)
	for _, ch := range channelNames {
		ws.channels[ch.unique] = twilioapi.NewSID("TC")
	}
	c.e.record("workspace", ws.sid, "created", map[string]string{"workspace": ws.sid})
}

func (e *Engine) newActivity(ws *workspace, name string, available bool) *activity {
	a := &activity{record: e.newRecord("WA", ws.sid), friendlyName: name, available: available}
	e.activities[a.sid] = a
	return a
}

func workspaceDeleted(c *call, ws *workspace) {
	for _, t := range inOrder(c.e.tasks, ws.sid) {
		c.e.removeTask(t)
	}
	dropIn(c.e.activities, ws.sid)
	dropIn(c.e.queues, ws.sid)
	dropIn(c.e.workers, ws.sid)
	dropIn(c.e.workflows, ws.sid)
	if s := c.e.senders[ws.sid]; s != nil {
		delete(c.e.senders, ws.sid)
		go s.drainAndClose() // what is queued, without waiting for it here under the lock
	}
}

func dropIn[P recorded](m map[string]P, ws string) {
	maps.DeleteFunc(m, func(_ string, x P) bool { return x.rec().wsSid == ws })
}

// Activities. An update changes only the name, and the date only when it does.

var activityKind = &kind[*activity]{name: "Activities", key: "activities", param: "sid",
	all: func(e *Engine) map[string]*activity { return e.activities }, render: (*Engine).renderActivity,
	filters: []listFilter[*activity]{eq("FriendlyName", func(_ *Engine, a *activity) string { return a.friendlyName }),
		is("Available", func(_ *Engine, a *activity) bool { return a.available })},
	create: func(c *call) *activity {
		c.required("FriendlyName")
		sameName(c, "Activity", c.e.activities, func(a *activity) string { return a.friendlyName })
		return &activity{record: c.e.newRecord("WA", c.ws.sid), friendlyName: c.r.PostForm.Get("FriendlyName")}
	},
	createParams: []param[*activity]{{"Available", boolean, func(_ *call, a *activity, v value) { a.available = v.b }}},
	params: []param[*activity]{{"FriendlyName", nil, func(c *call, a *activity, v value) {
		if v.s != "" {
			a.friendlyName, a.updated = v.s, c.e.now()
		}
	}}},
	refuse: func(c *call, a *activity) error {
		if c.ws.defaultActivitySid == a.sid || c.ws.timeoutActivitySid == a.sid ||
			some(c.e.workers, func(w *worker) bool { return w.activitySid == a.sid }) ||
			some(c.e.queues, func(q *taskQueue) bool { return q.reservationActivitySid == a.sid || q.assignmentActivitySid == a.sid }) {
			return refused("Activity %s is in use and cannot be deleted", a.sid)
		}
		return nil
	}}

// TaskQueues. An update offers the queue's tasks to the workers its new parameters let in.

var queueKind = &kind[*taskQueue]{name: "TaskQueues", key: "task_queues", param: "sid", touch: true,
	all: func(e *Engine) map[string]*taskQueue { return e.queues }, render: (*Engine).renderQueue,
	filters: []listFilter[*taskQueue]{eq("FriendlyName", func(_ *Engine, q *taskQueue) string { return q.friendlyName }), queuesOfWorker},
	create: func(c *call) *taskQueue {
		c.required("FriendlyName")
		q := &taskQueue{record: c.e.newRecord("WQ", c.ws.sid), targetWorkers: "1==1", targetExpr: constExpr(true),
			maxReservedWorkers: 1, taskOrder: "FIFO"}
		if c.e.options.EmptyTargetWorkersWait {
			q.targetWorkers, q.targetExpr = "", constExpr(false)
		}
		return q
	},
	createParams: queueParams, params: queueParams,
	updated: func(c *call, _ *taskQueue) { c.e.dispatch(c.ws) },
	refuse: func(c *call, q *taskQueue) error {
		if some(c.e.tasks, func(t *task) bool {
			return t.queueSid == q.sid && t.status != taskCompleted && t.status != taskCanceled
		}) {
			return refused("TaskQueue %s has tasks and cannot be deleted", q.sid)
		}
		for _, wf := range c.e.workflows {
			if strings.Contains(wf.configuration, q.sid) {
				return refused("TaskQueue %s is used by Workflow %s and cannot be deleted", q.sid, wf.sid)
			}
		}
		return nil
	}}

var queueParams = []param[*taskQueue]{
	{"FriendlyName", nil, func(_ *call, q *taskQueue, v value) { q.friendlyName = cmp.Or(v.s, q.friendlyName) }},
	{"TargetWorkers", targetWorkers, func(_ *call, q *taskQueue, v value) { q.targetWorkers, q.targetExpr = v.s, v.x.(expr) }},
	{"MaxReservedWorkers", integer(1, 50), func(_ *call, q *taskQueue, v value) { q.maxReservedWorkers = v.n }},
	{"TaskOrder", oneOf("FIFO", "LIFO"), func(_ *call, q *taskQueue, v value) { q.taskOrder = v.s }},
	{"ReservationActivitySid", optional(activityIn), func(_ *call, q *taskQueue, v value) { q.reservationActivitySid = v.s }},
	{"AssignmentActivitySid", optional(activityIn), func(_ *call, q *taskQueue, v value) { q.assignmentActivitySid = v.s }},
}

// targetWorkers parses a queue's TargetWorkers; empty means every worker ("Defaults to 1==1"),
// or nobody under the EmptyTargetWorkersWait option ("Tasks will wait in the TaskQueue").
func targetWorkers(c *call, _, s string) (value, error) {
	if strings.TrimSpace(s) == "" && c.e.options.EmptyTargetWorkersWait {
		return value{s: "", x: constExpr(false)}, nil
	}
	s = cmp.Or(strings.TrimSpace(s), "1==1")
	x, err := parseExpr(s)
	if err != nil {
		return value{}, refused("Invalid TargetWorkers: %v", err)
	}
	return value{s: s, x: x}, nil
}

// queuesOfWorker lists the queues whose TargetWorkers take WorkerSid's worker or, in its
// place, a worker with the EvaluateWorkerAttributes.
func queuesOfWorker(c *call) func(*taskQueue) bool {
	qv := c.r.URL.Query()
	var w *worker
	if sid := qv.Get("WorkerSid"); sid != "" {
		if w = c.e.workers[sid]; w == nil || w.wsSid != c.ws.sid {
			return never
		}
	}
	if s := qv.Get("EvaluateWorkerAttributes"); s != "" {
		attrs, valid := parseAttributes(s)
		if !valid {
			c.fail(twilioapi.InvalidParam("EvaluateWorkerAttributes", s))
		}
		w = &worker{attrs: attrs}
	}
	if w == nil {
		return nil
	}
	return func(q *taskQueue) bool { return q.targetExpr.eval(c.e.workerEnv(w)) }
}

// Workers.

var workerKind = &kind[*worker]{name: "Workers", key: "workers", param: "sid", etag: true,
	all: func(e *Engine) map[string]*worker { return e.workers }, render: (*Engine).renderWorker,
	filters: []listFilter[*worker]{
		eq("ActivitySid", func(_ *Engine, w *worker) string { return w.activitySid }),
		eq("ActivityName", func(e *Engine, w *worker) string { return e.activityName(w.activitySid) }),
		eq("FriendlyName", func(_ *Engine, w *worker) string { return w.friendlyName }),
		is("Available", func(e *Engine, w *worker) bool { return e.activityAvailable(w.activitySid) }),
		matching("TargetWorkersExpression", (*Engine).workerEnv),
		workersOfQueue},
	create: func(c *call) *worker {
		c.required("FriendlyName")
		sameName(c, "Worker", c.e.workers, func(w *worker) string { return w.friendlyName })
		return &worker{record: c.e.newRecord("WK", c.ws.sid), friendlyName: c.r.PostForm.Get("FriendlyName"),
			attributes: "{}", attrs: map[string]any{}, activitySid: c.ws.defaultActivitySid}
	},
	createParams: []param[*worker]{
		{"Attributes", emptyAs("{}", attributes), func(_ *call, w *worker, v value) { w.attributes, w.attrs = v.s, v.x.(map[string]any) }},
		{"ActivitySid", optional(activityIn), func(_ *call, w *worker, v value) { w.activitySid = cmp.Or(v.s, w.activitySid) }},
	},
	created: func(c *call, w *worker) {
		w.statusChanged, w.idleSince = w.created, w.created
		c.e.record("worker", w.sid, "activity: "+c.e.activityName(w.activitySid), map[string]string{"worker": w.sid, "activity": w.activitySid})
		c.e.dispatch(c.ws)
	},
	params: []param[*worker]{
		{"FriendlyName", nil, func(c *call, w *worker, v value) {
			if v.s != "" && v.s != w.friendlyName {
				w.friendlyName, w.updated, w.version = v.s, c.e.now(), w.version+1
			}
		}},
		{"ActivitySid", activityIn, nil}, // carried out by workerUpdated
		{"Attributes", attributes, func(c *call, w *worker, v value) {
			w.attributes, w.attrs, w.updated, w.version = v.s, v.x.(map[string]any), c.e.now(), w.version+1
			c.e.record("worker", w.sid, "attributes", map[string]string{"worker": w.sid, "attributes": v.s})
			c.e.emit(c.ws, "worker.attributes.update", "Worker "+w.friendlyName+" attributes updated", "worker", w.sid, nil, w, nil, nil)
		}},
		{"RejectPendingReservations", boolean, nil},
	},
	updated: workerUpdated,
	refuse: func(c *call, w *worker) error {
		if c.e.workerBusy(w.sid) {
			return refused("Worker %s has a pending or assigned reservation and cannot be deleted", w.sid)
		}
		return nil
	}}

// workersOfQueue lists the workers TaskQueueSid's queue, or TaskQueueName's in its place, takes.
func workersOfQueue(c *call) func(*worker) bool {
	sid, name := c.r.URL.Query().Get("TaskQueueSid"), c.r.URL.Query().Get("TaskQueueName")
	q := c.e.queues[sid]
	if name != "" && (sid == "" || q != nil) {
		q = nil
		for _, x := range inOrder(c.e.queues, c.ws.sid) {
			if x.friendlyName == name {
				q = x
			}
		}
	}
	switch {
	case sid == "" && name == "":
		return nil
	case q == nil:
		return never
	}
	return func(w *worker) bool { return q.targetExpr.eval(c.e.workerEnv(w)) }
}

// workerUpdated moves the worker to the ActivitySid the update names, rejecting her pending
// reservations first when RejectPendingReservations asks and the activity is unavailable.
func workerUpdated(c *call, w *worker) {
	if act := c.param("ActivitySid", activityIn); act.given {
		if c.param("RejectPendingReservations", boolean).b && !c.e.activityAvailable(act.s) {
			for _, res := range inOrder(c.e.reservations, c.ws.sid) {
				if res.workerSid == w.sid && res.status == resPending {
					c.e.reject(res, act.s) // which leaves her in the new activity, not reserved again
				}
			}
		}
		c.e.setWorkerActivity(w, act.s)
	}
	c.e.dispatch(c.ws)
}

// Workflows. An update with ReEvaluateTasks routes the workflow's waiting tasks again.

var workflowKind = &kind[*workflow]{name: "Workflows", key: "workflows", param: "sid", touch: true,
	all: func(e *Engine) map[string]*workflow { return e.workflows }, render: (*Engine).renderWorkflow,
	filters: []listFilter[*workflow]{eq("FriendlyName", func(_ *Engine, wf *workflow) string { return wf.friendlyName })},
	create: func(c *call) *workflow {
		c.required("FriendlyName", "Configuration")
		return &workflow{record: c.e.newRecord("WW", c.ws.sid), reservationTimeout: defaultReservationTimeout}
	},
	createParams: workflowParams, params: workflowParams,
	updated: func(c *call, wf *workflow) {
		if reeval, _ := boolean(c, "", c.r.PostForm.Get("ReEvaluateTasks")); reeval.b {
			for _, t := range inOrder(c.e.tasks, c.ws.sid) {
				if t.workflowSid == wf.sid && t.status == taskPending {
					c.e.route(t)
				}
			}
			c.e.dispatch(c.ws)
		}
	},
	refuse: func(c *call, wf *workflow) error {
		if some(c.e.tasks, func(t *task) bool {
			return t.workflowSid == wf.sid && t.status != taskCompleted && t.status != taskCanceled
		}) {
			return refused("Workflow %s has active tasks and cannot be deleted", wf.sid)
		}
		return nil
	}}

var workflowParams = []param[*workflow]{
	{"FriendlyName", nil, func(_ *call, wf *workflow, v value) { wf.friendlyName = cmp.Or(v.s, wf.friendlyName) }},
	{"Configuration", routing, func(_ *call, wf *workflow, v value) { wf.configuration, wf.config = v.s, v.x.(*routingConfig) }},
	{"TaskReservationTimeout", integer(1, 86400), func(_ *call, wf *workflow, v value) { wf.reservationTimeout = v.n }},
	{"AssignmentCallbackUrl", callbackURL, func(_ *call, wf *workflow, v value) { wf.assignmentCallbackURL = v.s }},
	{"FallbackAssignmentCallbackUrl", callbackURL, func(_ *call, wf *workflow, v value) { wf.fallbackCallbackURL = v.s }},
}

// routing parses a workflow's Configuration, whose queues must be the workspace's.
func routing(c *call, _, s string) (value, error) {
	cfg, err := parseRoutingConfig(s, func(sid string) bool { q := c.e.queues[sid]; return q != nil && q.wsSid == c.ws.sid })
	if err != nil {
		return value{}, refused("Invalid Configuration: %v", err)
	}
	return value{s: s, x: cfg}, nil
}

// Tasks. A create without WorkflowSid uses the workspace's only workflow, as Twilio does.

const maxPriority = 1<<31 - 1

var taskKind = &kind[*task]{name: "Tasks", key: "tasks", param: "sid", etag: true, desc: true,
	all: func(e *Engine) map[string]*task { return e.tasks }, render: (*Engine).renderTask,
	filters: []listFilter[*task]{tasksInStatus,
		eq("WorkflowSid", func(_ *Engine, t *task) string { return t.workflowSid }),
		eq("WorkflowName", func(e *Engine, t *task) string { return e.workflowName(t.workflowSid) }),
		eq("TaskQueueSid", func(_ *Engine, t *task) string { return t.queueSid }),
		eq("TaskQueueName", func(e *Engine, t *task) string { return e.queueName(t.queueSid) }),
		eq("Priority", func(_ *Engine, t *task) string { return strconv.Itoa(t.priority) }),
		matching("EvaluateTaskAttributes", func(_ *Engine, t *task) *exprEnv { return &exprEnv{task: t.attrs} })},
	create: func(c *call) *task {
		t := c.e.newTask(c.ws.sid)
		if sid := c.r.PostForm.Get("WorkflowSid"); sid != "" {
			if wf := c.e.workflows[sid]; wf == nil || wf.wsSid != c.ws.sid {
				c.fail(twilioapi.InvalidParam("WorkflowSid", sid))
			}
			t.workflowSid = sid
		} else if wfs := inOrder(c.e.workflows, c.ws.sid); len(wfs) == 1 {
			t.workflowSid = wfs[0].sid
		} else {
			c.fail(twilioapi.MissingParam("WorkflowSid"))
		}
		return t
	},
	createParams: []param[*task]{{"Attributes", emptyAs("{}", attributes), taskAttributes.apply}, taskPriority,
		{"Timeout", integer(1, maxTaskTimeout), func(_ *call, t *task, v value) { t.timeout = v.n }},
		{"TaskChannel", emptyAs("default", taskChannel), func(_ *call, t *task, v value) { t.channel = v.s }}},
	created: func(c *call, t *task) { c.e.startTask(t) },
	params:  []param[*task]{taskAttributes, taskPriority},
	check: func(c *call, t *task) error {
		if !c.has("AssignmentStatus") {
			return nil
		}
		return checkTaskTransition(t, c.r.PostForm.Get("AssignmentStatus"), c.r.PostForm.Get("Reason"))
	},
	updated: taskUpdated,
	deleted: func(c *call, t *task) {
		c.e.emit(c.ws, "task.deleted", "Task "+t.sid+" deleted", "task", t.sid, t, nil, nil, nil)
		c.e.removeTask(t)
		c.e.dispatch(c.ws)
	}}

var (
	taskAttributes = param[*task]{"Attributes", attributes, func(_ *call, t *task, v value) { t.attributes, t.attrs = v.s, v.x.(map[string]any) }}
	taskPriority   = param[*task]{"Priority", integer(0, maxPriority), func(_ *call, t *task, v value) { t.priority, t.basePriority = v.n, v.n }}
)

// tasksInStatus lists the tasks in any of the AssignmentStatus values (each comma-separated).
func tasksInStatus(c *call) func(*task) bool {
	statuses := map[string]bool{}
	for _, v := range c.r.URL.Query()["AssignmentStatus"] {
		for _, s := range strings.Split(v, ",") {
			statuses[strings.TrimSpace(s)] = true
		}
	}
	if len(statuses) == 0 {
		return nil
	}
	return func(t *task) bool { return statuses[t.status] }
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

// taskUpdated: a waiting task whose attributes changed is evaluated against the workflow
// again; then the AssignmentStatus (checked by checkTaskTransition) is carried out.
func taskUpdated(c *call, t *task) {
	if c.has("Attributes") || c.has("Priority") {
		t.updated, t.version = c.e.now(), t.version+1
		c.e.emit(c.ws, "task.updated", "Task "+t.sid+" updated", "task", t.sid, t, nil, nil, nil)
		if c.has("Attributes") && t.status == taskPending {
			c.e.route(t)
		}
	}
	switch reason := c.r.PostForm.Get("Reason"); c.r.PostForm.Get("AssignmentStatus") {
	case taskCanceled:
		c.e.cancelTask(t, reason, true)
	case taskWrapping:
		c.e.wrap(t)
	case taskCompleted:
		c.e.complete(t, reason)
	}
	c.e.dispatch(c.ws)
}

// checkTaskTransition refuses what Twilio refuses, with Twilio's messages.
func checkTaskTransition(t *task, status, reason string) error {
	switch {
	case status != taskCanceled && status != taskCompleted && status != taskWrapping:
		return twilioapi.InvalidParam("AssignmentStatus", status)
	case status != taskWrapping && reason == "":
		return twilioapi.MissingParam("Reason")
	case status == taskCanceled && !t.open():
		return refused("Cannot cancel task %s in workspace %s because it is not pending or reserved", t.sid, t.wsSid)
	case status == taskCompleted && t.status != taskAssigned && t.status != taskWrapping:
		return refused("Cannot complete task %s in workspace %s because it is not assigned or wrapping", t.sid, t.wsSid)
	case status == taskWrapping && t.status != taskAssigned:
		return refused("Cannot wrap up task %s in workspace %s because it's not currently assigned", t.sid, t.wsSid)
	}
	return nil
}

// Reservations, under Tasks and under Workers (viaWorker), where they render their own URL.

func reservationKind(viaWorker bool) *kind[*reservation] {
	k := &kind[*reservation]{name: "Reservations", key: "reservations", param: "res", etag: true,
		all: func(e *Engine) map[string]*reservation { return e.reservations },
		render: func(e *Engine, base string, r *reservation) map[string]any {
			return e.renderReservation(base, r, viaWorker)
		},
		filters: []listFilter[*reservation]{eq("ReservationStatus", func(_ *Engine, r *reservation) string { return r.status }),
			eq("WorkerSid", func(_ *Engine, r *reservation) string { return r.workerSid })},
		updated: updateReservation,
		scope: func(c *call) func(*reservation) bool {
			t := taskKind.one(c)
			return func(r *reservation) bool { return r.taskSid == t.sid }
		}}
	if viaWorker {
		k.filters = k.filters[:1]
		k.scope = func(c *call) func(*reservation) bool {
			w := workerKind.one(c)
			return func(r *reservation) bool { return r.workerSid == w.sid }
		}
	}
	return k
}

// Twilio's rule for a status update: the statuses a reservation may be in beforehand.
var reservationFrom = map[string][]string{
	resAccepted: {resPending}, resRejected: {resPending}, resWrapping: {resAccepted}, resCompleted: {resAccepted, resWrapping},
}

// updateReservation carries out an Instruction or a ReservationStatus. Twilio's message for a
// status the reservation cannot reach has no documented code: 20001, the generic one.
func updateReservation(c *call, res *reservation) {
	activity := c.param("WorkerActivitySid", optional(activityIn))
	if instruction := strings.ToLower(c.r.PostForm.Get("Instruction")); instruction != "" {
		instruct(c, res, instruction)
		return
	}
	status := c.param("ReservationStatus", nil)
	if from, known := reservationFrom[status.s]; status.given && !known {
		c.fail(twilioapi.InvalidParam("ReservationStatus", status.s))
	} else if status.given && !slices.Contains(from, res.status) {
		c.fail(refused("Reservation %s is already in state [%s] and cannot be updated to [%s]", res.sid, res.status, status.s))
	}
	if c.err != nil {
		return
	}
	switch t := c.e.tasks[res.taskSid]; status.s {
	case resAccepted:
		c.e.accept(res)
	case resRejected:
		c.e.reject(res, activity.s)
	case resWrapping:
		c.e.wrap(t)
	case resCompleted:
		c.e.complete(t, "Reservation completed")
	}
}

// Error codes Twilio gives an instruction issued on a reservation that is no longer pending.
var instructionCodes = map[string]int{"dequeue": 40135, "call": 40114, "redirect": 40123, "conference": 40136}

// instruct carries out the instructions the sandbox models: dequeue and conference accept the
// reservation; it places no call for them.
func instruct(c *call, res *reservation, instruction string) {
	code, known := instructionCodes[instruction]
	switch {
	case !known:
		c.fail(twilioapi.InvalidParam("Instruction", instruction))
	case res.status != resPending:
		c.fail(twilioapi.Errorf(http.StatusBadRequest, code,
			"Unable to execute %s instruction. Reservation %s is not currently in a Pending state.", instruction, res.sid))
	case instruction == "call" || instruction == "redirect":
		c.fail(refused("The sandbox does not execute the %s instruction", instruction))
	}
	for _, name := range []string{"PostWorkActivitySid", "DequeuePostWorkActivitySid"} {
		if v := c.param(name, optional(activityIn)); v.s != "" {
			res.postWorkActivitySid = v.s
		}
	}
	if c.err == nil {
		c.e.accept(res)
	}
}

// TaskChannels: the five every workspace gets, read-only. The path names one by TC SID or (as
// Twilio allows) unique name.

var channelNames = []struct{ unique, friendly string }{
	{"default", "Default"}, {"voice", "Voice"}, {"chat", "Programmable Chat"}, {"sms", "SMS"}, {"video", "Video"},
}

func (e *Engine) channels(c *call) *reply {
	sid, ws := c.r.PathValue("sid"), c.base+"/v1/Workspaces/"+c.ws.sid
	rp := &reply{status: http.StatusOK, listKey: "channels"}
	for _, ch := range channelNames {
		body := map[string]any{"account_sid": e.cfg.Credentials.AccountSid, "friendly_name": ch.friendly,
			"date_created": twilioapi.RFC3339(c.ws.created), "date_updated": twilioapi.RFC3339(c.ws.created),
			"sid": c.ws.channels[ch.unique], "unique_name": ch.unique, "workspace_sid": c.ws.sid, "channel_optimized_routing": false,
			"url": ws + "/TaskChannels/" + c.ws.channels[ch.unique], "links": map[string]any{"workspace": ws}}
		if sid == ch.unique || sid == c.ws.channels[ch.unique] {
			return &reply{status: http.StatusOK, body: body}
		}
		rp.items = append(rp.items, body)
	}
	if sid != "" {
		c.fail(twilioapi.NotFound("TaskChannels", sid))
	}
	return rp
}
