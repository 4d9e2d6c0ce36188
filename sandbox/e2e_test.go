package sandbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/sandbox/voice"
	qbprov "queuebridge/taskrouter/provision"
)

// The example spec's workers.
const (
	alice = "+15005550101"
	bob   = "+15005550102"
	carol = "+15005550103"

	caller = "+15551230001"
)

func TestHumanAgentIsBridgedAndTheTaskCompletes(t *testing.T) {
	sb := startSandbox(t)
	a := newApp(t, sb)
	out := provision(t, sb, a, nil)
	for _, n := range []string{alice, bob, carol} {
		sb.SetPersona(n, voice.Human(2*time.Second, 10*time.Second))
	}
	sb.SetPersona(caller, voice.Human(0, 60*time.Second))

	callSid, err := sb.PlaceCall(context.Background(), caller, "+15005550006")
	require.NoError(t, err)

	taskSid := waitForTask(t, sb, callSid, "completed")
	waitForCallEnd(t, sb, callSid)

	a.waitForEvent(t, "task.completed")
	// The example spec's default events filter: the bridge's events and its operator page's.
	assert.Equal(t, []string{"task.created", "task-queue.entered", "reservation.created", "reservation.accepted", "reservation.wrapup", "reservation.completed", "task.completed"},
		a.eventTypes(), "events the application received")

	task, _ := sb.TaskRouter().Task(taskSid)
	assert.Equal(t, out.WorkflowSID, task.WorkflowSid)
	assert.Equal(t, callSid, task.Attributes["call_sid"])
	assert.Equal(t, caller, task.Attributes["from"])
	assert.Equal(t, "general", task.Attributes["department"], "no key pressed: the menu's default department")

	reservations := sb.TaskRouter().TaskReservations(taskSid)
	require.Len(t, reservations, 1)
	res := reservations[0]
	assert.Equal(t, "completed", res.ReservationStatus)
	worker, ok := sb.TaskRouter().Worker(res.WorkerSid)
	require.True(t, ok)
	assert.Equal(t, "Available", worker.ActivityName, "the worker is available again")

	leg, ok := sb.Voice().Call(a.leg(res.Sid))
	require.True(t, ok, "the agent leg")
	assert.Equal(t, "completed", leg.Status)
	assert.Equal(t, "human", leg.AnsweredBy)
	assert.Equal(t, callSid, leg.BridgedWith)
	assert.Equal(t, worker.Attributes["contact_uri"], leg.To)

	callerInfo, _ := sb.Voice().Call(callSid)
	assert.Equal(t, "bridged", callerInfo.QueueResult)
	assert.Equal(t, leg.Sid, callerInfo.BridgedWith)

	// The caller's story holds every engine's part, in order.
	story := sb.Timeline(callSid)
	assert.Subset(t, whats(story, "event"), []string{"task.created", "reservation.created", "reservation.accepted", "reservation.wrapup", "task.completed"})
	for _, want := range []string{"amd: human", "bridged", "bridge ended"} {
		assert.True(t, hasWhat(story, leg.Sid, want), "agent leg %q in the caller's timeline", want)
	}
	assert.True(t, hasWhat(story, callSid, "enqueued"))
	// The task's and the reservation's stories are the same story.
	assert.Equal(t, len(story), len(sb.Timeline(taskSid)))
	assert.Equal(t, len(story), len(sb.Timeline(res.Sid)))
	assert.Equal(t, len(story), len(sb.Timeline(leg.Sid)), "the agent leg belongs to the caller's story")
}

func TestVoicemailAgentIsRejectedAndTheNextWorkerTakesTheCall(t *testing.T) {
	sb := startSandbox(t)
	a := newApp(t, sb)
	provision(t, sb, a, nil)
	// Alice has been idle longest (created first), so she is offered the task first.
	sb.SetPersona(alice, voice.Voicemail(2*time.Second, 8*time.Second, true))
	sb.SetPersona(bob, voice.Human(2*time.Second, 10*time.Second))
	sb.SetPersona(carol, voice.Voicemail(2*time.Second, 8*time.Second, true))
	sb.SetPersona(caller, voice.Human(0, 60*time.Second))

	callSid, err := sb.PlaceCall(context.Background(), caller, "+15005550006")
	require.NoError(t, err)
	taskSid := waitForTask(t, sb, callSid, "completed")

	reservations := sb.TaskRouter().TaskReservations(taskSid)
	require.GreaterOrEqual(t, len(reservations), 2)
	first, last := reservations[0], reservations[len(reservations)-1]
	firstWorker, _ := sb.TaskRouter().Worker(first.WorkerSid)
	assert.Equal(t, alice, firstWorker.Attributes["contact_uri"], "the longest idle worker first")
	assert.Equal(t, "rejected", first.ReservationStatus)
	firstLeg, _ := sb.Voice().Call(a.leg(first.Sid))
	assert.Equal(t, "machine_start", firstLeg.AnsweredBy)
	assert.Equal(t, "completed", firstLeg.Status)
	assert.Empty(t, firstLeg.BridgedWith, "nobody is bridged to a machine")
	assert.Equal(t, "Available", firstWorker.ActivityName, "a reject without an activity leaves the worker as she was")

	for _, r := range reservations[1 : len(reservations)-1] {
		assert.Equal(t, "rejected", r.ReservationStatus, "every reservation before the accepted one")
	}
	lastWorker, _ := sb.TaskRouter().Worker(last.WorkerSid)
	assert.Equal(t, bob, lastWorker.Attributes["contact_uri"])
	assert.Equal(t, "completed", last.ReservationStatus)
	lastLeg, _ := sb.Voice().Call(a.leg(last.Sid))
	assert.Equal(t, "human", lastLeg.AnsweredBy)
	assert.Equal(t, callSid, lastLeg.BridgedWith)

	waitForCallEnd(t, sb, callSid)
	ev := a.eventTypes()
	assert.Equal(t, []string{"task.created", "task-queue.entered", "reservation.created", "reservation.rejected"}, ev[:4])
	assert.Contains(t, ev, "reservation.accepted")
}

func TestCallerWhoHangsUpInTheQueueCancelsTheTask(t *testing.T) {
	sb := startSandbox(t)
	a := newApp(t, sb)
	provision(t, sb, a, nil)
	for _, n := range []string{alice, bob, carol} {
		sb.SetPersona(n, voice.NoAnswer())
	}
	// The agent's phone rings for 20 s (the app's Timeout); the caller gives up after 5 s in the queue.
	sb.SetPersona(caller, voice.Human(0, 60*time.Second).WithPatience(5*time.Second))

	callSid, err := sb.PlaceCall(context.Background(), caller, "+15005550006")
	require.NoError(t, err)
	taskSid := waitForTask(t, sb, callSid, "canceled")
	require.Eventually(t, func() bool {
		rs := sb.TaskRouter().TaskReservations(taskSid)
		if len(rs) == 0 {
			return false
		}
		leg, ok := sb.Voice().Call(a.leg(rs[0].Sid))
		return ok && leg.Status == "canceled"
	}, sandboxtest.Wait, sandboxtest.Tick, "waiting for %s", "the agent leg to be hung up")

	c, _ := sb.Voice().Call(callSid)
	assert.Equal(t, "completed", c.Status)
	assert.Equal(t, "hangup", c.QueueResult)
	rs := sb.TaskRouter().TaskReservations(taskSid)
	require.Len(t, rs, 1)
	assert.Equal(t, "canceled", rs[0].ReservationStatus)
	w, _ := sb.TaskRouter().Worker(rs[0].WorkerSid)
	assert.Equal(t, "Available", w.ActivityName)
	a.waitForEvent(t, "reservation.canceled")
	// The sandbox's TaskRouter announces the task's cancellation, then its consequence.
	assert.Equal(t, []string{"task.created", "task-queue.entered", "reservation.created", "task.canceled", "reservation.canceled"}, a.eventTypes())
	assert.True(t, hasWhat(sb.Timeline(callSid), callSid, "caller hung up in queue"))
}

func TestWorkflowTimeoutSendsTheCallerToStudioVoicemail(t *testing.T) {
	sb := startSandbox(t)
	// The test app rejects without an activity: "every worker tried once" needs the option that
	// never re-offers (the bridge's own e2e tests run both ways).
	sb.TaskRouter().SetReofferRejected(false)
	a := newApp(t, sb)
	provision(t, sb, a, func(spec *qbprov.Spec) {
		// One target with a timeout, so the workflow gives up (the example's last targets never do).
		spec.Workflow.Filters = []qbprov.SpecWorkflowRule{{Name: "Everyone", Expression: "1==1",
			Targets: []qbprov.SpecTarget{{Queue: "Everyone", Timeout: 30}}}}
	})
	for _, n := range []string{alice, bob, carol} {
		sb.SetPersona(n, voice.Busy())
	}
	sb.SetPersona(caller, voice.Human(0, 60*time.Second).WithMessage(10*time.Second))

	callSid, err := sb.PlaceCall(context.Background(), caller, "+15005550006")
	require.NoError(t, err)
	waitForCallEnd(t, sb, callSid)

	c, _ := sb.Voice().Call(callSid)
	task, ok := sb.TaskRouter().Task(c.TaskSid)
	require.True(t, ok)
	assert.Equal(t, "canceled", task.AssignmentStatus)
	assert.Equal(t, "Workflow Timeout", task.Reason)
	assert.Equal(t, "leave", c.QueueResult)
	rs := sb.TaskRouter().TaskReservations(c.TaskSid)
	require.Len(t, rs, 3, "every worker was tried once")
	for _, r := range rs {
		assert.Equal(t, "rejected", r.ReservationStatus)
		leg, _ := sb.Voice().Call(a.leg(r.Sid))
		assert.Equal(t, "busy", leg.Status)
	}

	story := sb.Timeline(callSid)
	assert.Contains(t, whats(story, "event"), "workflow.timeout")
	assert.True(t, hasWhat(story, callSid, "record: message"), "the caller left a voicemail")
	exec, ok := sb.Studio().ExecutionForCall(callSid)
	require.True(t, ok)
	assert.Equal(t, "ended", exec.Status)
}
