package sandbox_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/sandbox/voice"
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

	var taskSid string
	eventually(t, "the caller's task to complete", func() bool {
		c, _ := sb.Voice().Call(callSid)
		taskSid = c.TaskSid
		task, ok := sb.TaskRouter().Task(taskSid)
		return ok && task.AssignmentStatus == "completed"
	})
	eventually(t, "the caller's call to end", func() bool {
		c, _ := sb.Voice().Call(callSid)
		return c.Status == "completed"
	})

	eventually(t, "task.completed to reach the application", func() bool {
		ev := a.eventTypes()
		return len(ev) > 0 && ev[len(ev)-1] == "task.completed"
	})
	assert.Equal(t, []string{"reservation.created", "reservation.accepted", "reservation.wrapup", "reservation.completed", "task.completed"},
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
}
