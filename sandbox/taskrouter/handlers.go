package taskrouter

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"queuebridge/sandbox/internal/twilioapi"
)

// handlerFunc does a request's work under the engine lock and says what to answer.
type handlerFunc func(r *http.Request, base string) (*reply, error)

type reply struct {
	status  int
	body    any
	etag    string
	listKey string
	items   []map[string]any
}

func ok(body map[string]any) *reply      { return &reply{status: http.StatusOK, body: body} }
func created(body map[string]any) *reply { return &reply{status: http.StatusCreated, body: body} }
func noContent() *reply                  { return &reply{status: http.StatusNoContent} }
func list(key string, items []map[string]any) *reply {
	return &reply{status: http.StatusOK, listKey: key, items: items}
}

func (rp *reply) withETag(version int) *reply {
	rp.etag = strconv.Itoa(version)
	return rp
}

// serve decodes the form, runs fn under the lock, and writes the answer once it is released.
func (e *Engine) serve(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			twilioapi.WriteError(w, twilioapi.Errorf(http.StatusBadRequest, 20001, "Malformed request body: %v", err))
			return
		}
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base := scheme + "://" + r.Host
		e.mu.Lock()
		rp, err := fn(r, base)
		e.unlock()
		if err != nil {
			twilioapi.WriteError(w, err)
			return
		}
		if rp.etag != "" {
			w.Header().Set("ETag", rp.etag)
		}
		switch {
		case rp.status == http.StatusNoContent:
			w.WriteHeader(http.StatusNoContent)
		case rp.listKey != "":
			twilioapi.V1List(w, r, rp.listKey, rp.items)
		default:
			twilioapi.WriteJSON(w, rp.status, rp.body)
		}
	})
}

// Form helpers. Twilio's parameters are case-sensitive form fields.

func formString(r *http.Request, name string) (string, bool) {
	vs, ok := r.PostForm[name]
	if !ok || len(vs) == 0 {
		return "", false
	}
	return vs[0], true
}

func formBool(r *http.Request, name string) (value, given bool, err error) {
	s, given := formString(r, name)
	if !given {
		return false, false, nil
	}
	switch strings.ToLower(s) {
	case "true", "1", "yes":
		return true, true, nil
	case "false", "0", "no":
		return false, true, nil
	}
	return false, true, twilioapi.InvalidParam(name, s)
}

func formInt(r *http.Request, name string, lo, hi int) (value int, given bool, err error) {
	s, given := formString(r, name)
	if !given {
		return 0, false, nil
	}
	n, convErr := strconv.Atoi(s)
	if convErr != nil || n < lo || n > hi {
		return 0, true, twilioapi.InvalidParam(name, s)
	}
	return n, true, nil
}

func queryBool(q url.Values, name string) (value, given bool) {
	s := q.Get(name)
	if s == "" {
		return false, false
	}
	return strings.EqualFold(s, "true") || s == "1", true
}

// checkIfMatch compares If-Match with the resource's ETag: 412 on mismatch.
func checkIfMatch(r *http.Request, version int) error {
	want := strings.Trim(r.Header.Get("If-Match"), `"`)
	if want == "" || want == "*" || want == strconv.Itoa(version) {
		return nil
	}
	// Twilio's codes mirror the HTTP status for generic errors (20403, 20404, 20429): 20412.
	return twilioapi.Errorf(http.StatusPreconditionFailed, 20412, "Precondition Failed: If-Match %q does not match the current ETag %d", want, version)
}

func (e *Engine) workspaceOf(r *http.Request) (*workspace, error) {
	sid := r.PathValue("ws")
	ws := e.workspaces[sid]
	if ws == nil {
		return nil, twilioapi.NotFound("Workspaces", sid)
	}
	return ws, nil
}

// sorted returns the items of m that belong to ws (all of them when ws is ""), oldest first.
func sorted[T any](m map[string]*T, ws string, wsOf func(*T) string, seqOf func(*T) int64) []*T {
	var out []*T
	for _, v := range m {
		if ws == "" || wsOf(v) == ws {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return seqOf(out[i]) < seqOf(out[j]) })
	return out
}

// Workspaces.

func (e *Engine) listWorkspaces(r *http.Request, base string) (*reply, error) {
	name := r.URL.Query().Get("FriendlyName")
	var items []map[string]any
	for _, ws := range sorted(e.workspaces, "", func(*workspace) string { return "" }, func(w *workspace) int64 { return w.seq }) {
		if name == "" || ws.friendlyName == name {
			items = append(items, e.renderWorkspace(base, ws))
		}
	}
	return list("workspaces", items), nil
}

func (e *Engine) createWorkspace(r *http.Request, base string) (*reply, error) {
	name, given := formString(r, "FriendlyName")
	if !given || name == "" {
		return nil, twilioapi.MissingParam("FriendlyName")
	}
	multi, multiGiven, err := formBool(r, "MultiTaskEnabled")
	if err != nil {
		return nil, err
	}
	if !multiGiven {
		multi = true
	}
	order, _ := formString(r, "PrioritizeQueueOrder")
	if order == "" {
		order = "FIFO"
	} else if order != "FIFO" && order != "LIFO" {
		return nil, twilioapi.InvalidParam("PrioritizeQueueOrder", order)
	}
	cb, _ := formString(r, "EventCallbackUrl")
	if err := checkURL("EventCallbackUrl", cb); err != nil {
		return nil, err
	}
	filter, _ := formString(r, "EventsFilter")
	now := e.now()
	ws := &workspace{seq: e.nextSeq(), sid: twilioapi.NewSID("WS"), friendlyName: name, eventCallbackURL: cb,
		eventsFilter: filter, multiTaskEnabled: multi, queueOrder: order, created: now, updated: now, channels: map[string]string{}}
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
	for _, ch := range []string{"default", "voice", "chat", "sms", "video"} {
		ws.channels[ch] = twilioapi.NewSID("TC")
	}
	e.record("workspace", ws.sid, "created", map[string]string{"workspace": ws.sid})
	return created(e.renderWorkspace(base, ws)), nil
}

func checkURL(name, s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return twilioapi.InvalidParam(name, s)
	}
	return nil
}

func (e *Engine) newActivity(ws *workspace, name string, available bool) *activity {
	now := e.now()
	a := &activity{seq: e.nextSeq(), sid: twilioapi.NewSID("WA"), wsSid: ws.sid, friendlyName: name, available: available, created: now, updated: now}
	e.activities[a.sid] = a
	return a
}

func (e *Engine) fetchWorkspace(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	return ok(e.renderWorkspace(base, ws)), nil
}

func (e *Engine) activityIn(ws *workspace, param, sid string) error {
	if a := e.activities[sid]; a == nil || a.wsSid != ws.sid {
		return twilioapi.InvalidParam(param, sid)
	}
	return nil
}

func (e *Engine) updateWorkspace(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	// Validate everything before changing anything.
	if v, given := formString(r, "DefaultActivitySid"); given {
		if err := e.activityIn(ws, "DefaultActivitySid", v); err != nil {
			return nil, err
		}
	}
	if v, given := formString(r, "TimeoutActivitySid"); given {
		if err := e.activityIn(ws, "TimeoutActivitySid", v); err != nil {
			return nil, err
		}
	}
	if v, given := formString(r, "EventCallbackUrl"); given {
		if err := checkURL("EventCallbackUrl", v); err != nil {
			return nil, err
		}
	}
	multi, multiGiven, err := formBool(r, "MultiTaskEnabled")
	if err != nil {
		return nil, err
	}
	order, orderGiven := formString(r, "PrioritizeQueueOrder")
	if orderGiven && order != "FIFO" && order != "LIFO" {
		return nil, twilioapi.InvalidParam("PrioritizeQueueOrder", order)
	}
	if v, given := formString(r, "DefaultActivitySid"); given {
		ws.defaultActivitySid = v
	}
	if v, given := formString(r, "TimeoutActivitySid"); given {
		ws.timeoutActivitySid = v
	}
	if v, given := formString(r, "EventCallbackUrl"); given {
		ws.eventCallbackURL = v
	}
	if v, given := formString(r, "EventsFilter"); given {
		ws.eventsFilter = v
	}
	if v, given := formString(r, "FriendlyName"); given && v != "" {
		ws.friendlyName = v
	}
	if multiGiven {
		ws.multiTaskEnabled = multi
	}
	if orderGiven {
		ws.queueOrder = order
	}
	ws.updated = e.now()
	return ok(e.renderWorkspace(base, ws)), nil
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
	for sid, a := range e.activities {
		if a.wsSid == ws.sid {
			delete(e.activities, sid)
		}
	}
	for sid, q := range e.queues {
		if q.wsSid == ws.sid {
			delete(e.queues, sid)
		}
	}
	for sid, w := range e.workers {
		if w.wsSid == ws.sid {
			delete(e.workers, sid)
		}
	}
	for sid, wf := range e.workflows {
		if wf.wsSid == ws.sid {
			delete(e.workflows, sid)
		}
	}
	delete(e.workspaces, ws.sid)
	if s := e.senders[ws.sid]; s != nil {
		delete(e.senders, ws.sid)
		// Let the sender finish what is queued, without waiting for it here under the lock.
		go s.drainAndClose()
	}
	return noContent(), nil
}

// Activities.

func (e *Engine) activityOf(r *http.Request) (*workspace, *activity, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, nil, err
	}
	sid := r.PathValue("sid")
	a := e.activities[sid]
	if a == nil || a.wsSid != ws.sid {
		return nil, nil, twilioapi.NotFound("Activities", sid)
	}
	return ws, a, nil
}

func (e *Engine) listActivities(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	name := q.Get("FriendlyName")
	avail, availGiven := queryBool(q, "Available")
	var items []map[string]any
	for _, a := range sorted(e.activities, ws.sid, func(a *activity) string { return a.wsSid }, func(a *activity) int64 { return a.seq }) {
		if (name == "" || a.friendlyName == name) && (!availGiven || a.available == avail) {
			items = append(items, e.renderActivity(base, a))
		}
	}
	return list("activities", items), nil
}

func (e *Engine) createActivity(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	name, _ := formString(r, "FriendlyName")
	if name == "" {
		return nil, twilioapi.MissingParam("FriendlyName")
	}
	for _, a := range e.activities {
		if a.wsSid == ws.sid && a.friendlyName == name {
			return nil, twilioapi.Errorf(http.StatusBadRequest, 20001, "Activity with FriendlyName %q already exists in Workspace %s", name, ws.sid)
		}
	}
	avail, _, err := formBool(r, "Available")
	if err != nil {
		return nil, err
	}
	return created(e.renderActivity(base, e.newActivity(ws, name, avail))), nil
}

func (e *Engine) fetchActivity(r *http.Request, base string) (*reply, error) {
	_, a, err := e.activityOf(r)
	if err != nil {
		return nil, err
	}
	return ok(e.renderActivity(base, a)), nil
}

func (e *Engine) updateActivity(r *http.Request, base string) (*reply, error) {
	_, a, err := e.activityOf(r)
	if err != nil {
		return nil, err
	}
	if v, given := formString(r, "FriendlyName"); given && v != "" {
		a.friendlyName = v
		a.updated = e.now()
	}
	return ok(e.renderActivity(base, a)), nil
}

func (e *Engine) deleteActivity(r *http.Request, _ string) (*reply, error) {
	ws, a, err := e.activityOf(r)
	if err != nil {
		return nil, err
	}
	inUse := ws.defaultActivitySid == a.sid || ws.timeoutActivitySid == a.sid
	for _, w := range e.workers {
		inUse = inUse || w.activitySid == a.sid
	}
	for _, q := range e.queues {
		inUse = inUse || q.reservationActivitySid == a.sid || q.assignmentActivitySid == a.sid
	}
	if inUse {
		return nil, twilioapi.Errorf(http.StatusBadRequest, 20001, "Activity %s is in use and cannot be deleted", a.sid)
	}
	delete(e.activities, a.sid)
	return noContent(), nil
}

// TaskQueues.

func (e *Engine) queueOf(r *http.Request) (*workspace, *taskQueue, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, nil, err
	}
	sid := r.PathValue("sid")
	q := e.queues[sid]
	if q == nil || q.wsSid != ws.sid {
		return nil, nil, twilioapi.NotFound("TaskQueues", sid)
	}
	return ws, q, nil
}

func (e *Engine) listQueues(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	qv := r.URL.Query()
	name := qv.Get("FriendlyName")
	var w *worker
	if sid := qv.Get("WorkerSid"); sid != "" {
		if w = e.workers[sid]; w == nil || w.wsSid != ws.sid {
			return list("task_queues", nil), nil
		}
	}
	var evalWorker expr
	if s := qv.Get("EvaluateWorkerAttributes"); s != "" {
		attrs, valid := parseAttributes(s)
		if !valid {
			return nil, twilioapi.InvalidParam("EvaluateWorkerAttributes", s)
		}
		w = &worker{attrs: attrs}
		_ = evalWorker
	}
	var items []map[string]any
	for _, q := range sorted(e.queues, ws.sid, func(q *taskQueue) string { return q.wsSid }, func(q *taskQueue) int64 { return q.seq }) {
		if name != "" && q.friendlyName != name {
			continue
		}
		if w != nil && !q.targetExpr.eval(&exprEnv{workerSide: true, worker: w.attrs, task: map[string]any{}}) {
			continue
		}
		items = append(items, e.renderQueue(base, q))
	}
	return list("task_queues", items), nil
}

// queueParams applies the create/update parameters of a queue to q after validating them all.
func (e *Engine) queueParams(r *http.Request, ws *workspace, q *taskQueue) error {
	target, targetGiven := formString(r, "TargetWorkers")
	var targetExpr expr
	if targetGiven {
		if target == "" {
			target = "1==1"
		}
		var err error
		if targetExpr, err = parseExpr(target); err != nil {
			return twilioapi.Errorf(http.StatusBadRequest, 20001, "Invalid TargetWorkers: %v", err)
		}
	}
	maxRes, maxGiven, err := formInt(r, "MaxReservedWorkers", 1, 50)
	if err != nil {
		return err
	}
	order, orderGiven := formString(r, "TaskOrder")
	if orderGiven && order != "FIFO" && order != "LIFO" {
		return twilioapi.InvalidParam("TaskOrder", order)
	}
	resAct, resGiven := formString(r, "ReservationActivitySid")
	asgAct, asgGiven := formString(r, "AssignmentActivitySid")
	if resGiven && resAct != "" {
		if err := e.activityIn(ws, "ReservationActivitySid", resAct); err != nil {
			return err
		}
	}
	if asgGiven && asgAct != "" {
		if err := e.activityIn(ws, "AssignmentActivitySid", asgAct); err != nil {
			return err
		}
	}
	if v, given := formString(r, "FriendlyName"); given && v != "" {
		q.friendlyName = v
	}
	if targetGiven {
		q.targetWorkers, q.targetExpr = target, targetExpr
	}
	if maxGiven {
		q.maxReservedWorkers = maxRes
	}
	if orderGiven {
		q.taskOrder = order
	}
	if resGiven {
		q.reservationActivitySid = resAct
	}
	if asgGiven {
		q.assignmentActivitySid = asgAct
	}
	q.updated = e.now()
	return nil
}

func (e *Engine) createQueue(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	if name, _ := formString(r, "FriendlyName"); name == "" {
		return nil, twilioapi.MissingParam("FriendlyName")
	}
	now := e.now()
	q := &taskQueue{seq: e.nextSeq(), sid: twilioapi.NewSID("WQ"), wsSid: ws.sid, targetWorkers: "1==1",
		targetExpr: constExpr(true), maxReservedWorkers: 1, taskOrder: "FIFO", created: now}
	if err := e.queueParams(r, ws, q); err != nil {
		return nil, err
	}
	e.queues[q.sid] = q
	return created(e.renderQueue(base, q)), nil
}

func (e *Engine) fetchQueue(r *http.Request, base string) (*reply, error) {
	_, q, err := e.queueOf(r)
	if err != nil {
		return nil, err
	}
	return ok(e.renderQueue(base, q)), nil
}

func (e *Engine) updateQueue(r *http.Request, base string) (*reply, error) {
	ws, q, err := e.queueOf(r)
	if err != nil {
		return nil, err
	}
	if err := e.queueParams(r, ws, q); err != nil {
		return nil, err
	}
	e.dispatch(ws)
	return ok(e.renderQueue(base, q)), nil
}

func (e *Engine) deleteQueue(r *http.Request, _ string) (*reply, error) {
	_, q, err := e.queueOf(r)
	if err != nil {
		return nil, err
	}
	for _, t := range e.tasks {
		if t.queueSid == q.sid && t.status != taskCompleted && t.status != taskCanceled {
			return nil, twilioapi.Errorf(http.StatusBadRequest, 20001, "TaskQueue %s has tasks and cannot be deleted", q.sid)
		}
	}
	for _, wf := range e.workflows {
		if strings.Contains(wf.configuration, q.sid) {
			return nil, twilioapi.Errorf(http.StatusBadRequest, 20001, "TaskQueue %s is used by Workflow %s and cannot be deleted", q.sid, wf.sid)
		}
	}
	delete(e.queues, q.sid)
	return noContent(), nil
}

// Workers.

func (e *Engine) workerOf(r *http.Request, param string) (*workspace, *worker, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, nil, err
	}
	sid := r.PathValue(param)
	w := e.workers[sid]
	if w == nil || w.wsSid != ws.sid {
		return nil, nil, twilioapi.NotFound("Workers", sid)
	}
	return ws, w, nil
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
	var items []map[string]any
	for _, w := range sorted(e.workers, ws.sid, func(w *worker) string { return w.wsSid }, func(w *worker) int64 { return w.seq }) {
		env := &exprEnv{workerSide: true, worker: w.attrs, task: map[string]any{}}
		switch {
		case qv.Get("ActivitySid") != "" && w.activitySid != qv.Get("ActivitySid"),
			qv.Get("ActivityName") != "" && e.activityName(w.activitySid) != qv.Get("ActivityName"),
			qv.Get("FriendlyName") != "" && w.friendlyName != qv.Get("FriendlyName"),
			availGiven && e.activityAvailable(w.activitySid) != avail,
			target != nil && !target.eval(env),
			queue != nil && !queue.targetExpr.eval(env):
			continue
		}
		items = append(items, e.renderWorker(base, w))
	}
	return list("workers", items), nil
}

func (e *Engine) createWorker(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	name, _ := formString(r, "FriendlyName")
	if name == "" {
		return nil, twilioapi.MissingParam("FriendlyName")
	}
	for _, w := range e.workers {
		if w.wsSid == ws.sid && w.friendlyName == name {
			return nil, twilioapi.Errorf(http.StatusBadRequest, 20001, "Worker with FriendlyName %q already exists in Workspace %s", name, ws.sid)
		}
	}
	attributes, given := formString(r, "Attributes")
	if !given || attributes == "" {
		attributes = "{}"
	}
	attrs, valid := parseAttributes(attributes)
	if !valid {
		return nil, twilioapi.InvalidParam("Attributes", attributes)
	}
	act := ws.defaultActivitySid
	if v, given := formString(r, "ActivitySid"); given && v != "" {
		if err := e.activityIn(ws, "ActivitySid", v); err != nil {
			return nil, err
		}
		act = v
	}
	now := e.now()
	w := &worker{seq: e.nextSeq(), sid: twilioapi.NewSID("WK"), wsSid: ws.sid, friendlyName: name, attributes: attributes,
		attrs: attrs, activitySid: act, created: now, updated: now, statusChanged: now, idleSince: now}
	e.workers[w.sid] = w
	e.record("worker", w.sid, "activity: "+e.activityName(act), map[string]string{"worker": w.sid, "activity": act})
	e.dispatch(ws)
	return created(e.renderWorker(base, w)).withETag(w.version), nil
}

func (e *Engine) fetchWorker(r *http.Request, base string) (*reply, error) {
	_, w, err := e.workerOf(r, "sid")
	if err != nil {
		return nil, err
	}
	return ok(e.renderWorker(base, w)).withETag(w.version), nil
}

func (e *Engine) updateWorker(r *http.Request, base string) (*reply, error) {
	ws, w, err := e.workerOf(r, "sid")
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(r, w.version); err != nil {
		return nil, err
	}
	act, actGiven := formString(r, "ActivitySid")
	if actGiven {
		if err := e.activityIn(ws, "ActivitySid", act); err != nil {
			return nil, err
		}
	}
	attributes, attrsGiven := formString(r, "Attributes")
	var attrs map[string]any
	if attrsGiven {
		var valid bool
		if attrs, valid = parseAttributes(attributes); !valid {
			return nil, twilioapi.InvalidParam("Attributes", attributes)
		}
	}
	rejectPending, _, err := formBool(r, "RejectPendingReservations")
	if err != nil {
		return nil, err
	}
	if name, given := formString(r, "FriendlyName"); given && name != "" && name != w.friendlyName {
		w.friendlyName = name
		w.updated = e.now()
		w.version++
	}
	if attrsGiven {
		w.attributes, w.attrs = attributes, attrs
		w.updated = e.now()
		w.version++
		e.record("worker", w.sid, "attributes", map[string]string{"worker": w.sid, "attributes": attributes})
		e.emit(ws, "worker.attributes.update", "Worker "+w.friendlyName+" attributes updated", "worker", w.sid, nil, w, nil, nil)
	}
	if actGiven {
		var pending []*reservation
		if rejectPending && !e.activityAvailable(act) {
			for _, res := range sorted(e.reservations, ws.sid, func(x *reservation) string { return x.wsSid }, func(x *reservation) int64 { return x.seq }) {
				if res.workerSid == w.sid && res.status == resPending {
					pending = append(pending, res)
				}
			}
		}
		// Each rejection leaves the worker in the new activity, so she is not reserved again.
		for _, res := range pending {
			e.reject(res, act)
		}
		e.setWorkerActivity(w, act)
	}
	e.dispatch(ws)
	return ok(e.renderWorker(base, w)).withETag(w.version), nil
}

func (e *Engine) deleteWorker(r *http.Request, _ string) (*reply, error) {
	_, w, err := e.workerOf(r, "sid")
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(r, w.version); err != nil {
		return nil, err
	}
	if e.workerBusy(w.sid) {
		return nil, twilioapi.Errorf(http.StatusBadRequest, 20001, "Worker %s has a pending or assigned reservation and cannot be deleted", w.sid)
	}
	delete(e.workers, w.sid)
	return noContent(), nil
}

// Workflows.

func (e *Engine) workflowOf(r *http.Request) (*workspace, *workflow, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, nil, err
	}
	sid := r.PathValue("sid")
	wf := e.workflows[sid]
	if wf == nil || wf.wsSid != ws.sid {
		return nil, nil, twilioapi.NotFound("Workflows", sid)
	}
	return ws, wf, nil
}

func (e *Engine) listWorkflows(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	name := r.URL.Query().Get("FriendlyName")
	var items []map[string]any
	for _, wf := range sorted(e.workflows, ws.sid, func(w *workflow) string { return w.wsSid }, func(w *workflow) int64 { return w.seq }) {
		if name == "" || wf.friendlyName == name {
			items = append(items, e.renderWorkflow(base, wf))
		}
	}
	return list("workflows", items), nil
}

// workflowParams validates and applies a workflow's create/update parameters.
func (e *Engine) workflowParams(r *http.Request, ws *workspace, wf *workflow) error {
	conf, confGiven := formString(r, "Configuration")
	var cfg *routingConfig
	if confGiven {
		var err error
		cfg, err = parseRoutingConfig(conf, func(sid string) bool {
			q := e.queues[sid]
			return q != nil && q.wsSid == ws.sid
		})
		if err != nil {
			return twilioapi.Errorf(http.StatusBadRequest, 20001, "Invalid Configuration: %v", err)
		}
	}
	timeout, timeoutGiven, err := formInt(r, "TaskReservationTimeout", 1, 86400)
	if err != nil {
		return err
	}
	cb, cbGiven := formString(r, "AssignmentCallbackUrl")
	if err := checkURL("AssignmentCallbackUrl", cb); err != nil {
		return err
	}
	fb, fbGiven := formString(r, "FallbackAssignmentCallbackUrl")
	if err := checkURL("FallbackAssignmentCallbackUrl", fb); err != nil {
		return err
	}
	if v, given := formString(r, "FriendlyName"); given && v != "" {
		wf.friendlyName = v
	}
	if confGiven {
		wf.configuration, wf.config = conf, cfg
	}
	if timeoutGiven {
		wf.reservationTimeout = timeout
	}
	if cbGiven {
		wf.assignmentCallbackURL = cb
	}
	if fbGiven {
		wf.fallbackCallbackURL = fb
	}
	wf.updated = e.now()
	return nil
}

func (e *Engine) createWorkflow(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	if name, _ := formString(r, "FriendlyName"); name == "" {
		return nil, twilioapi.MissingParam("FriendlyName")
	}
	if conf, _ := formString(r, "Configuration"); conf == "" {
		return nil, twilioapi.MissingParam("Configuration")
	}
	now := e.now()
	wf := &workflow{seq: e.nextSeq(), sid: twilioapi.NewSID("WW"), wsSid: ws.sid, reservationTimeout: defaultReservationTimeout, created: now}
	if err := e.workflowParams(r, ws, wf); err != nil {
		return nil, err
	}
	e.workflows[wf.sid] = wf
	return created(e.renderWorkflow(base, wf)), nil
}

func (e *Engine) fetchWorkflow(r *http.Request, base string) (*reply, error) {
	_, wf, err := e.workflowOf(r)
	if err != nil {
		return nil, err
	}
	return ok(e.renderWorkflow(base, wf)), nil
}

func (e *Engine) updateWorkflow(r *http.Request, base string) (*reply, error) {
	ws, wf, err := e.workflowOf(r)
	if err != nil {
		return nil, err
	}
	if err := e.workflowParams(r, ws, wf); err != nil {
		return nil, err
	}
	if reeval, _, _ := formBool(r, "ReEvaluateTasks"); reeval {
		for _, t := range sorted(e.tasks, ws.sid, func(t *task) string { return t.wsSid }, func(t *task) int64 { return t.seq }) {
			if t.workflowSid == wf.sid && t.status == taskPending {
				e.route(t)
			}
		}
		e.dispatch(ws)
	}
	return ok(e.renderWorkflow(base, wf)), nil
}

func (e *Engine) deleteWorkflow(r *http.Request, _ string) (*reply, error) {
	_, wf, err := e.workflowOf(r)
	if err != nil {
		return nil, err
	}
	for _, t := range e.tasks {
		if t.workflowSid == wf.sid && t.status != taskCompleted && t.status != taskCanceled {
			return nil, twilioapi.Errorf(http.StatusBadRequest, 20001, "Workflow %s has active tasks and cannot be deleted", wf.sid)
		}
	}
	delete(e.workflows, wf.sid)
	return noContent(), nil
}

// Tasks.

func (e *Engine) taskOf(r *http.Request, param string) (*workspace, *task, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, nil, err
	}
	sid := r.PathValue(param)
	t := e.tasks[sid]
	if t == nil || t.wsSid != ws.sid {
		return nil, nil, twilioapi.NotFound("Tasks", sid)
	}
	return ws, t, nil
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
	tasks := sorted(e.tasks, ws.sid, func(t *task) string { return t.wsSid }, func(t *task) int64 { return t.seq })
	if strings.HasPrefix(qv.Get("Ordering"), "DateCreated:desc") {
		for i, j := 0, len(tasks)-1; i < j; i, j = i+1, j-1 {
			tasks[i], tasks[j] = tasks[j], tasks[i]
		}
	}
	var items []map[string]any
	for _, t := range tasks {
		switch {
		case len(statuses) > 0 && !statuses[t.status],
			qv.Get("WorkflowSid") != "" && t.workflowSid != qv.Get("WorkflowSid"),
			qv.Get("WorkflowName") != "" && e.workflowName(t.workflowSid) != qv.Get("WorkflowName"),
			qv.Get("TaskQueueSid") != "" && t.queueSid != qv.Get("TaskQueueSid"),
			qv.Get("TaskQueueName") != "" && e.queueName(t.queueSid) != qv.Get("TaskQueueName"),
			qv.Get("Priority") != "" && strconv.Itoa(t.priority) != qv.Get("Priority"),
			evalTask != nil && !evalTask.eval(&exprEnv{task: t.attrs}):
			continue
		}
		items = append(items, e.renderTask(base, t))
	}
	return list("tasks", items), nil
}

func (e *Engine) createTaskREST(r *http.Request, base string) (*reply, error) {
	ws, err := e.workspaceOf(r)
	if err != nil {
		return nil, err
	}
	wfSid, _ := formString(r, "WorkflowSid")
	var wf *workflow
	if wfSid == "" {
		// Twilio uses the workspace's only workflow when none is named.
		var only []*workflow
		for _, w := range e.workflows {
			if w.wsSid == ws.sid {
				only = append(only, w)
			}
		}
		if len(only) != 1 {
			return nil, twilioapi.MissingParam("WorkflowSid")
		}
		wf = only[0]
	} else if wf = e.workflows[wfSid]; wf == nil || wf.wsSid != ws.sid {
		return nil, twilioapi.InvalidParam("WorkflowSid", wfSid)
	}
	attributes, _ := formString(r, "Attributes")
	if attributes == "" {
		attributes = "{}"
	}
	attrs, valid := parseAttributes(attributes)
	if !valid {
		return nil, twilioapi.InvalidParam("Attributes", attributes)
	}
	priority, _, err := formInt(r, "Priority", 0, 1<<31-1)
	if err != nil {
		return nil, err
	}
	timeout, given, err := formInt(r, "Timeout", 1, maxTaskTimeout)
	if err != nil {
		return nil, err
	}
	if !given {
		timeout = defaultTaskTimeout
	}
	channel, err := e.channelOf(r, ws)
	if err != nil {
		return nil, err
	}
	t := e.createTask(ws, wf, attributes, attrs, priority, timeout, channel)
	return created(e.renderTask(base, t)).withETag(t.version), nil
}

// channelOf reads TaskChannel (a unique name or a TC SID); Twilio's default is "default".
func (e *Engine) channelOf(r *http.Request, ws *workspace) (string, error) {
	v, _ := formString(r, "TaskChannel")
	if v == "" {
		return "default", nil
	}
	for name, sid := range ws.channels {
		if v == name || v == sid {
			return name, nil
		}
	}
	return "", twilioapi.InvalidParam("TaskChannel", v)
}

func (e *Engine) fetchTask(r *http.Request, base string) (*reply, error) {
	_, t, err := e.taskOf(r, "sid")
	if err != nil {
		return nil, err
	}
	return ok(e.renderTask(base, t)).withETag(t.version), nil
}

func (e *Engine) updateTask(r *http.Request, base string) (*reply, error) {
	ws, t, err := e.taskOf(r, "sid")
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(r, t.version); err != nil {
		return nil, err
	}
	attributes, attrsGiven := formString(r, "Attributes")
	var attrs map[string]any
	if attrsGiven {
		var valid bool
		if attrs, valid = parseAttributes(attributes); !valid {
			return nil, twilioapi.InvalidParam("Attributes", attributes)
		}
	}
	priority, priorityGiven, err := formInt(r, "Priority", 0, 1<<31-1)
	if err != nil {
		return nil, err
	}
	status, statusGiven := formString(r, "AssignmentStatus")
	reason, _ := formString(r, "Reason")
	if statusGiven {
		if err := checkTaskTransition(t, status, reason); err != nil {
			return nil, err
		}
	}
	if attrsGiven || priorityGiven {
		if attrsGiven {
			t.attributes, t.attrs = attributes, attrs
		}
		if priorityGiven {
			t.priority, t.basePriority = priority, priority
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
		switch status {
		case taskCanceled:
			e.cancelTask(t, reason, true)
		case taskWrapping:
			e.wrap(t)
		case taskCompleted:
			e.complete(t, reason)
		}
	}
	e.dispatch(ws)
	return ok(e.renderTask(base, t)).withETag(t.version), nil
}

// checkTaskTransition refuses what Twilio refuses, with Twilio's messages.
func checkTaskTransition(t *task, status, reason string) error {
	switch status {
	case taskCanceled:
		if reason == "" {
			return twilioapi.MissingParam("Reason")
		}
		if !t.open() {
			return twilioapi.Errorf(http.StatusBadRequest, 20001, "Cannot cancel task %s in workspace %s because it is not pending or reserved", t.sid, t.wsSid)
		}
	case taskCompleted:
		if reason == "" {
			return twilioapi.MissingParam("Reason")
		}
		if t.status != taskAssigned && t.status != taskWrapping {
			return twilioapi.Errorf(http.StatusBadRequest, 20001, "Cannot complete task %s in workspace %s because it is not assigned or wrapping", t.sid, t.wsSid)
		}
	case taskWrapping:
		if t.status != taskAssigned {
			return twilioapi.Errorf(http.StatusBadRequest, 20001, "Cannot wrap up task %s in workspace %s because it's not currently assigned", t.sid, t.wsSid)
		}
	default:
		return twilioapi.InvalidParam("AssignmentStatus", status)
	}
	return nil
}

func (e *Engine) deleteTask(r *http.Request, _ string) (*reply, error) {
	ws, t, err := e.taskOf(r, "sid")
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

// Reservations, under Tasks and under Workers.

func (e *Engine) listTaskReservations(r *http.Request, base string) (*reply, error) {
	_, t, err := e.taskOf(r, "task")
	if err != nil {
		return nil, err
	}
	qv := r.URL.Query()
	var items []map[string]any
	for _, res := range e.taskReservations(t) {
		if (qv.Get("ReservationStatus") == "" || res.status == qv.Get("ReservationStatus")) &&
			(qv.Get("WorkerSid") == "" || res.workerSid == qv.Get("WorkerSid")) {
			items = append(items, e.renderReservation(base, res, false))
		}
	}
	return list("reservations", items), nil
}

func (e *Engine) listWorkerReservations(r *http.Request, base string) (*reply, error) {
	ws, w, err := e.workerOf(r, "worker")
	if err != nil {
		return nil, err
	}
	status := r.URL.Query().Get("ReservationStatus")
	var items []map[string]any
	for _, res := range sorted(e.reservations, ws.sid, func(x *reservation) string { return x.wsSid }, func(x *reservation) int64 { return x.seq }) {
		if res.workerSid == w.sid && (status == "" || res.status == status) {
			items = append(items, e.renderReservation(base, res, true))
		}
	}
	return list("reservations", items), nil
}

func (e *Engine) reservationOf(r *http.Request, viaWorker bool) (*reservation, error) {
	var parent string
	if viaWorker {
		_, w, err := e.workerOf(r, "worker")
		if err != nil {
			return nil, err
		}
		parent = w.sid
	} else {
		_, t, err := e.taskOf(r, "task")
		if err != nil {
			return nil, err
		}
		parent = t.sid
	}
	sid := r.PathValue("sid")
	res := e.reservations[sid]
	if res == nil || (viaWorker && res.workerSid != parent) || (!viaWorker && res.taskSid != parent) {
		return nil, twilioapi.NotFound("Reservations", sid)
	}
	return res, nil
}

func (e *Engine) fetchTaskReservation(r *http.Request, base string) (*reply, error) {
	return e.fetchReservation(r, base, false)
}

func (e *Engine) fetchWorkerReservation(r *http.Request, base string) (*reply, error) {
	return e.fetchReservation(r, base, true)
}

func (e *Engine) fetchReservation(r *http.Request, base string, viaWorker bool) (*reply, error) {
	res, err := e.reservationOf(r, viaWorker)
	if err != nil {
		return nil, err
	}
	return ok(e.renderReservation(base, res, viaWorker)).withETag(res.version), nil
}

func (e *Engine) updateTaskReservation(r *http.Request, base string) (*reply, error) {
	return e.updateReservation(r, base, false)
}

func (e *Engine) updateWorkerReservation(r *http.Request, base string) (*reply, error) {
	return e.updateReservation(r, base, true)
}

// Error codes Twilio gives an instruction issued on a reservation that is no longer pending.
var instructionCodes = map[string]int{"dequeue": 40135, "call": 40114, "redirect": 40123, "conference": 40136}

func (e *Engine) updateReservation(r *http.Request, base string, viaWorker bool) (*reply, error) {
	res, err := e.reservationOf(r, viaWorker)
	if err != nil {
		return nil, err
	}
	if err := checkIfMatch(r, res.version); err != nil {
		return nil, err
	}
	ws := e.workspaces[res.wsSid]
	t := e.tasks[res.taskSid]
	status, statusGiven := formString(r, "ReservationStatus")
	instruction, _ := formString(r, "Instruction")
	instruction = strings.ToLower(instruction)
	activity, activityGiven := formString(r, "WorkerActivitySid")
	if activityGiven && activity != "" {
		if err := e.activityIn(ws, "WorkerActivitySid", activity); err != nil {
			return nil, err
		}
	}
	if instruction != "" {
		code, known := instructionCodes[instruction]
		if !known {
			return nil, twilioapi.InvalidParam("Instruction", instruction)
		}
		if res.status != resPending {
			return nil, twilioapi.Errorf(http.StatusBadRequest, code,
				"Unable to execute %s instruction. Reservation %s is not currently in a Pending state.", instruction, res.sid)
		}
		if instruction == "call" || instruction == "redirect" {
			return nil, twilioapi.Errorf(http.StatusBadRequest, 20001, "The sandbox does not execute the %s instruction", instruction)
		}
		// dequeue and conference accept the reservation; the sandbox places no call for them.
		for _, name := range []string{"PostWorkActivitySid", "DequeuePostWorkActivitySid"} {
			if v, _ := formString(r, name); v != "" {
				if err := e.activityIn(ws, name, v); err != nil {
					return nil, err
				}
				res.postWorkActivitySid = v
			}
		}
		e.accept(res)
		return ok(e.renderReservation(base, res, viaWorker)).withETag(res.version), nil
	}
	if !statusGiven {
		return ok(e.renderReservation(base, res, viaWorker)).withETag(res.version), nil
	}
	notFrom := func(want string) error {
		// Twilio's message for it ("is already in state [x] and cannot be updated to [y]"); the
		// code is not documented: 20001, the generic invalid-parameter code.
		return twilioapi.Errorf(http.StatusBadRequest, 20001,
			"Reservation %s is already in state [%s] and cannot be updated to [%s]", res.sid, res.status, want)
	}
	switch status {
	case resAccepted:
		if res.status != resPending {
			return nil, notFrom(status)
		}
		e.accept(res)
	case resRejected:
		if res.status != resPending {
			return nil, notFrom(status)
		}
		e.reject(res, activity)
	case resWrapping:
		if res.status != resAccepted {
			return nil, notFrom(status)
		}
		e.wrap(t)
	case resCompleted:
		if res.status != resAccepted && res.status != resWrapping {
			return nil, notFrom(status)
		}
		e.complete(t, "Reservation completed")
	default:
		return nil, twilioapi.InvalidParam("ReservationStatus", status)
	}
	return ok(e.renderReservation(base, res, viaWorker)).withETag(res.version), nil
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
