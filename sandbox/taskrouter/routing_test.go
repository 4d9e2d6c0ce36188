package taskrouter

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/sandbox/internal/twilioapi"
)

func TestTaskRoutedToOnlyAvailableWorkerAndCompleted(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	q := h.queue("support", "")
	h.worker("offline-agent", map[string]any{"contact_uri": "+15550000001"}, "")
	alice := h.worker("alice", map[string]any{"contact_uri": "+15550000002"}, h.available)
	wf := h.simpleWorkflow(q)
	h.next(1)

	task := h.task(wf, map[string]any{"call_sid": "CA1"})
	assert.Equal(t, []string{"task.created", "workflow.target-matched", "task-queue.entered", "reservation.created"}, h.next(1))
	created := h.lastEvent("reservation.created")
	assert.Equal(t, alice, created.Get("WorkerSid"))
	assert.Equal(t, task, created.Get("TaskSid"))
	assert.Equal(t, q, created.Get("TaskQueueSid"))
	assert.JSONEq(t, `{"call_sid":"CA1"}`, created.Get("TaskAttributes"))
	assert.JSONEq(t, `{"contact_uri":"+15550000002"}`, created.Get("WorkerAttributes"))
	assert.Equal(t, sandboxtest.Account, created.Get("AccountSid"))
	assert.Equal(t, h.ws, created.Get("WorkspaceSid"))
	assert.Equal(t, "reservation", created.Get("ResourceType"))
	assert.True(t, twilioapi.HasSIDShape(created.Get("Sid"), "EV"))
	assert.NotEmpty(t, created.Get("TimestampMs"))
	assert.Equal(t, "reserved", *h.fetchTask(task).AssignmentStatus)

	res := h.pendingReservation(task)
	_, err := h.tr.UpdateTaskReservation(h.ws, task, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
	require.NoError(t, err)
	assert.Equal(t, []string{"reservation.accepted"}, h.next(1))
	assert.Equal(t, "assigned", *h.fetchTask(task).AssignmentStatus)

	_, err = h.tr.UpdateTask(h.ws, task, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("wrapping"))
	require.NoError(t, err)
	assert.Equal(t, []string{"reservation.wrapup", "task.wrapup"}, h.next(1))

	_, err = h.tr.UpdateTask(h.ws, task, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("completed").SetReason("done"))
	require.NoError(t, err)
	assert.Equal(t, []string{"reservation.completed", "task.completed"}, h.next(1))
	assert.Equal(t, "done", h.lastEvent("task.completed").Get("TaskCompletedReason"))
	got := h.fetchTask(task)
	assert.Equal(t, "completed", *got.AssignmentStatus)
	assert.Equal(t, "completed", *h.reservations(task)[0].ReservationStatus)

	// The worker is free again: the next task goes to alice at once.
	task2 := h.task(wf, map[string]any{})
	h.next(1)
	assert.Equal(t, alice, h.lastEvent("reservation.created").Get("WorkerSid"))
	assert.Equal(t, task2, h.lastEvent("reservation.created").Get("TaskSid"))

	// Completed tasks are deleted after 5 minutes (meanwhile task2's reservation timed out).
	h.clock.Advance(5 * time.Minute)
	assert.Equal(t, []string{"reservation.timeout", "worker.activity.update", "task.system-deleted"}, h.next(1))
	_, err = h.tr.FetchTask(h.ws, task)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "20404")
}

// Under SetReofferRejected(false), the sandbox's option; TestRejectedTaskIsOfferedAgain has
// Twilio's documented default.
func TestRejectRoutesToNextWorkerNotTheSameOneAgain(t *testing.T) {
	h := newHarness(t)
	h.engine.SetReofferRejected(false)
	h.workspace("")
	q := h.queue("support", "")
	alice := h.worker("alice", nil, h.available)
	bob := h.worker("bob", nil, h.available)
	wf := h.simpleWorkflow(q)
	task := h.task(wf, nil)
	h.next(1)
	first := h.pendingReservation(task)
	assert.Equal(t, alice, *first.WorkerSid, "longest idle worker first")

	// Rejecting without WorkerActivitySid keeps alice Available; she must not get it again.
	_, err := h.tr.UpdateTaskReservation(h.ws, task, *first.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected"))
	require.NoError(t, err)
	assert.Equal(t, []string{"reservation.rejected", "reservation.created"}, h.next(1))
	second := h.pendingReservation(task)
	assert.Equal(t, bob, *second.WorkerSid)

	// Bob rejects and goes Unavailable: nobody is left, the task waits pending.
	_, err = h.tr.UpdateTaskReservation(h.ws, task, *second.Sid,
		(&trapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected").SetWorkerActivitySid(h.unavail))
	require.NoError(t, err)
	assert.Equal(t, []string{"reservation.rejected", "worker.activity.update"}, h.next(1))
	assert.Equal(t, "pending", *h.fetchTask(task).AssignmentStatus)
	assert.Equal(t, "Unavailable", *h.fetchWorker(bob).ActivityName)
	assert.False(t, *h.fetchWorker(bob).Available)
	assert.Equal(t, h.available, *h.fetchWorker(alice).ActivitySid)

	// A new worker is routed the waiting task as soon as she becomes available.
	carol := h.worker("carol", nil, h.offline)
	_, err = h.tr.UpdateWorker(h.ws, carol, (&trapi.UpdateWorkerParams{}).SetActivitySid(h.available))
	require.NoError(t, err)
	assert.Equal(t, []string{"worker.activity.update", "reservation.created"}, h.next(1))
	assert.Equal(t, carol, *h.pendingReservation(task).WorkerSid)

	// Rejecting a reservation that is no longer pending is refused.
	_, err = h.tr.UpdateTaskReservation(h.ws, task, *first.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "20001")
	assert.Contains(t, err.Error(), "already in state [rejected]")
}

func TestReservationTimeoutMovesWorkerToTimeoutActivityAndReroutes(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	q := h.queue("support", "")
	alice := h.worker("alice", nil, h.available)
	bob := h.worker("bob", nil, h.available)
	wf := h.workflow(map[string]any{"task_routing": map[string]any{"filters": []any{
		map[string]any{"expression": "1==1", "targets": []any{map[string]any{"queue": q}}}}}}, 30)
	task := h.task(wf, nil)
	h.next(1)
	res := h.pendingReservation(task)
	assert.Equal(t, alice, *res.WorkerSid)

	h.clock.Advance(29 * time.Second)
	assert.Equal(t, "pending", h.reservationStatus(task, *res.Sid), "not before the workflow's TaskReservationTimeout")
	h.clock.Advance(time.Second)
	assert.Equal(t, []string{"reservation.timeout", "worker.activity.update", "reservation.created"}, h.next(1))
	assert.Equal(t, "timeout", h.reservationStatus(task, *res.Sid))
	w := h.fetchWorker(alice)
	assert.Equal(t, h.offline, *w.ActivitySid, "the workspace's TimeoutActivitySid, Offline by default")
	assert.False(t, *w.Available)
	assert.Equal(t, bob, *h.pendingReservation(task).WorkerSid)
	assert.Equal(t, "reserved", *h.fetchTask(task).AssignmentStatus)
}

func (h *harness) reservationStatus(task, sid string) string {
	r, err := h.tr.FetchTaskReservation(h.ws, task, sid)
	require.NoError(h.t, err)
	return *r.ReservationStatus
}

func TestTaskCanceledCancelsPendingReservation(t *testing.T) {
	for _, how := range []string{"rest", "caller-left"} {
		t.Run(how, func(t *testing.T) {
			h := newHarness(t)
			h.workspace("")
			q := h.queue("support", "")
			alice := h.worker("alice", nil, h.available)
			wf := h.simpleWorkflow(q)
			task, err := h.engine.EnqueueCall(context.Background(), twilioapi.EnqueueRequest{
				CallSid: "CA1", WorkflowSid: wf, Attributes: map[string]any{"call_sid": "CA1", "from": "+15551230000"}})
			require.NoError(t, err)
			h.next(1)
			res := h.pendingReservation(task)
			assert.Equal(t, "voice", *h.fetchTask(task).TaskChannelUniqueName)

			if how == "rest" {
				_, err = h.tr.UpdateTask(h.ws, task, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("canceled").SetReason("no longer needed"))
			} else {
				err = h.engine.CallerLeftQueue(context.Background(), task, "hangup")
			}
			require.NoError(t, err)
			assert.Equal(t, []string{"task.canceled", "reservation.canceled"}, h.next(1))
			assert.Equal(t, "canceled", *h.fetchTask(task).AssignmentStatus)
			assert.Equal(t, "canceled", h.reservationStatus(task, *res.Sid))
			assert.True(t, *h.fetchWorker(alice).Available)
			if how == "rest" {
				assert.Equal(t, "no longer needed", h.lastEvent("task.canceled").Get("TaskCanceledReason"))
				assert.Equal(t, []canceledCall{{task, "CA1", "no longer needed"}}, h.listener.calls(),
					"the Voice engine learns its waiting call's task is gone")
			} else {
				assert.Equal(t, "hangup", h.lastEvent("task.canceled").Get("TaskCanceledReason"))
				assert.Empty(t, h.listener.calls(), "the Voice engine told us, it needs no telling")
			}
			// A canceled task cannot be canceled again.
			_, err = h.tr.UpdateTask(h.ws, task, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("canceled").SetReason("again"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "not pending or reserved")
		})
	}
}

func TestWorkflowTimeoutAfterLastTarget(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	tier1 := h.queue("tier1", `skill == "tier1"`)
	tier2 := h.queue("tier2", `skill == "tier2"`)
	wf := h.workflow(map[string]any{"task_routing": map[string]any{"filters": []any{
		map[string]any{"filter_friendly_name": "calls", "expression": "1==1", "targets": []any{
			map[string]any{"queue": tier1, "timeout": 10},
			map[string]any{"queue": tier2, "timeout": 20, "priority": 5},
		}}}}}, 0)
	task, err := h.engine.EnqueueCall(context.Background(), twilioapi.EnqueueRequest{
		WorkflowSid: wf, Attributes: map[string]any{"call_sid": "CA9"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"task.created", "workflow.target-matched", "task-queue.entered"}, h.next(1))
	assert.Equal(t, tier1, *h.fetchTask(task).TaskQueueSid)

	h.clock.Advance(10 * time.Second)
	assert.Equal(t, []string{"task-queue.timeout", "workflow.target-matched", "task-queue.entered"}, h.next(1))
	got := h.fetchTask(task)
	assert.Equal(t, tier2, *got.TaskQueueSid)
	assert.Equal(t, 5, got.Priority, "the target's priority")

	h.clock.Advance(20 * time.Second)
	assert.Equal(t, []string{"task-queue.timeout", "workflow.timeout", "task.canceled"}, h.next(1))
	got = h.fetchTask(task)
	assert.Equal(t, "canceled", *got.AssignmentStatus)
	assert.Equal(t, reasonWorkflowTimeout, *got.Reason)
	assert.Equal(t, []canceledCall{{task, "CA9", reasonWorkflowTimeout}}, h.listener.calls())
}

func TestTargetTimeoutWaitsForPendingReservation(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	q1 := h.queue("q1", `team == "a"`)
	q2 := h.queue("q2", `team == "b"`)
	alice := h.worker("alice", map[string]any{"team": "a"}, h.available)
	bob := h.worker("bob", map[string]any{"team": "b"}, h.available)
	wf := h.workflow(map[string]any{"task_routing": map[string]any{"filters": []any{
		map[string]any{"expression": "1==1", "targets": []any{
			map[string]any{"queue": q1, "timeout": 10}, map[string]any{"queue": q2}}}}}}, 60)
	task := h.task(wf, nil)
	h.next(1)
	res := h.pendingReservation(task)
	assert.Equal(t, alice, *res.WorkerSid)
	h.clock.Advance(15 * time.Second)
	assert.Empty(t, h.next(1), "a reserved task does not move on while the reservation is pending")
	_, err := h.tr.UpdateTaskReservation(h.ws, task, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected"))
	require.NoError(t, err)
	assert.Equal(t, []string{"reservation.rejected", "task-queue.timeout", "workflow.target-matched", "task-queue.entered", "reservation.created"}, h.next(1))
	assert.Equal(t, bob, *h.pendingReservation(task).WorkerSid)
}

func TestTaskTTLCancelsWaitingTask(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	q := h.queue("support", "")
	wf := h.simpleWorkflow(q)
	tk, err := h.tr.CreateTask(h.ws, (&trapi.CreateTaskParams{}).SetWorkflowSid(wf).SetAttributes(`{"call_sid":"CA7"}`).SetTimeout(60))
	require.NoError(t, err)
	assert.Equal(t, 60, tk.Timeout)
	h.next(1)
	h.clock.Advance(time.Minute)
	assert.Equal(t, []string{"task.canceled"}, h.next(1))
	got := h.fetchTask(*tk.Sid)
	assert.Equal(t, "canceled", *got.AssignmentStatus)
	assert.Equal(t, reasonTTL, *got.Reason)
	assert.Equal(t, []canceledCall{{*tk.Sid, "CA7", reasonTTL}}, h.listener.calls())
}

func TestFiltersAndTargetExpressionsChooseQueueAndWorker(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	sales := h.queue("sales", `languages HAS "en"`)
	support := h.queue("support", "1==1")
	fallback := h.queue("fallback", "1==1")
	h.worker("en-agent", map[string]any{"languages": []any{"en"}, "level": 1}, h.available)
	senior := h.worker("senior", map[string]any{"languages": []any{"en", "es"}, "level": 3}, h.available)
	es := h.worker("es-agent", map[string]any{"languages": []any{"es"}, "level": 2}, h.available)
	wf := h.workflow(map[string]any{"task_routing": map[string]any{
		"filters": []any{
			map[string]any{"filter_friendly_name": "sales", "expression": `type == "sales" AND vip == true`,
				"targets": []any{map[string]any{"queue": sales, "expression": "worker.level >= 3"}}},
			map[string]any{"filter_friendly_name": "spanish", "expression": `language IN ["es", "pt"]`,
				"targets": []any{map[string]any{"queue": support, "expression": "languages HAS task.language"}}},
		},
		"default_filter": map[string]any{"queue": fallback},
	}}, 0)

	cases := []struct {
		name   string
		attrs  map[string]any
		queue  string
		worker string
		filter string
	}{
		{"vip sales to a senior english speaker", map[string]any{"type": "sales", "vip": true}, sales, senior, "sales"},
		{"spanish to a spanish speaker", map[string]any{"language": "es"}, support, es, "spanish"},
		{"nothing matches: default filter", map[string]any{"type": "sales", "vip": false}, fallback, "", "Default Filter"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			task := h.task(wf, c.attrs)
			h.next(1)
			got := h.fetchTask(task)
			assert.Equal(t, c.queue, *got.TaskQueueSid)
			assert.Equal(t, c.filter, h.lastEvent("workflow.target-matched").Get("WorkflowFilterName"))
			if c.worker != "" {
				assert.Equal(t, c.worker, *h.pendingReservation(task).WorkerSid)
				// Free the worker for the next case; it is then the most recently idle one.
				h.clock.Advance(time.Second)
				_, err := h.tr.UpdateTask(h.ws, task, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("canceled").SetReason("test"))
				require.NoError(t, err)
				h.next(1)
			}
		})
	}
}

func TestSkipIfSkipsTargetWithoutWorkers(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	empty := h.queue("empty", `team == "nobody"`)
	staffed := h.queue("staffed", "1==1")
	alice := h.worker("alice", nil, h.available)
	wf := h.workflow(map[string]any{"task_routing": map[string]any{"filters": []any{
		map[string]any{"expression": "1==1", "targets": []any{
			map[string]any{"queue": empty, "skip_if": "workers.available == 0"},
			map[string]any{"queue": staffed}}}}}}, 0)
	task := h.task(wf, nil)
	h.next(1)
	assert.Equal(t, staffed, *h.fetchTask(task).TaskQueueSid)
	assert.Equal(t, alice, *h.pendingReservation(task).WorkerSid)
}

func TestDequeueReservation(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	q, err := h.tr.CreateTaskQueue(h.ws, (&trapi.CreateTaskQueueParams{}).SetFriendlyName("multi").SetMaxReservedWorkers(2))
	require.NoError(t, err)
	assert.Equal(t, 2, q.MaxReservedWorkers)
	alice := h.worker("alice", nil, h.available)
	bob := h.worker("bob", nil, h.available)
	wf := h.simpleWorkflow(*q.Sid)
	task, err := h.engine.EnqueueCall(context.Background(), twilioapi.EnqueueRequest{
		WorkflowSid: wf, Attributes: map[string]any{"call_sid": "CA5"}})
	require.NoError(t, err)
	assert.Equal(t, []string{"task.created", "workflow.target-matched", "task-queue.entered", "reservation.created", "reservation.created"}, h.next(1))
	rs := h.reservations(task)
	require.Len(t, rs, 2)
	assert.Equal(t, alice, *rs[0].WorkerSid)
	assert.Equal(t, bob, *rs[1].WorkerSid)

	got, err := h.engine.DequeueReservation(context.Background(), *rs[1].Sid, h.unavail)
	require.NoError(t, err)
	assert.Equal(t, twilioapi.DequeuedTask{WorkspaceSid: h.ws, TaskSid: task, WorkerSid: bob, CallSid: "CA5"}, got)
	assert.Equal(t, []string{"reservation.accepted", "reservation.rescinded"}, h.next(1))
	assert.Equal(t, "rescinded", h.reservationStatus(task, *rs[0].Sid))
	assert.Equal(t, "accepted", h.reservationStatus(task, *rs[1].Sid))
	assert.Equal(t, "assigned", *h.fetchTask(task).AssignmentStatus)

	// Dequeuing a reservation that is not pending fails with 14215 and changes nothing.
	for _, sid := range []string{*rs[0].Sid, *rs[1].Sid, "WR00000000000000000000000000000000"} {
		_, err = h.engine.DequeueReservation(context.Background(), sid, "")
		var te *twilioapi.Error
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 14215, te.Code)
	}
	assert.Equal(t, "rescinded", h.reservationStatus(task, *rs[0].Sid))
	assert.Equal(t, "accepted", h.reservationStatus(task, *rs[1].Sid))

	// The bridged call ends: wrap-up; completion puts bob in the post-work activity.
	require.NoError(t, h.engine.BridgeEnded(context.Background(), task))
	assert.Equal(t, []string{"reservation.wrapup", "task.wrapup"}, h.next(1))
	assert.Equal(t, "wrapping", *h.fetchTask(task).AssignmentStatus)
	assert.Equal(t, "wrapping", h.reservationStatus(task, *rs[1].Sid))
	require.NoError(t, h.engine.BridgeEnded(context.Background(), task), "a second BridgeEnded changes nothing")

	_, err = h.tr.UpdateTaskReservation(h.ws, task, *rs[1].Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("completed"))
	require.NoError(t, err)
	assert.Equal(t, []string{"reservation.completed", "task.completed", "worker.activity.update"}, h.next(1))
	assert.Equal(t, h.unavail, *h.fetchWorker(bob).ActivitySid)
	assert.True(t, *h.fetchWorker(alice).Available)
}

func TestCompletingFreesWorkerInReservationActivity(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	busy, err := h.tr.CreateActivity(h.ws, (&trapi.CreateActivityParams{}).SetFriendlyName("Busy").SetAvailable(false))
	require.NoError(t, err)
	q, err := h.tr.CreateTaskQueue(h.ws, (&trapi.CreateTaskQueueParams{}).SetFriendlyName("q").
		SetReservationActivitySid(*busy.Sid).SetAssignmentActivitySid(*busy.Sid))
	require.NoError(t, err)
	alice := h.worker("alice", nil, h.available)
	wf := h.simpleWorkflow(*q.Sid)
	task := h.task(wf, nil)
	assert.Equal(t, []string{"task.created", "workflow.target-matched", "task-queue.entered", "reservation.created", "worker.activity.update"}, h.next(1))
	assert.Equal(t, "Busy", *h.fetchWorker(alice).ActivityName)
	res := h.pendingReservation(task)
	_, err = h.tr.UpdateWorkerReservation(h.ws, alice, *res.Sid, (&trapi.UpdateWorkerReservationParams{}).SetReservationStatus("accepted"))
	require.NoError(t, err)
	_, err = h.tr.UpdateTask(h.ws, task, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("completed").SetReason("done"))
	require.NoError(t, err)
	assert.Equal(t, []string{"reservation.accepted", "reservation.completed", "task.completed", "worker.activity.update"}, h.next(1))
	w := h.fetchWorker(alice)
	assert.Equal(t, h.available, *w.ActivitySid, "back to the activity it had before the reservation")
	assert.True(t, *w.Available)
}

func TestTimedOutWorkerGetsTheTaskAgainWhenBackAvailable(t *testing.T) {
	h := newHarness(t)
	_, alice, wf := h.aliceQueue("")
	task := h.task(wf, nil)
	h.next(1)
	h.clock.Advance(2 * time.Minute)
	assert.Equal(t, []string{"reservation.timeout", "worker.activity.update"}, h.next(1))
	assert.Equal(t, "pending", *h.fetchTask(task).AssignmentStatus)
	_, err := h.tr.UpdateWorker(h.ws, alice, (&trapi.UpdateWorkerParams{}).SetActivitySid(h.available))
	require.NoError(t, err)
	assert.Equal(t, []string{"worker.activity.update", "reservation.created"}, h.next(1))
	assert.Equal(t, alice, *h.pendingReservation(task).WorkerSid)
}

func TestAttributeUpdateReroutesWaitingTask(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	en := h.queue("en", `languages HAS "en"`)
	es := h.queue("es", `languages HAS "es"`)
	maria := h.worker("maria", map[string]any{"languages": []any{"es"}}, h.available)
	wf := h.workflow(map[string]any{"task_routing": map[string]any{"filters": []any{
		map[string]any{"expression": `language == "es"`, "targets": []any{map[string]any{"queue": es}}},
		map[string]any{"expression": "1==1", "targets": []any{map[string]any{"queue": en}}},
	}}}, 0)
	task := h.task(wf, map[string]any{"language": "en"})
	h.next(1)
	assert.Equal(t, en, *h.fetchTask(task).TaskQueueSid)
	assert.Equal(t, "pending", *h.fetchTask(task).AssignmentStatus, "nobody speaks english")
	_, err := h.tr.UpdateTask(h.ws, task, (&trapi.UpdateTaskParams{}).SetAttributes(`{"language":"es"}`))
	require.NoError(t, err)
	assert.Equal(t, []string{"task.updated", "workflow.target-matched", "task-queue.entered", "reservation.created"}, h.next(1))
	assert.Equal(t, es, *h.fetchTask(task).TaskQueueSid)
	assert.Equal(t, maria, *h.pendingReservation(task).WorkerSid)
}

func TestPriorityAndLIFOOrderWhoIsServedFirst(t *testing.T) {
	cases := []struct {
		order string
		want  []int // creation index of the tasks, in the order they get the worker
	}{
		{"FIFO", []int{2, 0, 1}},
		{"LIFO", []int{2, 1, 0}},
	}
	for _, c := range cases {
		t.Run(c.order, func(t *testing.T) {
			h := newHarness(t)
			h.workspace("")
			q, err := h.tr.CreateTaskQueue(h.ws, (&trapi.CreateTaskQueueParams{}).SetFriendlyName("q").SetTaskOrder(c.order))
			require.NoError(t, err)
			wf := h.simpleWorkflow(*q.Sid)
			var tasks []string
			for i, prio := range []int{0, 0, 9} {
				tk, err := h.tr.CreateTask(h.ws, (&trapi.CreateTaskParams{}).SetWorkflowSid(wf).SetPriority(prio).
					SetAttributes(fmt.Sprintf(`{"n":%d}`, i)))
				require.NoError(t, err)
				tasks = append(tasks, *tk.Sid)
			}
			alice := h.worker("alice", nil, h.available)
			var served []int
			for range tasks {
				rs, err := h.tr.ListWorkerReservation(h.ws, alice, (&trapi.ListWorkerReservationParams{}).SetReservationStatus("pending"))
				require.NoError(t, err)
				require.Len(t, rs, 1)
				for i, sid := range tasks {
					if sid == *rs[0].TaskSid {
						served = append(served, i)
					}
				}
				_, err = h.tr.UpdateTaskReservation(h.ws, *rs[0].TaskSid, *rs[0].Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted"))
				require.NoError(t, err)
				_, err = h.tr.UpdateTask(h.ws, *rs[0].TaskSid, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("completed").SetReason("ok"))
				require.NoError(t, err)
			}
			assert.Equal(t, c.want, served)
		})
	}
}

func TestTooManyRejectionsCancelTheTask(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	q := h.queue("q", "")
	wf := h.simpleWorkflow(q)
	task := h.task(wf, nil)
	// Reject through the engine: 1,000 workers through REST would only slow the test down.
	h.engine.mu.Lock()
	tk := h.engine.tasks[task]
	tk.rejections = maxRejections - 1
	h.engine.mu.Unlock()
	alice := h.worker("alice", nil, h.available)
	res := h.pendingReservation(task)
	assert.Equal(t, alice, *res.WorkerSid)
	_, err := h.tr.UpdateTaskReservation(h.ws, task, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected"))
	require.NoError(t, err)
	got := h.fetchTask(task)
	assert.Equal(t, "canceled", *got.AssignmentStatus)
	assert.Equal(t, reasonTooManyRejects, *got.Reason)
}

func TestWorkflowUpdateUnderRoutedTasks(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	q1 := h.queue("q1", "")
	q2 := h.queue("q2", "")
	wf := h.workflow(map[string]any{"task_routing": map[string]any{"filters": []any{
		map[string]any{"expression": `kind == "a"`, "targets": []any{map[string]any{"queue": q1}}},
		map[string]any{"expression": `kind == "b"`, "targets": []any{map[string]any{"queue": q1, "timeout": 10}, map[string]any{"queue": q2}}},
	}}}, 0)
	task := h.task(wf, map[string]any{"kind": "b"})
	h.next(1)
	// The new configuration has a single filter and no default: the task's filter is gone.
	_, err := h.tr.UpdateWorkflow(h.ws, wf, (&trapi.UpdateWorkflowParams{}).SetConfiguration(
		`{"task_routing":{"filters":[{"expression":"kind == \"a\"","targets":[{"queue":"`+q2+`"}]}]}}`))
	require.NoError(t, err)
	h.clock.Advance(10 * time.Second)
	assert.Equal(t, []string{"task-queue.timeout", "workflow.timeout", "task.canceled"}, h.next(1))

	// A waiting task whose new attributes match no filter, with no default filter, leaves its
	// queue and waits unrouted.
	other := h.task(wf, map[string]any{"kind": "a"})
	h.next(1)
	assert.Equal(t, q2, *h.fetchTask(other).TaskQueueSid)
	_, err = h.tr.UpdateTask(h.ws, other, (&trapi.UpdateTaskParams{}).SetAttributes(`{"kind":"z"}`))
	require.NoError(t, err)
	assert.Equal(t, []string{"task.updated"}, h.next(1))
	got := h.fetchTask(other)
	assert.Nil(t, got.TaskQueueSid)
	assert.Equal(t, "pending", *got.AssignmentStatus)
	assert.Equal(t, "canceled", *h.fetchTask(task).AssignmentStatus)
}
