package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/sandbox/twiliosig"
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

// TestEverySignedRouteRefusesABadSignature holds the signature check per route: a missing
// signature, another token's, or one that matches only in its first characters is refused with
// 403 on each route Twilio calls, and changes nothing; the correct one is accepted.
func TestEverySignedRouteRefusesABadSignature(t *testing.T) {
	var log testkit.SyncBuffer
	h := newHarness(t, withoutDispatcher(), withLog(&log))
	r := newRes()
	h.sendEvent("reservation.created", r)
	call := testkit.SID("CA")
	routes := []struct {
		target string
		form   url.Values
		ok     int
	}{
		{"/taskrouter/events", event("reservation.accepted", r), http.StatusOK},
		{dialQueuePath(r), url.Values{"CallSid": {call}, "AnsweredBy": {"human"}, "CallStatus": {"in-progress"}}, http.StatusOK},
		{"/status-callback?reservation=" + r.SID, url.Values{"CallSid": {call}, "CallStatus": {"ringing"}}, http.StatusNoContent},
		{confirmPath(r, 1), url.Values{"CallSid": {call}, "Digits": {"1"}, "CallStatus": {"in-progress"}}, http.StatusOK},
	}
	for _, rt := range routes {
		good := twiliosig.Sign(authToken, publicBase+rt.target, rt.form)
		// Same first 16 characters, different after: a check of a prefix would take it.
		prefix := good[:16] + strings.Repeat("A", len(good)-16)
		if prefix == good {
			prefix = good[:16] + strings.Repeat("B", len(good)-16)
		}
		for name, sig := range map[string]string{
			"missing": "", "another token": twiliosig.Sign("another-token", publicBase+rt.target, rt.form), "prefix only": prefix,
		} {
			status, body := h.hooks.PostSigned(t, rt.target, rt.form, sig)
			assert.Equal(t, http.StatusForbidden, status, "%s, signature %s: %s", rt.target, name, body)
		}
		assert.Equal(t, taskrouter.StatePending, h.reservation(r).State, "%s: a refused request changes nothing", rt.target)
		assert.Empty(t, h.reservation(r).CallSID, "%s: a refused request changes nothing", rt.target)
	}
	for _, rt := range routes {
		status, body := h.hooks.PostSigned(t, rt.target, rt.form, twiliosig.Sign(authToken, publicBase+rt.target, rt.form))
		assert.Equal(t, rt.ok, status, "%s, the right signature: %s", rt.target, body)
	}
	warnings := strings.Count(log.String(), "level=WARN msg=\"webhook signature refused")
	assert.Equal(t, 1, warnings, "twelve refusals, one warning a minute naming PUBLIC_BASE_URL:\n%s", log.String())
	assert.Contains(t, log.String(), "PUBLIC_BASE_URL is exactly the URL Twilio calls")
}

// TestReconcilerAppliesWhatTheWebhooksLost: Twilio retries a webhook once, and only when the
// connection fails, so a lost event must not leave a reservation open.
// reconcile runs one reconciler pass as of at and returns how many reservations it repaired.
func reconcile(t *testing.T, h *harness, at time.Time) int {
	t.Helper()
	n, err := h.bridge.Reconcile(context.Background(), at, time.Millisecond)
	require.NoError(t, err)
	return n
}

func TestReconcilerAppliesWhatTheWebhooksLost(t *testing.T) {
	later := time.Now().Add(time.Hour) // every open reservation is overdue by then
	ringing := func(t *testing.T, h *harness) (res, string) {
		r := newRes()
		h.sendEvent("reservation.created", r)
		call := h.waitCall(r)
		h.callStatus(r, call, "ringing")
		h.waitIdle()
		return r, call
	}
	reservations := func(r res) string {
		return "/v1/Workspaces/" + workspaceSID + "/Tasks/" + r.Task + "/Reservations"
	}
	calls := "/2010-04-01/Accounts/" + accountSID + "/Calls"

	t.Run("reservation canceled at TaskRouter, event lost: the leg is ended", func(t *testing.T) {
		h := newHarness(t)
		r, call := ringing(t, h)
		h.tw.Add(reservations(r), map[string]any{"sid": r.SID, "reservation_status": "canceled"})
		n := reconcile(t, h, later)
		assert.Equal(t, 1, n)
		h.waitIdle()
		assert.Equal(t, taskrouter.StateCanceled, h.reservation(r).State)
		updates := h.tw.Requests("update_call")
		require.Len(t, updates, 1)
		assert.Contains(t, updates[0].Path, call)
		assert.Contains(t, h.metrics(), `queuebridge_reconciler_repairs_total{repair="taskrouter_canceled"} 1`)
	})
	t.Run("task deleted at TaskRouter (404): the leg is ended", func(t *testing.T) {
		h := newHarness(t)
		r, _ := ringing(t, h)
		n := reconcile(t, h, later)
		assert.Equal(t, 1, n)
		h.waitIdle()
		assert.Equal(t, taskrouter.StateCanceled, h.reservation(r).State)
		assert.Len(t, h.tw.Requests("update_call"), 1)
	})
	t.Run("task deleted (404) while bridging: a live leg is left up", func(t *testing.T) {
		h := newHarness(t)
		r, call := ringing(t, h)
		h.answer(r, call, "human")
		require.Equal(t, taskrouter.StateBridging, h.reservation(r).State)
		h.tw.Add(calls, map[string]any{"sid": call, "status": "in-progress"})
		n := reconcile(t, h, later)
		assert.Zero(t, n, "the dequeue may have bridged the call: nothing to repair")
		h.waitIdle()
		assert.Equal(t, taskrouter.StateBridging, h.reservation(r).State)
		assert.Empty(t, h.tw.Requests("update_call"), "a live conversation is never cut")
	})
	bridged := func(t *testing.T, h *harness) (res, string) {
		r, call := ringing(t, h)
		h.answer(r, call, "human")
		h.sendEvent("reservation.accepted", r)
		h.waitIdle()
		require.Equal(t, taskrouter.StateAccepted, h.reservation(r).State)
		return r, call
	}
	t.Run("wrap-up lost after the leg ended: the task is completed", func(t *testing.T) {
		h := newHarness(t)
		r, call := bridged(t, h)
		h.callStatus(r, call, "completed")
		h.waitIdle()
		h.tw.Add(reservations(r), map[string]any{"sid": r.SID, "reservation_status": "wrapping"})
		n := reconcile(t, h, later)
		assert.Equal(t, 1, n)
		h.waitIdle()
		assert.Equal(t, taskrouter.StateWrapping, h.reservation(r).State)
		require.Len(t, h.tw.Requests("update_task"), 1, "the task is completed: the agent leaves wrap-up")
		assert.Equal(t, "completed", h.tw.Requests("update_task")[0].Form.Get("AssignmentStatus"))
		assert.Contains(t, h.metrics(), `queuebridge_reconciler_repairs_total{repair="taskrouter_wrapping"} 1`)
	})
	t.Run("wrap-up and the leg's end both lost: found by the once-a-minute check of conversations", func(t *testing.T) {
		h := newHarness(t)
		r, _ := bridged(t, h)
		h.tw.Add(reservations(r), map[string]any{"sid": r.SID, "reservation_status": "wrapping"})
		n := reconcile(t, h, later)
		assert.Equal(t, 1, n)
		h.waitIdle()
		assert.Len(t, h.tw.Requests("update_task"), 1)

		r2, _ := bridged(t, h) // a conversation, checked at most once a minute
		fetches := len(h.tw.Requests("fetch_reservation"))
		n = reconcile(t, h, later.Add(30*time.Second))
		assert.Zero(t, n)
		assert.Len(t, h.tw.Requests("fetch_reservation"), fetches, "not again within the minute")
		assert.Equal(t, taskrouter.StateAccepted, h.reservation(r2).State)
	})
	t.Run("leg ended unanswered, status callback lost: the reservation is rejected", func(t *testing.T) {
		h := newHarness(t)
		r, call := ringing(t, h)
		h.tw.Add(reservations(r), map[string]any{"sid": r.SID, "reservation_status": "pending"})
		h.tw.Add(calls, map[string]any{"sid": call, "status": "no-answer"})
		n := reconcile(t, h, later)
		assert.Equal(t, 1, n)
		h.waitIdle()
		got := h.reservation(r)
		assert.Equal(t, taskrouter.StateRejected, got.State)
		assert.Equal(t, taskrouter.Outcome{Kind: taskrouter.OutcomeLegEnded, Detail: "no-answer"}, got.Outcome)
		assert.Len(t, h.tw.Requests("update_reservation"), 1, "rejected at TaskRouter so the next agent is tried")
	})
	t.Run("nothing was lost: nothing changes", func(t *testing.T) {
		h := newHarness(t)
		r, call := ringing(t, h)
		h.tw.Add(reservations(r), map[string]any{"sid": r.SID, "reservation_status": "pending"})
		h.tw.Add(calls, map[string]any{"sid": call, "status": "ringing"})
		writes := len(h.tw.Writes())
		n := reconcile(t, h, later)
		assert.Zero(t, n)
		assert.Equal(t, taskrouter.StateRinging, h.reservation(r).State)
		assert.Len(t, h.tw.Writes(), writes)
	})
	t.Run("not overdue yet: Twilio is not asked", func(t *testing.T) {
		h := newHarness(t)
		ringing(t, h)
		n := reconcile(t, h, time.Now())
		assert.Zero(t, n)
		assert.Empty(t, h.tw.Requests("fetch_reservation", "fetch_call"))
	})
}
