package taskrouter

import (
	"encoding/json"
	"time"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/twilioapi"
)

// The engine's resources. They live behind Engine.mu; handlers render them while holding it.

// record is what every resource has. seq orders resources by creation, as Twilio lists them;
// version counts the changes of tasks, workers and reservations, whose ETag it is. A
// workspace's wsSid is empty.
type record struct {
	seq              int64
	sid, wsSid       string
	created, updated time.Time
	version          int
}

func (r *record) rec() *record { return r }

// recorded is any resource: the generic REST handlers work on it.
type recorded interface{ rec() *record }

func (e *Engine) newRecord(prefix, wsSid string) record {
	now := e.now()
	return record{seq: e.nextSeq(), sid: twilioapi.NewSID(prefix), wsSid: wsSid, created: now, updated: now}
}

type workspace struct {
	record
	friendlyName       string
	eventCallbackURL   string
	eventsFilter       string
	defaultActivitySid string
	timeoutActivitySid string
	multiTaskEnabled   bool
	queueOrder         string
	channels           map[string]string // unique name → TC sid
}

type activity struct {
	record
	friendlyName string
	available    bool
}

type taskQueue struct {
	record
	friendlyName           string
	targetWorkers          string
	targetExpr             expr
	maxReservedWorkers     int
	taskOrder              string
	reservationActivitySid string
	assignmentActivitySid  string
}

type worker struct {
	record
	friendlyName  string
	attributes    string
	attrs         map[string]any
	activitySid   string
	statusChanged time.Time
	// idleSince orders available workers: the one idle longest gets the next reservation.
	idleSince time.Time
}

type workflow struct {
	record
	friendlyName          string
	configuration         string
	config                *routingConfig
	assignmentCallbackURL string
	fallbackCallbackURL   string
	reservationTimeout    int
}

type task struct {
	record
	workflowSid  string
	attributes   string
	attrs        map[string]any
	status       string
	reason       string
	priority     int
	basePriority int
	timeout      int
	channel      string
	queueSid     string
	queueEntered time.Time

	// Routing state: the matched filter (-1: default filter) and the target within it.
	filter, target int
	routed         bool
	targetExpired  bool
	targetTimer    clock.Timer
	ttlTimer       clock.Timer
	excluded       map[string]bool // workers that rejected the task, under Options.NoReoffer
	rejections     int
}

type reservation struct {
	record
	taskSid   string
	workerSid string
	status    string
	timer     clock.Timer
	// priorActivitySid is the worker's activity before the queue's ReservationActivitySid or
	// AssignmentActivitySid moved it, restored when the reservation ends.
	priorActivitySid string
	activityChanged  bool
	// postWorkActivitySid comes from <Dial><Queue postWorkActivitySid>: the worker's activity
	// once the task is completed.
	postWorkActivitySid string
}

// Twilio's statuses.
const (
	taskPending   = "pending"
	taskReserved  = "reserved"
	taskAssigned  = "assigned"
	taskWrapping  = "wrapping"
	taskCompleted = "completed"
	taskCanceled  = "canceled"

	resPending   = "pending"
	resAccepted  = "accepted"
	resRejected  = "rejected"
	resTimeout   = "timeout"
	resCanceled  = "canceled"
	resRescinded = "rescinded"
	resWrapping  = "wrapping"
	resCompleted = "completed"
)

func (r *reservation) active() bool {
	return r.status == resPending || r.status == resAccepted || r.status == resWrapping
}

func (t *task) open() bool { return t.status == taskPending || t.status == taskReserved }

// Rendering. base is scheme://host of the request, so url and links point back at the sandbox.

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (e *Engine) renderWorkspace(base string, ws *workspace) map[string]any {
	u := base + "/v1/Workspaces/" + ws.sid
	return map[string]any{
		"account_sid":            e.cfg.Credentials.AccountSid,
		"date_created":           twilioapi.RFC3339(ws.created),
		"date_updated":           twilioapi.RFC3339(ws.updated),
		"default_activity_name":  nullable(e.activityName(ws.defaultActivitySid)),
		"default_activity_sid":   nullable(ws.defaultActivitySid),
		"event_callback_url":     nullable(ws.eventCallbackURL),
		"events_filter":          nullable(ws.eventsFilter),
		"friendly_name":          ws.friendlyName,
		"multi_task_enabled":     ws.multiTaskEnabled,
		"sid":                    ws.sid,
		"timeout_activity_name":  nullable(e.activityName(ws.timeoutActivitySid)),
		"timeout_activity_sid":   nullable(ws.timeoutActivitySid),
		"prioritize_queue_order": ws.queueOrder,
		"url":                    u,
		"links": map[string]any{
			"task_queues":   u + "/TaskQueues",
			"statistics":    u + "/Statistics",
			"task_channels": u + "/TaskChannels",
			"events":        u + "/Events",
			"activities":    u + "/Activities",
			"tasks":         u + "/Tasks",
			"workers":       u + "/Workers",
			"workflows":     u + "/Workflows",
		},
	}
}

func (e *Engine) renderActivity(base string, a *activity) map[string]any {
	u := base + "/v1/Workspaces/" + a.wsSid + "/Activities/" + a.sid
	return map[string]any{
		"account_sid":   e.cfg.Credentials.AccountSid,
		"available":     a.available,
		"date_created":  twilioapi.RFC3339(a.created),
		"date_updated":  twilioapi.RFC3339(a.updated),
		"friendly_name": a.friendlyName,
		"sid":           a.sid,
		"workspace_sid": a.wsSid,
		"url":           u,
		"links":         map[string]any{"workspace": base + "/v1/Workspaces/" + a.wsSid},
	}
}

func (e *Engine) renderQueue(base string, q *taskQueue) map[string]any {
	ws := base + "/v1/Workspaces/" + q.wsSid
	u := ws + "/TaskQueues/" + q.sid
	return map[string]any{
		"account_sid":               e.cfg.Credentials.AccountSid,
		"assignment_activity_sid":   nullable(q.assignmentActivitySid),
		"assignment_activity_name":  nullable(e.activityName(q.assignmentActivitySid)),
		"date_created":              twilioapi.RFC3339(q.created),
		"date_updated":              twilioapi.RFC3339(q.updated),
		"friendly_name":             q.friendlyName,
		"max_reserved_workers":      q.maxReservedWorkers,
		"reservation_activity_sid":  nullable(q.reservationActivitySid),
		"reservation_activity_name": nullable(e.activityName(q.reservationActivitySid)),
		"sid":                       q.sid,
		"target_workers":            q.targetWorkers,
		"task_order":                q.taskOrder,
		"url":                       u,
		"workspace_sid":             q.wsSid,
		"links": map[string]any{
			"workspace":                 ws,
			"statistics":                u + "/Statistics",
			"real_time_statistics":      u + "/RealTimeStatistics",
			"cumulative_statistics":     u + "/CumulativeStatistics",
			"list_statistics":           ws + "/TaskQueues/Statistics",
			"bulk_real_time_statistics": ws + "/TaskQueues/RealTimeStatistics",
		},
	}
}

func (e *Engine) renderWorker(base string, w *worker) map[string]any {
	ws := base + "/v1/Workspaces/" + w.wsSid
	u := ws + "/Workers/" + w.sid
	return map[string]any{
		"account_sid":         e.cfg.Credentials.AccountSid,
		"activity_name":       e.activityName(w.activitySid),
		"activity_sid":        w.activitySid,
		"attributes":          w.attributes,
		"available":           e.activityAvailable(w.activitySid),
		"date_created":        twilioapi.RFC3339(w.created),
		"date_status_changed": twilioapi.RFC3339(w.statusChanged),
		"date_updated":        twilioapi.RFC3339(w.updated),
		"friendly_name":       w.friendlyName,
		"sid":                 w.sid,
		"workspace_sid":       w.wsSid,
		"url":                 u,
		"links": map[string]any{
			"channels":              u + "/Channels",
			"reservations":          u + "/Reservations",
			"statistics":            u + "/Statistics",
			"workspace":             ws,
			"activity":              ws + "/Activities/" + w.activitySid,
			"real_time_statistics":  ws + "/Workers/RealTimeStatistics",
			"cumulative_statistics": ws + "/Workers/CumulativeStatistics",
		},
	}
}

func (e *Engine) renderWorkflow(base string, wf *workflow) map[string]any {
	ws := base + "/v1/Workspaces/" + wf.wsSid
	u := ws + "/Workflows/" + wf.sid
	return map[string]any{
		"account_sid":                      e.cfg.Credentials.AccountSid,
		"assignment_callback_url":          nullable(wf.assignmentCallbackURL),
		"configuration":                    wf.configuration,
		"date_created":                     twilioapi.RFC3339(wf.created),
		"date_updated":                     twilioapi.RFC3339(wf.updated),
		"document_content_type":            "application/json",
		"fallback_assignment_callback_url": nullable(wf.fallbackCallbackURL),
		"friendly_name":                    wf.friendlyName,
		"sid":                              wf.sid,
		"task_reservation_timeout":         wf.reservationTimeout,
		"workspace_sid":                    wf.wsSid,
		"url":                              u,
		"links": map[string]any{
			"statistics":            u + "/Statistics",
			"real_time_statistics":  u + "/RealTimeStatistics",
			"cumulative_statistics": u + "/CumulativeStatistics",
		},
	}
}

func (e *Engine) renderTask(base string, t *task) map[string]any {
	ws := base + "/v1/Workspaces/" + t.wsSid
	u := ws + "/Tasks/" + t.sid
	var entered any
	if t.queueSid != "" {
		entered = twilioapi.RFC3339(t.queueEntered)
	}
	return map[string]any{
		"account_sid":              e.cfg.Credentials.AccountSid,
		"age":                      int(e.now().Sub(t.created) / time.Second),
		"assignment_status":        t.status,
		"attributes":               t.attributes,
		"addons":                   "{}",
		"date_created":             twilioapi.RFC3339(t.created),
		"date_updated":             twilioapi.RFC3339(t.updated),
		"task_queue_entered_date":  entered,
		"priority":                 t.priority,
		"reason":                   nullable(t.reason),
		"sid":                      t.sid,
		"task_queue_sid":           nullable(t.queueSid),
		"task_queue_friendly_name": nullable(e.queueName(t.queueSid)),
		"task_channel_sid":         nullable(e.workspaces[t.wsSid].channels[t.channel]),
		"task_channel_unique_name": t.channel,
		"timeout":                  t.timeout,
		"workflow_sid":             nullable(t.workflowSid),
		"workflow_friendly_name":   nullable(e.workflowName(t.workflowSid)),
		"workspace_sid":            t.wsSid,
		"url":                      u,
		"virtual_start_time":       twilioapi.RFC3339(t.created),
		"ignore_capacity":          false,
		"routing_target":           nil,
		"links": map[string]any{
			"task_queue":   ws + "/TaskQueues/" + t.queueSid,
			"workflow":     ws + "/Workflows/" + t.workflowSid,
			"workspace":    ws,
			"reservations": u + "/Reservations",
		},
	}
}

// renderReservation renders a reservation as the Task's subresource or, viaWorker, the Worker's.
func (e *Engine) renderReservation(base string, r *reservation, viaWorker bool) map[string]any {
	ws := base + "/v1/Workspaces/" + r.wsSid
	u := ws + "/Tasks/" + r.taskSid + "/Reservations/" + r.sid
	if viaWorker {
		u = ws + "/Workers/" + r.workerSid + "/Reservations/" + r.sid
	}
	name := ""
	if w := e.workers[r.workerSid]; w != nil {
		name = w.friendlyName
	}
	return map[string]any{
		"account_sid":        e.cfg.Credentials.AccountSid,
		"date_created":       twilioapi.RFC3339(r.created),
		"date_updated":       twilioapi.RFC3339(r.updated),
		"reservation_status": r.status,
		"sid":                r.sid,
		"task_sid":           r.taskSid,
		"worker_name":        name,
		"worker_sid":         r.workerSid,
		"workspace_sid":      r.wsSid,
		"url":                u,
		"links": map[string]any{
			"task":      ws + "/Tasks/" + r.taskSid,
			"worker":    ws + "/Workers/" + r.workerSid,
			"workspace": ws,
		},
	}
}

func (e *Engine) activityName(sid string) string {
	if a := e.activities[sid]; a != nil {
		return a.friendlyName
	}
	return ""
}

func (e *Engine) activityAvailable(sid string) bool {
	a := e.activities[sid]
	return a != nil && a.available
}

func (e *Engine) queueName(sid string) string {
	if q := e.queues[sid]; q != nil {
		return q.friendlyName
	}
	return ""
}

func (e *Engine) workflowName(sid string) string {
	if wf := e.workflows[sid]; wf != nil {
		return wf.friendlyName
	}
	return ""
}

// parseAttributes checks that s is a JSON object, as Twilio requires of Attributes.
func parseAttributes(s string) (map[string]any, bool) {
	if s == "" {
		s = "{}"
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil || m == nil {
		return nil, false
	}
	return m, true
}

// Task, Reservation and Worker are copies of the engine's state, for tests and the demo.
type Task struct {
	Sid, WorkspaceSid, WorkflowSid, TaskQueueSid string
	AssignmentStatus                             string
	Reason                                       string
	Attributes                                   map[string]any
	Priority                                     int
	Timeout                                      int
	TaskChannel                                  string
	DateCreated, DateUpdated                     time.Time
}

// Reservation is a copy of a reservation's state.
type Reservation struct {
	Sid, WorkspaceSid, TaskSid, WorkerSid string
	ReservationStatus                     string
	DateCreated, DateUpdated              time.Time
}

// Worker is a copy of a worker's state.
type Worker struct {
	Sid, WorkspaceSid, FriendlyName string
	ActivitySid, ActivityName       string
	Available                       bool
	Attributes                      map[string]any
}
