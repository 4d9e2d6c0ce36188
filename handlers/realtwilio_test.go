package handlers_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/taskrouter"
)

// What a real account does that a lenient double would hide: the From Twilio accepts, and the
// cancel it ignores.

func TestAgentLegCallerID(t *testing.T) {
	cases := []struct {
		name, callerID, want string
	}{
		{"default: the number the caller dialed, which the account owns", "", ourNumber},
		{"a fixed number", "+15005550123", "+15005550123"},
		{"the caller's own number, asked for explicitly", taskrouter.CallerIDCaller, callerNumber},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, withOptions(func(o *taskrouter.Options) { o.CallerID = tc.callerID }))
			r := newRes()
			h.sendEvent("reservation.created", r)
			h.waitCall(r)
			creates := h.tw.Requests("create_call")
			require.Len(t, creates, 1)
			assert.Equal(t, tc.want, creates[0].Form.Get("From"))
		})
	}
	t.Run("a task without the dialed number is rejected, not dialed from a number Twilio refuses", func(t *testing.T) {
		h := newHarness(t)
		r := newRes()
		h.sendEvent("reservation.created", r, "TaskAttributes", `{"from":"+15005550199"}`)
		h.waitIdle()
		assert.Empty(t, h.tw.Requests("create_call"))
		got := h.reservation(r)
		assert.Equal(t, taskrouter.StateRejected, got.State)
		assert.Equal(t, taskrouter.OutcomeNoCallerID, got.Outcome.Kind)
		assert.Len(t, h.tw.Requests("update_reservation"), 1, "the reservation is rejected at TaskRouter")
	})
}

// TestRefusedCallerIDStillResolvesTheReservation: Twilio answers 21210 for a From the account
// neither owns nor verified; the reservation is rejected at once (TaskRouter routes again).
// It is a configuration error: logged at ERROR once per number, and counted.
func TestRefusedCallerIDStillResolvesTheReservation(t *testing.T) {
	var log testkit.SyncBuffer
	h := newHarness(t, withLog(&log))
	h.tw.Fail("create_call", testkit.Code(400, 21210).WithMessage("The source phone number provided, +15005550006, is not yet verified for your account."), -1)
	first, second := newRes(), newRes()
	for _, r := range []res{first, second} {
		h.sendEvent("reservation.created", r)
		h.waitIdle()
		got := h.reservation(r)
		assert.Equal(t, taskrouter.StateRejected, got.State)
		assert.Equal(t, taskrouter.OutcomeCallRefused, got.Outcome.Kind)
		assert.Contains(t, got.Outcome.Detail, "21210")
	}
	assert.Len(t, h.tw.Requests("create_call"), 2, "a refusal is not retried")
	assert.Len(t, h.tw.Requests("update_reservation"), 2, "each reservation is rejected at TaskRouter")
	assert.Equal(t, 1, strings.Count(log.String(), "level=ERROR msg=\"Twilio refuses the agent leg's caller ID"), log.String())
	assert.Contains(t, h.metrics(), "queuebridge_caller_id_refused_total 2")
}

// TestAnAgentWhoAnsweredDuringTheCancelIsHungUp: the leg is answered while the reservation ends;
// Twilio ignores Status=canceled on an in-progress call (200, status unchanged), so the bridge
// must follow with Status=completed, or the agent stays on a line with nobody.
func TestAnAgentWhoAnsweredDuringTheCancelIsHungUp(t *testing.T) {
	h := newHarness(t)
	r := newRes()
	h.sendEvent("reservation.created", r)
	call := h.waitCall(r)
	h.callStatus(r, call, "ringing")
	// Twilio's view: the agent picked up; the bridge has not heard of it yet.
	h.tw.Add("/2010-04-01/Accounts/"+accountSID+"/Calls", map[string]any{"sid": call, "status": "in-progress"})
	h.sendEvent("reservation.canceled", r)
	h.waitIdle()
	updates := h.tw.Requests("update_call")
	require.Len(t, updates, 2, "cancel, then hang up: %v", testkit.Lines(updates))
	assert.Equal(t, "canceled", updates[0].Form.Get("Status"))
	assert.Equal(t, "completed", updates[1].Form.Get("Status"))
}
