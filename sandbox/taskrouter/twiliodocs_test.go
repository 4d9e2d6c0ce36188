package taskrouter

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"queuebridge/sandbox/internal/twilioapi"
)

// Issue 10: behaviours Twilio documents, each test citing its source.

// Twilio, "Lifecycle of a Task" (task evaluation): "the target timeout for this task happens in
// 12 seconds because it's based on the Task's current time. [...] the queue timeout is based
// on the current age of the Task."
func TestTargetTimeoutCountsFromTaskAge(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	q1, q2, q3 := h.queue("q1", `team == "x"`), h.queue("q2", `team == "x"`), h.queue("q3", `team == "x"`)
	wf := h.workflow(map[string]any{"task_routing": map[string]any{"filters": []any{
		map[string]any{"expression": "1==1", "targets": []any{
			map[string]any{"queue": q1, "timeout": 8},
			map[string]any{"queue": q2, "timeout": 20},
			map[string]any{"queue": q3, "timeout": 5}}}}}}, 0)
	task := h.task(wf, nil)
	h.next(1)
	h.clock.Advance(8 * time.Second)
	assert.Equal(t, q2, *h.fetchTask(task).TaskQueueSid)
	h.next(1)

	// Entered q2 at age 8: its timeout of 20 passes at age 20, 12 s later, not 20 s later.
	h.clock.Advance(11 * time.Second)
	assert.Equal(t, q2, *h.fetchTask(task).TaskQueueSid)
	// Then q3's timeout of 5 is already behind a task aged 20: it leaves q3 at once.
	h.clock.Advance(1 * time.Second)
	assert.Equal(t, []string{"task-queue.timeout", "workflow.target-matched", "task-queue.entered",
		"task-queue.timeout", "workflow.timeout", "task.canceled"}, h.next(1))
	assert.Equal(t, q3, *h.fetchTask(task).TaskQueueSid)
}

// Twilio, TaskRouter Events reference, task event fields: "TaskCanceledReason | The reason
// that task was canceled".
func TestTaskCanceledCarriesTaskCanceledReason(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	wf := h.simpleWorkflow(h.queue("q", `team == "nobody"`))
	task := h.task(wf, nil)
	_, err := h.tr.UpdateTask(h.ws, task, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("canceled").SetReason("customer hung up"))
	require.NoError(t, err)
	h.next(1)
	assert.Equal(t, "customer hung up", h.lastEvent("task.canceled").Get("TaskCanceledReason"))
	assert.Equal(t, "customer hung up", *h.fetchTask(task).Reason, "the Task resource's reason too")

	wf = h.workflow(map[string]any{"task_routing": map[string]any{"filters": []any{
		map[string]any{"expression": "1==1", "targets": []any{map[string]any{"queue": h.queue("q2", ""), "timeout": 5}}}}}}, 0)
	h.task(wf, nil)
	h.clock.Advance(5 * time.Second)
	h.next(1)
	assert.Equal(t, reasonWorkflowTimeout, h.lastEvent("task.canceled").Get("TaskCanceledReason"))
}

// Twilio, "Handle assignment callbacks": a rejected task "is placed back into the queue"; move
// the worker to an unavailable activity "to avoid having the Task immediately reassigned to the
// worker". So by default a rejecting worker who stays available is offered the task again.
func TestRejectedTaskIsOfferedAgain(t *testing.T) {
	h := newHarness(t)
	h.engine.SetReofferRejected(true)
	h.workspace("")
	alice := h.worker("alice", nil, h.available)
	task := h.task(h.simpleWorkflow(h.queue("q", "")), nil)
	h.next(1)
	res := h.pendingReservation(task)
	_, err := h.tr.UpdateTaskReservation(h.ws, task, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected"))
	require.NoError(t, err)
	assert.Equal(t, []string{"reservation.rejected", "reservation.created"}, h.next(1))
	again := h.pendingReservation(task)
	assert.Equal(t, alice, *again.WorkerSid)
	assert.NotEqual(t, *res.Sid, *again.Sid)

	// Rejecting into an unavailable activity, as Twilio recommends, keeps her away.
	_, err = h.tr.UpdateTaskReservation(h.ws, task, *again.Sid,
		(&trapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected").SetWorkerActivitySid(h.unavail))
	require.NoError(t, err)
	assert.Equal(t, []string{"reservation.rejected", "worker.activity.update"}, h.next(1))
	assert.Equal(t, "pending", *h.fetchTask(task).AssignmentStatus)
}

// TWILIO.md: "A task is auto-canceled after 1,000 rejections." Whether reservation time-outs
// count is not documented: an option, off by default.
func TestTimeoutsCountAsRejectionsOption(t *testing.T) {
	for _, count := range []bool{false, true} {
		h := newHarness(t)
		h.engine.SetTimeoutsCountAsRejections(count)
		h.workspace("")
		task := h.task(h.simpleWorkflow(h.queue("q", "")), nil)
		h.engine.mu.Lock()
		h.engine.tasks[task].rejections = maxRejections - 1
		h.engine.mu.Unlock()
		h.worker("alice", nil, h.available)
		h.clock.Advance(defaultReservationTimeout * time.Second)
		want := map[bool]string{false: "pending", true: "canceled"}[count]
		assert.Equal(t, want, *h.fetchTask(task).AssignmentStatus, "time-outs counted: %v", count)
	}
}

// A queue whose TargetWorkers match nobody holds the task, unreserved, until a worker matches
// (Twilio, "TaskQueues": TargetWorkers decides which workers may receive its tasks) or the
// target's timeout passes.
func TestUnmatchedTargetWorkersLeavesTaskWaiting(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	q := h.queue("q", `skills HAS "sales"`)
	h.worker("alice", map[string]any{"skills": []any{"support"}}, h.available)
	wf := h.workflow(map[string]any{"task_routing": map[string]any{"filters": []any{
		map[string]any{"expression": "1==1", "targets": []any{map[string]any{"queue": q, "timeout": 60}}}}}}, 0)
	task := h.task(wf, nil)
	assert.Equal(t, []string{"task.created", "workflow.target-matched", "task-queue.entered"}, h.next(1))
	assert.Empty(t, h.reservations(task))
	assert.Equal(t, q, *h.fetchTask(task).TaskQueueSid)

	bob := h.worker("bob", map[string]any{"skills": []any{"sales"}}, h.available)
	assert.Equal(t, bob, *h.pendingReservation(task).WorkerSid)

	other := h.task(wf, nil)
	h.clock.Advance(60 * time.Second)
	assert.Empty(t, h.reservations(other))
	assert.Equal(t, "canceled", *h.fetchTask(other).AssignmentStatus, "past its only target: workflow timeout")
}

// Twilio, Events reference: "reservation.rescinded: Multi-reservation was used for a task and
// another worker has accepted one of the created reservations"; TaskQueue MaxReservedWorkers
// 1-50, default 1.
func TestMultiReservationAcceptRescindsTheOthers(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	q, err := h.tr.CreateTaskQueue(h.ws, (&trapi.CreateTaskQueueParams{}).SetFriendlyName("ring-all").SetMaxReservedWorkers(3))
	require.NoError(t, err)
	for _, n := range []string{"alice", "bob", "carol", "dave"} {
		h.worker(n, nil, h.available)
	}
	task := h.task(h.simpleWorkflow(*q.Sid), nil)
	h.next(1)
	rs := h.reservations(task)
	require.Len(t, rs, 3, "three reservations at once, no more")
	_, err = h.tr.UpdateTaskReservation(h.ws, task, *rs[1].Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
	require.NoError(t, err)
	assert.Equal(t, []string{"reservation.accepted", "reservation.rescinded", "reservation.rescinded"}, h.next(1))
	for i, want := range []string{"rescinded", "accepted", "rescinded"} {
		assert.Equal(t, want, h.reservationStatus(task, *rs[i].Sid))
	}

	_, err = h.tr.CreateTaskQueue(h.ws, (&trapi.CreateTaskQueueParams{}).SetFriendlyName("too many").SetMaxReservedWorkers(51))
	require.Error(t, err)
}

// Twilio error 14215 "Dial->Queue: Invalid ReservationSid. Unable to dequeue": among its causes,
// a reservation already accepted, or no longer pending.
func TestDequeueOfNonPendingReservationIs14215(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	h.worker("alice", nil, h.available)
	task := h.task(h.simpleWorkflow(h.queue("q", "")), nil)
	res := h.pendingReservation(task)
	_, err := h.tr.UpdateTaskReservation(h.ws, task, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
	require.NoError(t, err)
	_, err = h.engine.DequeueReservation(context.Background(), *res.Sid, "")
	var te *twilioapi.Error
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 14215, te.Code)
}

// TaskQueue resource, TargetWorkers: "If no TargetWorkers parameter is provided, Tasks will wait
// in the TaskQueue until they are either deleted or moved to another TaskQueue ... Defaults to
// 1==1." The two sentences disagree: by default an omitted or empty TargetWorkers is "1==1"
// (every worker); SetEmptyTargetWorkersWait(true) makes the queue match nobody, so its tasks
// wait unreserved until the target times out.
func TestEmptyTargetWorkers(t *testing.T) {
	for _, wait := range []bool{false, true} {
		t.Run(map[bool]string{false: "default 1==1", true: "option: tasks wait"}[wait], func(t *testing.T) {
			h := newHarness(t)
			h.engine.SetEmptyTargetWorkersWait(wait)
			h.workspace("")
			alice := h.worker("alice", nil, h.available)
			omitted := h.queue("omitted", "")
			empty, err := h.tr.CreateTaskQueue(h.ws, (&trapi.CreateTaskQueueParams{}).SetFriendlyName("empty").SetTargetWorkers(""))
			require.NoError(t, err)
			for _, q := range []string{omitted, *empty.Sid} {
				fetched, err := h.tr.FetchTaskQueue(h.ws, q)
				require.NoError(t, err)
				wf := h.workflow(map[string]any{"task_routing": map[string]any{"filters": []any{
					map[string]any{"expression": "1==1", "targets": []any{map[string]any{"queue": q, "timeout": 60}}}}}}, 0)
				task := h.task(wf, nil)
				if !wait {
					assert.Equal(t, "1==1", *fetched.TargetWorkers)
					res := h.pendingReservation(task)
					assert.Equal(t, alice, *res.WorkerSid)
					_, err = h.tr.UpdateTaskReservation(h.ws, task, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected"))
					require.NoError(t, err)
					_, err = h.tr.UpdateTask(h.ws, task, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("canceled").SetReason("test"))
					require.NoError(t, err)
					continue
				}
				assert.Empty(t, h.reservations(task), "nobody matches an empty TargetWorkers")
				assert.Equal(t, "pending", *h.fetchTask(task).AssignmentStatus)
				assert.Equal(t, q, *h.fetchTask(task).TaskQueueSid, "the task waits in the queue")
				h.clock.Advance(60 * time.Second)
				assert.Equal(t, "canceled", *h.fetchTask(task).AssignmentStatus, "then the target times out")
			}
		})
	}
}
