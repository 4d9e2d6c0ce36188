package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/sandbox/twiliosig"
	"queuebridge/taskrouter"
)

func TestFiftyDuplicateDeliveriesPlaceOneCall(t *testing.T) {
	h := newHarness(t)
	r := newRes()
	form := event("reservation.created", r)
	var wg sync.WaitGroup
	statuses := make([]int, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			if i%2 == 1 {
				f.Set("Sid", testkit.SID("EV")) // half are retries with the same Sid, half re-deliveries with new ones
			}
			statuses[i], _ = h.post("/taskrouter/events", f)
		}()
	}
	wg.Wait()
	for i, s := range statuses {
		assert.Equal(t, http.StatusOK, s, "delivery %d", i)
	}
	h.waitCall(r)
	h.waitIdle()
	assert.Len(t, h.tw.Requests("create_call"), 1)
}

func TestAcknowledgedReservationSurvivesACrashAndIsDialedOnce(t *testing.T) {
	tw := testkit.NewTwilio(t)
	first := newHarness(t, withTwilio(tw), withoutDispatcher())
	r := newRes()
	first.sendEvent("reservation.created", r) // 200: committed, not yet dialed
	path := first.dbPath
	first.close() // the process dies before the dispatcher ran

	second := newHarness(t, withTwilio(tw), withDB(path))
	second.waitCall(r)
	second.waitIdle()
	third := func() { second.close(); newHarness(t, withTwilio(tw), withDB(path)).waitIdle() }
	third() // and a further restart places nothing more
	assert.Len(t, tw.Requests("create_call"), 1)
}

func TestInterruptedDialIsNeverRedialedBlindly(t *testing.T) {
	t.Run("the call exists: adopted", func(t *testing.T) {
		h := newHarness(t, withOptions(func(o *taskrouter.Options) { o.RetryBase = time.Millisecond }))
		// Twilio creates the call, but its answer never comes: the client's 300 ms timeout ends it.
		h.tw.Fail("create_call", testkit.Applied(testkit.Timeout()), 1)
		r := newRes()
		h.sendEvent("reservation.created", r)
		call := h.waitCall(r)
		h.waitIdle()
		assert.Len(t, h.tw.Requests("create_call"), 1, "the ambiguous create is looked up, not repeated")
		lists := h.tw.Requests("list_calls")
		require.NotEmpty(t, lists, "the bridge looked for the call it may have created")
		assert.Equal(t, taskrouter.StateRinging, h.reservation(r).State)
		created := h.tw.Find("/Calls", "to", agentNumber)
		require.Len(t, created, 1)
		assert.Equal(t, created[0]["sid"], call, "the call Twilio created is adopted")
	})
	t.Run("no call found: rejected", func(t *testing.T) {
		tw := testkit.NewTwilio(t)
		first := newHarness(t, withTwilio(tw), withoutDispatcher())
		r := newRes()
		first.sendEvent("reservation.created", r)
		// Simulate a crash right after the reservation was marked dialing.
		_, _, err := first.db.UpdateReservation(context.Background(), r.SID, "", "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
			x := s.Reservation
			x.State, x.DialingAt = taskrouter.StateDialing, time.Now()
			return taskrouter.Change{Reservation: &x}, nil
		})
		require.NoError(t, err)
		path := first.dbPath
		first.close()
		second := newHarness(t, withTwilio(tw), withDB(path))
		second.waitIdle()
		assert.Empty(t, tw.Requests("create_call"))
		rejects := tw.Requests("update_reservation")
		require.Len(t, rejects, 1)
		assert.Equal(t, "rejected", rejects[0].Form.Get("ReservationStatus"))
		assert.Equal(t, taskrouter.StateRejected, second.reservation(r).State)
	})
	t.Run("the look-up is refused: rejected, not left dialing", func(t *testing.T) {
		h := newHarness(t, withOptions(func(o *taskrouter.Options) { o.RetryBase = time.Millisecond }))
		h.tw.Fail("create_call", testkit.Timeout(), 1)
		// A restricted API key may not list calls: 403, for good.
		h.tw.Fail("list_calls", testkit.Code(403, 20003), -1)
		r := newRes()
		h.sendEvent("reservation.created", r)
		require.Eventually(t, func() bool { return h.reservation(r).State == taskrouter.StateRejected }, 5*time.Second, 2*time.Millisecond,
			"a reservation whose dial cannot be resolved is rejected")
		h.waitIdle()
		assert.Len(t, h.tw.Requests("create_call"), 1, "never re-dialed blindly")
		rejects := h.tw.Requests("update_reservation")
		require.Len(t, rejects, 1, "TaskRouter routes the task again")
		assert.Equal(t, "rejected", rejects[0].Form.Get("ReservationStatus"))
		assert.Equal(t, taskrouter.OutcomeDialNotFound, h.reservation(r).Outcome.Kind)
	})
}

func TestTwilioFailuresAreRetriedOrFinal(t *testing.T) {
	t.Run("429 is retried: Twilio created nothing", func(t *testing.T) {
		h := newHarness(t)
		h.tw.Fail("create_call", testkit.Status(429), 2)
		r := newRes()
		h.sendEvent("reservation.created", r)
		h.waitCall(r)
		h.waitIdle()
		assert.Len(t, h.tw.Requests("create_call"), 3)
		assert.Equal(t, taskrouter.StateRinging, h.reservation(r).State)
	})
	t.Run("5xx is looked up, never re-sent: Twilio may have created the call", func(t *testing.T) {
		h := newHarness(t)
		h.tw.Fail("create_call", testkit.Status(503), 1)
		r := newRes()
		h.sendEvent("reservation.created", r)
		h.waitIdle()
		assert.Len(t, h.tw.Requests("create_call"), 1)
		assert.NotEmpty(t, h.tw.Requests("list_calls"))
		require.Len(t, h.tw.Requests("update_reservation"), 1, "no call found: rejected so TaskRouter routes again")
		assert.Equal(t, taskrouter.StateRejected, h.reservation(r).State)
	})
	t.Run("other 4xx are final and reject", func(t *testing.T) {
		h := newHarness(t)
		h.tw.Fail("create_call", testkit.Code(400, 21211), 1)
		r := newRes()
		h.sendEvent("reservation.created", r)
		h.waitIdle()
		assert.Len(t, h.tw.Requests("create_call"), 1)
		require.Len(t, h.tw.Requests("update_reservation"), 1)
		got := h.reservation(r)
		assert.Equal(t, taskrouter.StateRejected, got.State)
		assert.Contains(t, got.Outcome.String(), "21211")
	})
	t.Run("retries stop at the reservation's deadline", func(t *testing.T) {
		h := newHarness(t, withOptions(func(o *taskrouter.Options) { o.ReservationTimeout = 150 * time.Millisecond }))
		h.tw.Fail("create_call", testkit.Status(429), 20)
		r := newRes()
		h.sendEvent("reservation.created", r)
		require.Eventually(t, func() bool { return h.reservation(r).State == taskrouter.StateRejected }, 5*time.Second, time.Millisecond)
		h.waitIdle()
		require.Len(t, h.tw.Requests("update_reservation"), 1)
		assert.Less(t, len(h.tw.Requests("create_call")), 20)
	})
}

func TestSignatures(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	r := newRes()
	form := event("reservation.created", r)
	cases := []struct {
		name string
		sig  string
		want int
	}{
		{"missing", "", http.StatusForbidden},
		{"forged", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", http.StatusForbidden},
		{"signed with another token", twiliosig.Sign("another-token", publicBase+"/taskrouter/events", form), http.StatusForbidden},
		{"signed over the Host header, not PUBLIC_BASE_URL", twiliosig.Sign(authToken, h.srv.URL+"/taskrouter/events", form), http.StatusForbidden},
		{"signed over PUBLIC_BASE_URL with the default port", twiliosig.Sign(authToken, "https://bridge.example.com:443/taskrouter/events", form), http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.hooks.PostSigned(t, "/taskrouter/events", form, tc.sig)
			assert.Equal(t, tc.want, status, body)
		})
	}
	// A form with a repeated key, signed over every value as Twilio signs it.
	repeated := event("reservation.created", newRes())
	repeated["StatusCallbackEvent"] = []string{"ringing", "answered"}
	status, body := h.hooks.PostSigned(t, "/taskrouter/events", repeated, twiliosig.Sign(authToken, publicBase+"/taskrouter/events", repeated))
	assert.Equal(t, http.StatusOK, status, body)
	status, _ = h.hooks.PostSigned(t, "/taskrouter/events", repeated, twiliosig.Sign("another-token", publicBase+"/taskrouter/events", repeated))
	assert.Equal(t, http.StatusForbidden, status)

	// Only the last, valid, request changed anything.
	got := h.reservation(r)
	assert.Equal(t, taskrouter.StatePending, got.State)

	other := newRes()
	status, _ = h.hooks.PostSigned(t, "/taskrouter/events", event("reservation.created", other), "bad")
	assert.Equal(t, http.StatusForbidden, status)
	_, err := h.db.Reservation(context.Background(), other.SID)
	assert.ErrorIs(t, err, taskrouter.ErrNotFound, "a request failing its signature changes nothing")

	status, _ = h.hooks.PostSigned(t, dialQueuePath(r), url.Values{"CallSid": {testkit.SID("CA")}, "AnsweredBy": {"human"}}, "bad")
	assert.Equal(t, http.StatusForbidden, status)
	status, _ = h.hooks.PostSigned(t, "/status-callback?reservation="+r.SID, url.Values{"CallSid": {testkit.SID("CA")}, "CallStatus": {"busy"}}, "bad")
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, taskrouter.StatePending, h.reservation(r).State)
}

func TestMalformedInputIsRefusedAndChangesNothing(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	r := newRes()
	cases := []struct {
		name   string
		target string
		form   url.Values
		want   int
		reason string
	}{
		{"no EventType", "/taskrouter/events", url.Values{"Sid": {testkit.SID("EV")}}, 400, "EventType is missing"},
		{"no ReservationSid", "/taskrouter/events", without(event("reservation.created", r), "ReservationSid"), 400, "ReservationSid is missing"},
		{"ReservationSid of the wrong shape", "/taskrouter/events", with(event("reservation.created", r), "ReservationSid", "WT00000000000000000000000000000001"), 400, "not a WR… SID"},
		{"TaskAttributes not JSON", "/taskrouter/events", with(event("reservation.created", r), "TaskAttributes", "{nope"), 400, "TaskAttributes is not a JSON object"},
		{"WorkerAttributes not an object", "/taskrouter/events", with(event("reservation.created", r), "WorkerAttributes", "[1]"), 400, "WorkerAttributes is not a JSON object"},
		{"body over the limit", "/taskrouter/events", with(event("reservation.created", r), "Padding", strings.Repeat("x", 70<<10)), 413, "larger than the limit"},
		{"dial-queue without reservation", "/dial-queue?task=" + r.Task, url.Values{"CallSid": {testkit.SID("CA")}}, 400, "reservation is missing"},
		{"dial-queue with a bad CallSid", dialQueuePath(r), url.Values{"CallSid": {"CAxyz"}}, 400, "CallSid"},
		{"dial-queue with an unknown AnsweredBy", dialQueuePath(r), url.Values{"CallSid": {testkit.SID("CA")}, "AnsweredBy": {"robot"}}, 400, "AnsweredBy"},
		{"status-callback with an unknown status", "/status-callback?reservation=" + r.SID, url.Values{"CallSid": {testkit.SID("CA")}, "CallStatus": {"exploded"}}, 400, "CallStatus"},
		{"status-callback with a task of the wrong shape", "/status-callback?reservation=" + r.SID + "&task=WRx", url.Values{"CallSid": {testkit.SID("CA")}, "CallStatus": {"busy"}}, 400, "task"},
		{"status-callback with an empty task", "/status-callback?reservation=" + r.SID + "&task=", url.Values{"CallSid": {testkit.SID("CA")}, "CallStatus": {"busy"}}, 400, "task"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := h.post(tc.target, tc.form)
			assert.Equal(t, tc.want, status)
			assert.Contains(t, body, tc.reason)
		})
	}
	_, err := h.db.Reservation(context.Background(), r.SID)
	assert.ErrorIs(t, err, taskrouter.ErrNotFound)
	n, err := h.db.PendingJobs(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n)
}

func TestIgnoredEventTypesAreAcknowledged(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	for _, typ := range []string{"worker.activity.update", "task-queue.entered", "workflow.timeout", "task.created", "made.up"} {
		status, body := h.post("/taskrouter/events", url.Values{"EventType": {typ}, "Sid": {testkit.SID("EV")}})
		assert.Equal(t, http.StatusOK, status, typ+": "+body)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(h.srv.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, path)
	}
	h.db.Close()
	resp, err := http.Get(h.srv.URL + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, "a closed store is not ready")
}

func with(f url.Values, k, v string) url.Values { f.Set(k, v); return f }
func without(f url.Values, k string) url.Values { f.Del(k); return f }

func TestMetricsCountOutcomesWithBoundedLabels(t *testing.T) {
	h := newHarness(t)
	r := newRes()
	h.sendEvent("reservation.created", r)
	call := h.waitCall(r)
	h.answer(r, call, "machine_start")
	h.callStatus(r, call, "completed") // the machine's leg ends: the same reservation, counted once
	h.waitIdle()

	text := h.metrics()
	assert.Contains(t, text, `queuebridge_reservations_total{outcome="answered_by_machine_start",state="rejected"} 1`+"\n")
	assert.Contains(t, text, `queuebridge_http_request_duration_seconds_count{route="/dial-queue",status="200"} 1`)
	assert.Contains(t, text, `queuebridge_http_request_duration_seconds_count{route="/taskrouter/events",status="200"} 1`)
	assert.Contains(t, text, `queuebridge_twilio_request_duration_seconds_count{operation="create_call"} 1`)
	assert.Contains(t, text, `queuebridge_twilio_request_duration_seconds_count{operation="reject_reservation"} 1`)
	assert.Contains(t, text, `queuebridge_created_to_call_seconds_count 1`)
	assert.Contains(t, text, `queuebridge_outbox_jobs 0`)
	assert.NotContains(t, text, r.SID, "no SIDs in labels")
	assert.NotContains(t, text, agentNumber, "no phone numbers in labels")
}
