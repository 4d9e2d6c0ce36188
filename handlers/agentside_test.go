package handlers_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/handlers"
	"queuebridge/internal/testkit"
	"queuebridge/taskrouter"
)

// The agent side (issue 13) one decision at a time: the whisper, the confirmation key and its
// route, the reject of a leg not confirmed, the message to a leg whose call another agent took,
// and resting a worker who misses calls.

// salesTask is a task attribute set with a department, and the caller waited 42 s before the
// reservation.
func salesTask() []string {
	attrs, _ := json.Marshal(map[string]any{"from": "+15005550123", "to": ourNumber, "department": "sales"})
	return []string{"TaskAttributes", string(attrs), "TaskAge", "42"}
}

// gatherTwiML is a confirmation prompt parsed back.
type gatherTwiML struct {
	XMLName xml.Name `xml:"Response"`
	Gather  []struct {
		Action              string   `xml:"action,attr"`
		Method              string   `xml:"method,attr"`
		NumDigits           string   `xml:"numDigits,attr"`
		Timeout             string   `xml:"timeout,attr"`
		Input               string   `xml:"input,attr"`
		ActionOnEmptyResult string   `xml:"actionOnEmptyResult,attr"`
		Say                 []string `xml:"Say"`
	} `xml:"Gather"`
}

// assertPrompt checks the TwiML asks for the key: one Gather of one DTMF key whose action is the
// confirmation route for attempt, time-outs included, the whisper said inside it, a Hangup
// after it. It returns what is said.
func assertPrompt(t *testing.T, body string, r res, attempt int) string {
	t.Helper()
	require.Equal(t, []string{"Gather", "Hangup"}, parseTwiML(t, body).verbs(), body)
	var g gatherTwiML
	require.NoError(t, xml.Unmarshal([]byte(body), &g))
	require.Len(t, g.Gather, 1)
	p := g.Gather[0]
	assert.Equal(t, publicBase+confirmPath(r, attempt)+handlers.Overrides, p.Action, "the key goes to the confirmation route, with the overrides")
	assert.Equal(t, "POST", p.Method)
	assert.Equal(t, "1", p.NumDigits)
	assert.Equal(t, "dtmf", p.Input)
	assert.Equal(t, "5", p.Timeout)
	assert.Equal(t, "true", p.ActionOnEmptyResult, "no key reaches the action too")
	require.Len(t, p.Say, 1)
	return p.Say[0]
}

func confirmPath(r res, attempt int) string {
	return handlers.PathAgentConfirm + "?" + url.Values{"reservation": {r.SID}, "task": {r.Task}, "attempt": {strconv.Itoa(attempt)}}.Encode()
}

// confirm posts the Gather's action with the key pressed ("" for none).
func (h *harness) confirm(r res, call string, attempt int, digits string) (int, string) {
	h.t.Helper()
	form := url.Values{"CallSid": {call}, "AccountSid": {accountSID}, "CallStatus": {"in-progress"}}
	if digits != "" || attempt > 0 {
		form.Set("Digits", digits)
	}
	return h.post(confirmPath(r, attempt), form)
}

// confirming runs r to the confirmation prompt with a sales task and returns the leg and the
// prompt's TwiML.
func (h *harness) confirming(r res) (string, string) {
	h.t.Helper()
	h.sendEvent("reservation.created", r, salesTask()...)
	call := h.waitCall(r)
	status, body := h.post(dialQueuePath(r), url.Values{"CallSid": {call}, "AccountSid": {accountSID},
		"CallStatus": {"in-progress"}, "AnsweredBy": {"human"}})
	require.Equal(h.t, http.StatusOK, status, body)
	return call, body
}

func withConfirmation(o *taskrouter.Options) { o.ConfirmKey = "1" }

func TestWhisperIsSaidBeforeTheDequeue(t *testing.T) {
	h := newHarness(t, withOptions(func(o *taskrouter.Options) { o.Whisper = true }))
	r := newRes()
	h.sendEvent("reservation.created", r, salesTask()...)
	call := h.waitCall(r)
	tw := h.answer(r, call, "human")
	require.Equal(t, []string{"Say", "Dial"}, tw.verbs(), "the whisper, then the dequeue")
	whisper := tw.Verbs[0].Text
	assert.Contains(t, whisper, "sales", "the task's department")
	assert.Contains(t, whisper, "ending in 0 1 2 3", "the caller's number masked: its last four digits")
	assert.NotContains(t, whisper, "5005550123", "never the whole number")
	assert.Regexp(t, `waiting 4[2-9] seconds`, whisper, "TaskAge at reservation.created plus the time since")
	assert.Equal(t, r.SID, tw.Verbs[1].Queue[0].ReservationSid)
	assert.Equal(t, taskrouter.StateBridging, h.reservation(r).State)
	got := h.reservation(r)
	assert.Equal(t, "0123", got.CallerLast4, "only the last four digits are stored")
	assert.Equal(t, "sales", got.Department)

	// Twilio retries the request: the same answer.
	assert.Equal(t, []string{"Say", "Dial"}, h.answer(r, call, "human").verbs())
}

func TestConfirmationKeyDequeues(t *testing.T) {
	h := newHarness(t, withOptions(withConfirmation))
	r := newRes()
	call, body := h.confirming(r)
	said := assertPrompt(t, body, r, 1)
	assert.Contains(t, said, "sales")
	assert.Contains(t, said, "Press 1 to take the call")
	assert.Equal(t, taskrouter.StateConfirming, h.reservation(r).State, "the caller stays queued: no dequeue yet")

	// Twilio retries the answered leg's request: the same prompt, nothing changes.
	status, again := h.post(dialQueuePath(r), url.Values{"CallSid": {call}, "AnsweredBy": {"human"}, "CallStatus": {"in-progress"}})
	require.Equal(t, http.StatusOK, status)
	assertPrompt(t, again, r, 1)

	status, body = h.confirm(r, call, 1, "1")
	require.Equal(t, http.StatusOK, status, body)
	assertConnects(t, parseTwiML(t, body), r)
	assert.Equal(t, taskrouter.StateBridging, h.reservation(r).State)
	// And Twilio retries the Gather's action: the same dequeue.
	_, body = h.confirm(r, call, 1, "1")
	assertConnects(t, parseTwiML(t, body), r)
	h.waitIdle()
	assert.Empty(t, h.tw.Requests("update_reservation"), "a confirmed leg is never rejected")
	assert.Contains(t, h.metrics(), `queuebridge_agent_confirmations_total{result="confirmed"} 1`)
}

func TestNoKeyRejectsAsNotConfirmed(t *testing.T) {
	h := newHarness(t, withOptions(func(o *taskrouter.Options) {
		o.ConfirmKey, o.NoAnswerActivitySID = "1", "WA00000000000000000000000000000003"
	}))
	r := newRes()
	call, _ := h.confirming(r)
	status, body := h.confirm(r, call, 1, "")
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, []string{"Hangup"}, parseTwiML(t, body).verbs(), "a voicemail box hears nothing more")
	// Twilio retries the action: the same answer, still one reject.
	_, body = h.confirm(r, call, 1, "")
	assert.Equal(t, []string{"Hangup"}, parseTwiML(t, body).verbs())
	h.waitIdle()
	rejects := h.tw.Requests("update_reservation")
	require.Len(t, rejects, 1)
	assert.Equal(t, "rejected", rejects[0].Form.Get("ReservationStatus"))
	assert.Equal(t, "WA00000000000000000000000000000003", rejects[0].Form.Get("WorkerActivitySid"), "the agent's phone caused it")
	got := h.reservation(r)
	assert.Equal(t, taskrouter.StateRejected, got.State)
	assert.Equal(t, taskrouter.Outcome{Kind: taskrouter.OutcomeNotConfirmed, Detail: taskrouter.NotConfirmedNoKey}, got.Outcome)
	assert.Equal(t, taskrouter.AnsweredHuman, got.AnsweredBy, "AMD's verdict is kept: the leg was turned down after it")
	m := h.metrics()
	assert.Contains(t, m, `queuebridge_reservations_total{outcome="not_confirmed",state="rejected"} 1`, "counted apart from AMD verdicts")
	assert.NotContains(t, m, `outcome="answered_by_human"`)
	assert.Contains(t, m, `queuebridge_agent_confirmations_total{result="no_key"} 1`)
}

func TestWrongKeyRepeatsOnce(t *testing.T) {
	for _, second := range []string{"1", "9", ""} {
		t.Run("then "+strconv.Quote(second), func(t *testing.T) {
			h := newHarness(t, withOptions(withConfirmation))
			r := newRes()
			call, _ := h.confirming(r)
			_, body := h.confirm(r, call, 1, "9")
			said := assertPrompt(t, body, r, 2)
			assert.True(t, strings.HasPrefix(said, "That was not the key."), said)
			assert.Equal(t, taskrouter.StateConfirming, h.reservation(r).State)
			// A retry of the first action gets the same second prompt.
			_, again := h.confirm(r, call, 1, "9")
			assertPrompt(t, again, r, 2)

			_, body = h.confirm(r, call, 2, second)
			tw := parseTwiML(t, body)
			h.waitIdle()
			switch second {
			case "1":
				assertConnects(t, tw, r)
				assert.Empty(t, h.tw.Requests("update_reservation"))
			case "9":
				assert.Equal(t, []string{"Say", "Hangup"}, tw.verbs())
				assert.Equal(t, taskrouter.MsgNotConfirmed, tw.Verbs[0].Text, "a person is told")
				assert.Equal(t, "not confirmed: wrong key", h.reservation(r).Outcome.String())
				assert.Len(t, h.tw.Requests("update_reservation"), 1)
			case "":
				assert.Equal(t, []string{"Hangup"}, tw.verbs())
				assert.Equal(t, "not confirmed: no key", h.reservation(r).Outcome.String())
				assert.Len(t, h.tw.Requests("update_reservation"), 1)
			}
		})
	}
}

func TestHangUpDuringConfirmationIsNotConfirmed(t *testing.T) {
	h := newHarness(t, withOptions(withConfirmation))
	r := newRes()
	call, _ := h.confirming(r)
	h.callStatus(r, call, "completed")
	h.waitIdle()
	got := h.reservation(r)
	assert.Equal(t, taskrouter.StateRejected, got.State)
	assert.Equal(t, "not confirmed: hung up", got.Outcome.String())
	require.Len(t, h.tw.Requests("update_reservation"), 1, "rejected at once")
	assert.Contains(t, h.metrics(), `queuebridge_agent_confirmations_total{result="hung_up"} 1`)
	// A late key press (the action raced the hang-up) changes nothing.
	_, body := h.confirm(r, call, 1, "1")
	assert.Equal(t, []string{"Hangup"}, parseTwiML(t, body).verbs())
	assert.Equal(t, taskrouter.StateRejected, h.reservation(r).State)
}

// TestConfirmationFollowsAMD: machines are rejected on AMD's word, without a prompt; an unknown
// verdict is prompted under connect and rejected under reject.
func TestConfirmationFollowsAMD(t *testing.T) {
	for _, tc := range []struct {
		by     string
		policy taskrouter.UnknownPolicy
		prompt bool
	}{{"machine_start", "", false}, {"fax", "", false}, {"unknown", taskrouter.UnknownConnect, true}, {"unknown", taskrouter.UnknownReject, false}} {
		t.Run(tc.by+"/"+string(tc.policy), func(t *testing.T) {
			h := newHarness(t, withOptions(func(o *taskrouter.Options) { o.ConfirmKey, o.UnknownAnswer = "1", tc.policy }))
			r := newRes()
			h.sendEvent("reservation.created", r)
			call := h.waitCall(r)
			tw := h.answer(r, call, tc.by)
			if tc.prompt {
				assert.Equal(t, []string{"Gather", "Hangup"}, tw.verbs())
				assert.Equal(t, taskrouter.StateConfirming, h.reservation(r).State)
				return
			}
			assert.Equal(t, []string{"Hangup"}, tw.verbs())
			assert.Equal(t, "answered by "+tc.by, h.reservation(r).Outcome.String())
		})
	}
}

func TestConfirmationOfALegThatIsNotTheReservationsChangesNothing(t *testing.T) {
	h := newHarness(t, withOptions(withConfirmation))
	r := newRes()
	h.confirming(r)
	before := h.reservation(r)
	_, body := h.confirm(r, testkit.SID("CA"), 1, "1")
	assert.Equal(t, []string{"Say", "Hangup"}, parseTwiML(t, body).verbs())
	assert.Equal(t, before, h.reservation(r))
	_, body = h.confirm(newRes(), testkit.SID("CA"), 1, "1")
	assert.Equal(t, []string{"Say", "Hangup"}, parseTwiML(t, body).verbs(), "an unknown reservation")
}

func TestMalformedConfirmationsAreRefused(t *testing.T) {
	h := newHarness(t, withOptions(withConfirmation))
	r := newRes()
	call, _ := h.confirming(r)
	before := h.reservation(r)
	for name, target := range map[string]string{
		"attempt 3":        confirmPath(r, 3),
		"attempt missing":  handlers.PathAgentConfirm + "?reservation=" + r.SID + "&task=" + r.Task,
		"no reservation":   handlers.PathAgentConfirm + "?task=" + r.Task + "&attempt=1",
		"reservation junk": handlers.PathAgentConfirm + "?reservation=WRx&task=" + r.Task + "&attempt=1",
	} {
		status, body := h.post(target, url.Values{"CallSid": {call}, "Digits": {"1"}})
		assert.Equal(t, http.StatusBadRequest, status, "%s: %s", name, body)
	}
	for _, digits := range []string{"12", "x"} {
		status, body := h.post(confirmPath(r, 1), url.Values{"CallSid": {call}, "Digits": {digits}})
		assert.Equal(t, http.StatusBadRequest, status, "Digits %q: %s", digits, body)
		assert.Contains(t, body, "Digits")
	}
	assert.Equal(t, before, h.reservation(r), "refused requests change nothing")
}

// TestALegAnsweredAfterAnotherWonIsTold: with several agents rung at once, a leg answering after
// another reservation of the task was accepted hears that the call was taken, whether its own
// rescind arrived first or its dequeue failed first.
func TestALegAnsweredAfterAnotherWonIsTold(t *testing.T) {
	t.Run("rescinded first", func(t *testing.T) {
		h := newHarness(t)
		r := newRes()
		h.sendEvent("reservation.created", r)
		call := h.waitCall(r)
		h.sendEvent("reservation.rescinded", r)
		tw := h.answer(r, call, "human")
		assert.Equal(t, []string{"Say", "Hangup"}, tw.verbs())
		assert.Equal(t, taskrouter.MsgTaken, tw.Verbs[0].Text)
	})
	t.Run("dequeue failed first", func(t *testing.T) {
		h := newHarness(t)
		winner, loser := newRes(), newRes()
		loser.Task = winner.Task
		h.connected(winner)
		h.sendEvent("reservation.accepted", winner)
		call := h.connected(loser) // its rescind is late: it was given the dequeue too
		status, body := h.post(dialQueuePath(loser), url.Values{"CallSid": {call}, "DialCallStatus": {"failed"}})
		require.Equal(t, http.StatusOK, status)
		tw := parseTwiML(t, body)
		assert.Equal(t, []string{"Say", "Hangup"}, tw.verbs())
		assert.Equal(t, taskrouter.MsgTaken, tw.Verbs[0].Text)
		h.waitIdle()
		got := h.reservation(loser)
		assert.Equal(t, taskrouter.StateCanceled, got.State, "TaskRouter rescinded it: nothing to reject")
		assert.Empty(t, h.tw.Requests("update_reservation"))
		h.sendEvent("reservation.rescinded", loser)
		assert.Equal(t, got, h.reservation(loser), "the late rescind changes nothing")
		assert.Equal(t, taskrouter.StateAccepted, h.reservation(winner).State)
	})
	t.Run("dequeue failed while the winner's accept is on its way", func(t *testing.T) {
		h := newHarness(t)
		winner, loser := newRes(), newRes()
		loser.Task = winner.Task
		h.connected(winner) // bridging: reservation.accepted not heard yet
		call := h.connected(loser)
		_, body := h.post(dialQueuePath(loser), url.Values{"CallSid": {call}, "DialCallStatus": {"failed"}})
		tw := parseTwiML(t, body)
		require.Equal(t, []string{"Say", "Hangup"}, tw.verbs())
		assert.Equal(t, taskrouter.MsgTaken, tw.Verbs[0].Text, "another agent's dequeue is under way")
		h.waitIdle()
		assert.Equal(t, taskrouter.StateRejected, h.reservation(loser).State, "not known to be rescinded yet: rejected, so it never stays pending")
		assert.Len(t, h.tw.Requests("update_reservation"), 1)
	})
	t.Run("a failed dequeue with no winner is not 'taken'", func(t *testing.T) {
		h := newHarness(t)
		r, other := newRes(), newRes()
		other.Task = r.Task
		h.sendEvent("reservation.created", other) // ringing, not taken
		call := h.connected(r)
		_, body := h.post(dialQueuePath(r), url.Values{"CallSid": {call}, "DialCallStatus": {"failed"}})
		assert.Equal(t, taskrouter.MsgDequeueFailed, parseTwiML(t, body).Verbs[0].Text)
	})
}

// TestAWorkerWhoMissesCallsIsRested: REST_AFTER_MISSES missed legs in a row move the worker to
// REST_ACTIVITY (the last reject carries it, and a worker update makes sure), and after
// REST_COOLDOWN the worker, still resting, is moved back; a bridged call starts the count again.
func TestAWorkerWhoMissesCallsIsRested(t *testing.T) {
	const rest, back, worker = "WA00000000000000000000000000000011", "WA00000000000000000000000000000012", "WK00000000000000000000000000000077"
	h := newHarness(t, withOptions(func(o *taskrouter.Options) {
		o.RestAfter, o.RestActivitySID, o.RestFor, o.ReturnActivitySID = 3, rest, time.Second, back
	}))
	h.tw.Add("/v1/Workspaces/"+workspaceSID+"/Workers", map[string]any{"sid": worker, "activity_sid": back})
	rejected := 0
	miss := func(how string) {
		t.Helper()
		defer func() {
			rejected++
			require.Eventually(t, func() bool { return len(h.tw.Requests("update_reservation")) == rejected }, 5*time.Second,
				time.Millisecond, "each miss is counted (with its reject) before the next leg")
		}()
		r := newRes()
		r.Worker = worker
		h.sendEvent("reservation.created", r)
		call := h.waitCall(r)
		switch how {
		case "machine":
			h.answer(r, call, "machine_start")
		default:
			h.callStatus(r, call, how)
		}
	}
	miss("no-answer")
	miss("busy")
	// A bridged call: the count starts again.
	won := newRes()
	won.Worker = worker
	h.connected(won)
	h.sendEvent("reservation.accepted", won)
	h.sendEvent("reservation.wrapup", won)
	require.Eventually(t, func() bool { return len(h.tw.Requests("update_task")) == 1 }, 5*time.Second, 5*time.Millisecond)
	// A failed leg (the network's) and a caller who hung up do not count.
	miss("failed")
	miss("no-answer")
	miss("machine")
	assert.Empty(t, h.tw.Requests("update_worker"), "two misses since the bridge: not rested yet")
	miss("busy")
	require.Eventually(t, func() bool {
		return len(h.tw.Requests("update_reservation")) == 6 && len(h.tw.Requests("update_worker")) == 1
	}, 5*time.Second, 5*time.Millisecond)

	rejects := h.tw.Requests("update_reservation")
	require.Len(t, rejects, 6)
	for i, rq := range rejects[:5] {
		assert.Empty(t, rq.Form.Get("WorkerActivitySid"), "reject %d", i)
	}
	assert.Equal(t, rest, rejects[5].Form.Get("WorkerActivitySid"), "the third miss in a row rests the worker with its reject")
	moves := h.tw.Requests("update_worker")
	require.Len(t, moves, 1)
	assert.Equal(t, "/v1/Workspaces/"+workspaceSID+"/Workers/"+worker, moves[0].Path)
	assert.Equal(t, rest, moves[0].Form.Get("ActivitySid"))

	require.Eventually(t, func() bool { return len(h.tw.Requests("update_worker")) == 2 }, 5*time.Second, 5*time.Millisecond,
		"the cool-down brings the worker back")
	assert.Equal(t, back, h.tw.Requests("update_worker")[1].Form.Get("ActivitySid"))
	assert.Len(t, h.tw.Requests("fetch_worker"), 1, "the activity is read first: a worker who moved on is left alone")
	// The return is counted once Twilio's answer to the worker update is back: poll for it.
	require.Eventually(t, func() bool {
		return strings.Contains(h.metrics(), `queuebridge_worker_rests_total{event="returned"} 1`)
	}, 5*time.Second, 5*time.Millisecond, "the return is counted")
	assert.Contains(t, h.metrics(), `queuebridge_worker_rests_total{event="rested"} 1`)

	rec, err := h.db.UpdateWorker(context.Background(), worker, func(taskrouter.WorkerRecord, bool) (taskrouter.WorkerChange, error) {
		return taskrouter.WorkerChange{}, nil
	})
	require.NoError(t, err)
	assert.Zero(t, rec.Misses, "the rest starts the count again")
	assert.False(t, rec.RestedAt.IsZero())
}

// TestARestedWorkerWhoMovedOnIsLeftAlone: at the end of the cool-down a worker no longer in the
// rest activity (they went offline, say) is not moved.
func TestARestedWorkerWhoMovedOnIsLeftAlone(t *testing.T) {
	const rest, back, offline, worker = "WA00000000000000000000000000000011", "WA00000000000000000000000000000012",
		"WA00000000000000000000000000000013", "WK00000000000000000000000000000078"
	h := newHarness(t, withOptions(func(o *taskrouter.Options) {
		o.RestAfter, o.RestActivitySID, o.RestFor, o.ReturnActivitySID = 1, rest, time.Second, back
	}))
	h.tw.Add("/v1/Workspaces/"+workspaceSID+"/Workers", map[string]any{"sid": worker, "activity_sid": back})
	r := newRes()
	r.Worker = worker
	h.sendEvent("reservation.created", r)
	h.callStatus(r, h.waitCall(r), "no-answer")
	require.Eventually(t, func() bool { return len(h.tw.Requests("update_worker")) == 1 }, 5*time.Second, 5*time.Millisecond)
	h.tw.Add("/v1/Workspaces/"+workspaceSID+"/Workers", map[string]any{"sid": worker, "activity_sid": offline})
	require.Eventually(t, func() bool { return len(h.tw.Requests("fetch_worker")) == 1 }, 5*time.Second, 5*time.Millisecond)
	h.waitIdle()
	assert.Len(t, h.tw.Requests("update_worker"), 1, "not moved back")
	assert.Contains(t, h.metrics(), `queuebridge_worker_rests_total{event="moved_on"} 1`)
}

// TestAMissIsCountedOnceWhateverItsRejectCosts: a reject Twilio fails (5xx) runs again, and the
// miss it carries is not counted twice: the worker is rested at the third miss, not the second.
func TestAMissIsCountedOnceWhateverItsRejectCosts(t *testing.T) {
	const rest, worker = "WA00000000000000000000000000000011", "WK00000000000000000000000000000079"
	h := newHarness(t, withOptions(func(o *taskrouter.Options) { o.RestAfter, o.RestActivitySID = 3, rest }))
	h.tw.Add("/v1/Workspaces/"+workspaceSID+"/Workers", map[string]any{"sid": worker})
	h.tw.Fail("update_reservation", testkit.Status(503), 2)
	for i := range 3 {
		r := newRes()
		r.Worker = worker
		h.sendEvent("reservation.created", r)
		h.callStatus(r, h.waitCall(r), "no-answer")
		require.Eventually(t, func() bool {
			ok := 0
			for _, rq := range h.tw.Requests("update_reservation") {
				if rq.Status == http.StatusOK {
					ok++
				}
			}
			return ok == i+1
		}, 5*time.Second, time.Millisecond)
		if i < 2 {
			assert.Empty(t, h.tw.Requests("update_worker"), "miss %d: not rested yet", i+1)
		}
	}
	require.Len(t, h.tw.Requests("update_reservation"), 5, "the first reject was sent three times")
	require.Eventually(t, func() bool { return len(h.tw.Requests("update_worker")) == 1 }, 5*time.Second, time.Millisecond,
		"rested at the third miss")
}
