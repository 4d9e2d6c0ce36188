package handlers_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/handlers"
	"queuebridge/internal/testkit"
	"queuebridge/taskrouter"
)

func TestHumanAnswerBridgesThenWrapupCompletesTask(t *testing.T) {
	h := newHarness(t, withOptions(func(o *taskrouter.Options) { o.PostWorkActivitySID = "WA00000000000000000000000000000002" }))
	r := newRes()
	h.sendEvent("reservation.created", r)
	call := h.waitCall(r)

	creates := h.tw.Requests("create_call")
	require.Len(t, creates, 1)
	f := creates[0].Form
	assert.Equal(t, agentNumber, f.Get("To"))
	assert.Equal(t, ourNumber, f.Get("From"), "the number the caller dialed: the account owns it (else 21210)")
	assert.Equal(t, publicBase+dialQueuePath(r)+handlers.Overrides, f.Get("Url"), "retried by Twilio on 5xx and read time-outs too")
	assert.Equal(t, publicBase+statusPath(r)+handlers.Overrides, f.Get("StatusCallback"), "the task spares PostgreSQL a round trip")
	assert.ElementsMatch(t, []string{"initiated", "ringing", "answered", "completed"}, f["StatusCallbackEvent"])
	assert.Equal(t, "Enable", f.Get("MachineDetection"))
	assert.Equal(t, "60", f.Get("Timeout"))
	assert.Equal(t, "30", f.Get("MachineDetectionTimeout"))
	assert.Equal(t, taskrouter.StateRinging, h.reservation(r).State)

	h.callStatus(r, call, "ringing")
	h.callStatus(r, call, "in-progress")
	tw := h.answer(r, call, "human")
	assertConnects(t, tw, r)
	assert.Equal(t, "WA00000000000000000000000000000002", tw.Verbs[0].Queue[0].PostWorkActivitySid)
	assert.Equal(t, taskrouter.StateBridging, h.reservation(r).State)

	h.sendEvent("reservation.accepted", r)
	assert.Equal(t, taskrouter.StateAccepted, h.reservation(r).State)
	// The bridged call ends normally: the Dial's action hears nothing more.
	status, body := h.post(dialQueuePath(r), map[string][]string{"CallSid": {call}, "DialCallStatus": {"completed"}})
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, []string{"Hangup"}, parseTwiML(t, body).verbs())
	h.callStatus(r, call, "completed")

	h.sendEvent("reservation.wrapup", r)
	h.waitIdle()
	tasks := h.tw.Requests("update_task")
	require.Len(t, tasks, 1)
	assert.Equal(t, "/v1/Workspaces/"+workspaceSID+"/Tasks/"+r.Task, tasks[0].Path)
	assert.Equal(t, "completed", tasks[0].Form.Get("AssignmentStatus"))
	assert.NotEmpty(t, tasks[0].Form.Get("Reason"))
	h.sendEvent("reservation.completed", r)
	got := h.reservation(r)
	assert.Equal(t, taskrouter.StateCompleted, got.State)
	assert.Equal(t, "bridged", got.Outcome.String())
	assert.Empty(t, h.tw.Requests("update_reservation"), "a bridged reservation is never rejected")
	assert.Len(t, h.tw.Requests("create_call"), 1)
}

func TestMachineVerdictsHangUpAndReject(t *testing.T) {
	const noAnswer = "WA00000000000000000000000000000003"
	cases := []struct {
		answeredBy   string
		policy       taskrouter.UnknownPolicy
		wantConnect  bool
		wantActivity string
	}{
		{answeredBy: "machine_start", wantActivity: noAnswer},
		{answeredBy: "machine_end_beep", wantActivity: noAnswer},
		{answeredBy: "machine_end_silence", wantActivity: noAnswer},
		{answeredBy: "machine_end_other", wantActivity: noAnswer},
		{answeredBy: "fax", wantActivity: noAnswer},
		{answeredBy: "unknown", policy: taskrouter.UnknownReject, wantActivity: noAnswer},
		{answeredBy: "unknown", policy: taskrouter.UnknownConnect, wantConnect: true},
		{answeredBy: "human", wantConnect: true},
	}
	for _, tc := range cases {
		t.Run(tc.answeredBy+"/"+string(tc.policy), func(t *testing.T) {
			h := newHarness(t, withOptions(func(o *taskrouter.Options) {
				o.UnknownAnswer = tc.policy
				o.NoAnswerActivitySID = noAnswer
				o.MachineDetection = taskrouter.AMDDetectMessageEnd
			}))
			r := newRes()
			h.sendEvent("reservation.created", r)
			call := h.waitCall(r)
			assert.Equal(t, "DetectMessageEnd", h.tw.Requests("create_call")[0].Form.Get("MachineDetection"))

			tw := h.answer(r, call, tc.answeredBy)
			if tc.wantConnect {
				assertConnects(t, tw, r)
				h.waitIdle()
				assert.Empty(t, h.tw.Requests("update_reservation"))
				assert.Equal(t, taskrouter.StateBridging, h.reservation(r).State)
				return
			}
			assert.Equal(t, []string{"Hangup"}, tw.verbs(), "a machine never hears the caller")
			// Twilio retries the webhook: same answer, still one reject.
			assert.Equal(t, []string{"Hangup"}, h.answer(r, call, tc.answeredBy).verbs())
			h.waitIdle()
			rejects := h.tw.Requests("update_reservation")
			require.Len(t, rejects, 1)
			assert.Equal(t, "/v1/Workspaces/"+workspaceSID+"/Tasks/"+r.Task+"/Reservations/"+r.SID, rejects[0].Path)
			assert.Equal(t, "rejected", rejects[0].Form.Get("ReservationStatus"))
			assert.Equal(t, tc.wantActivity, rejects[0].Form.Get("WorkerActivitySid"))
			got := h.reservation(r)
			assert.Equal(t, taskrouter.StateRejected, got.State)
			assert.Equal(t, "answered by "+tc.answeredBy, got.Outcome.String())
			assert.Equal(t, taskrouter.AnsweredBy(tc.answeredBy), got.AnsweredBy)
		})
	}
}

func TestUnansweredLegsRejectTheReservation(t *testing.T) {
	const noAnswer = "WA00000000000000000000000000000003"
	cases := []struct {
		status       string
		wantActivity string
	}{
		{"no-answer", noAnswer},
		{"busy", noAnswer},
		{"failed", noAnswer},
		{"canceled", ""},        // someone else canceled the leg: not the agent's doing
		{"completed", noAnswer}, // the agent hung up during AMD, before the TwiML was fetched
	}
	for _, tc := range cases {
		t.Run(tc.status, func(t *testing.T) {
			h := newHarness(t, withOptions(func(o *taskrouter.Options) { o.NoAnswerActivitySID = noAnswer }))
			r := newRes()
			h.sendEvent("reservation.created", r)
			call := h.waitCall(r)
			h.callStatus(r, call, "initiated")
			h.callStatus(r, call, "ringing")
			h.callStatus(r, call, tc.status)
			h.callStatus(r, call, tc.status) // a repeated callback changes nothing
			h.callStatus(r, call, "ringing") // nor does one out of order
			h.waitIdle()

			rejects := h.tw.Requests("update_reservation")
			require.Len(t, rejects, 1)
			assert.Equal(t, "rejected", rejects[0].Form.Get("ReservationStatus"))
			assert.Equal(t, tc.wantActivity, rejects[0].Form.Get("WorkerActivitySid"))
			got := h.reservation(r)
			assert.Equal(t, taskrouter.StateRejected, got.State)
			assert.Equal(t, taskrouter.CallStatus(tc.status), got.CallStatus)
			assert.Empty(t, h.tw.Requests("update_call"), "an ended leg is not ended again")

			// A late answer from this leg never reaches a caller.
			assert.Equal(t, []string{"Say", "Hangup"}, h.answer(r, call, "human").verbs())
		})
	}
}

func TestTaskRouterEndingTheReservationEndsTheAgentLeg(t *testing.T) {
	ends := []struct {
		event string
		extra []string
	}{
		{event: "reservation.canceled"},
		{event: "reservation.timeout"},
		{event: "reservation.rescinded"},
		{event: "task.canceled", extra: []string{"TaskCanceledReason", "hangup"}},
	}
	for _, end := range ends {
		t.Run(end.event+"/before the call is placed", func(t *testing.T) {
			h := newHarness(t, withoutDispatcher())
			r := newRes()
			h.sendEvent("reservation.created", r)
			h.sendEvent(end.event, r, end.extra...)
			h.startDispatcher()
			h.waitIdle()
			assert.Empty(t, h.tw.Requests("create_call"), "no agent is rung for a reservation that is over")
			assert.Equal(t, taskrouter.StateCanceled, h.reservation(r).State)
		})
		t.Run(end.event+"/while the call is being created", func(t *testing.T) {
			h := newHarness(t)
			gate := make(chan struct{})
			h.tw.Fail("create_call", testkit.Held(gate), 1)
			r := newRes()
			h.sendEvent("reservation.created", r)
			require.Eventually(t, func() bool { return h.reservation(r).State == taskrouter.StateDialing }, 5e9, 1e6)
			h.sendEvent(end.event, r, end.extra...)
			close(gate)
			call := h.waitCall(r)
			h.waitIdle()
			updates := h.tw.Requests("update_call")
			require.Len(t, updates, 1, "the fresh leg is ended as soon as its SID is known")
			assert.Contains(t, updates[0].Path, call)
			assert.Equal(t, "canceled", updates[0].Form.Get("Status"))
		})
		t.Run(end.event+"/while ringing", func(t *testing.T) {
			h := newHarness(t)
			r := newRes()
			h.sendEvent("reservation.created", r)
			call := h.waitCall(r)
			h.callStatus(r, call, "ringing")
			h.sendEvent(end.event, r, end.extra...)
			h.waitIdle()
			updates := h.tw.Requests("update_call")
			require.Len(t, updates, 1)
			assert.Equal(t, "canceled", updates[0].Form.Get("Status"))
			assert.Equal(t, taskrouter.StateCanceled, h.reservation(r).State)
			assert.Empty(t, h.tw.Requests("update_reservation"), "TaskRouter ended it: nothing to reject")
		})
		t.Run(end.event+"/during AMD", func(t *testing.T) {
			h := newHarness(t)
			r := newRes()
			h.sendEvent("reservation.created", r)
			call := h.waitCall(r)
			h.callStatus(r, call, "in-progress") // answered; AMD is listening
			h.sendEvent(end.event, r, end.extra...)
			h.waitIdle()
			updates := h.tw.Requests("update_call")
			require.Len(t, updates, 1)
			assert.Equal(t, "completed", updates[0].Form.Get("Status"), "an answered leg is hung up, not canceled")
			// AMD then decides human: the agent is told, never bridged.
			tw := h.answer(r, call, "human")
			assert.Equal(t, []string{"Say", "Hangup"}, tw.verbs())
			assert.Equal(t, taskrouter.StateCanceled, h.reservation(r).State)
		})
	}
	t.Run("rescinded after the bridge", func(t *testing.T) {
		h := newHarness(t)
		r := newRes()
		h.connected(r)
		h.sendEvent("reservation.accepted", r)
		h.sendEvent("reservation.rescinded", r)
		h.waitIdle()
		assert.Empty(t, h.tw.Requests("update_call"), "a bridged call is not cut")
		assert.Equal(t, taskrouter.StateAccepted, h.reservation(r).State)
	})
}

func TestDialActionAfterFailedDequeueTellsAgentAndRejects(t *testing.T) {
	h := newHarness(t)
	r := newRes()
	call := h.connected(r)
	status, body := h.post(dialQueuePath(r), map[string][]string{"CallSid": {call}, "DialCallStatus": {"failed"}})
	require.Equal(t, http.StatusOK, status)
	tw := parseTwiML(t, body)
	assert.Equal(t, []string{"Say", "Hangup"}, tw.verbs())
	assert.Equal(t, taskrouter.MsgDequeueFailed, tw.Verbs[0].Text)
	h.waitIdle()
	require.Len(t, h.tw.Requests("update_reservation"), 1)
	got := h.reservation(r)
	assert.Equal(t, taskrouter.StateRejected, got.State)
	assert.Equal(t, "dequeue failed: failed", got.Outcome.String())
}

func TestOrphanLegIsToldAndHungUp(t *testing.T) {
	h := newHarness(t)
	r := newRes()
	h.sendEvent("reservation.created", r)
	call := h.waitCall(r)
	tw := h.answer(r, testkit.SID("CA"), "human")
	assert.Equal(t, []string{"Say", "Hangup"}, tw.verbs())
	got := h.reservation(r)
	assert.Equal(t, taskrouter.StateRinging, got.State, "an orphan changes nothing")
	assert.Equal(t, call, got.CallSID)

	unknown := newRes()
	assert.Equal(t, []string{"Say", "Hangup"}, h.answer(unknown, testkit.SID("CA"), "human").verbs())
}

func TestReorderedEventsPlaceNoCall(t *testing.T) {
	for _, first := range []string{"reservation.canceled", "reservation.timeout", "reservation.rescinded", "task.canceled", "reservation.accepted"} {
		t.Run(first, func(t *testing.T) {
			h := newHarness(t)
			r := newRes()
			h.sendEvent(first, r)
			h.sendEvent("reservation.created", r)
			h.waitIdle()
			assert.Empty(t, h.tw.Requests("create_call"))
		})
	}
}

func TestWorkerWithoutContactURIIsRejected(t *testing.T) {
	for _, attrs := range []string{`{}`, `{"contact_uri":"555-1234"}`, `{"contact_uri":""}`} {
		t.Run(attrs, func(t *testing.T) {
			h := newHarness(t)
			r := newRes()
			h.sendEvent("reservation.created", r, "WorkerAttributes", attrs)
			h.waitIdle()
			assert.Empty(t, h.tw.Requests("create_call"))
			rejects := h.tw.Requests("update_reservation")
			require.Len(t, rejects, 1)
			assert.Equal(t, "rejected", rejects[0].Form.Get("ReservationStatus"))
			got := h.reservation(r)
			assert.Equal(t, taskrouter.StateRejected, got.State)
			assert.Contains(t, got.Outcome.String(), "contact_uri")
		})
	}
}

func TestTaskCompletedIsRecorded(t *testing.T) {
	h := newHarness(t)
	r := newRes()
	h.connected(r)
	h.sendEvent("reservation.accepted", r)
	h.sendEvent("task.completed", r, "TaskCompletedReason", "call ended")
	assert.Equal(t, taskrouter.StateCompleted, h.reservation(r).State)
}
