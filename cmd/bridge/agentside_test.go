package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	sbtr "queuebridge/sandbox/taskrouter"
	"queuebridge/sandbox/voice"
	"queuebridge/scripts/demo"
	"queuebridge/taskrouter"
)

// The agent side end to end (issue 13): the bridge against the sandbox, callers dialing the IVR.

// said returns what a call heard through <Say>, in order.
func said(c voice.CallInfo) []string {
	var out []string
	for _, e := range c.Timeline {
		if e.What == "twiml: Say" {
			out = append(out, e.Detail["text"])
		}
	}
	return out
}

// happened reports whether the call's timeline has an entry what.
func happened(c voice.CallInfo, what string) bool {
	for _, e := range c.Timeline {
		if e.What == what {
			return true
		}
	}
	return false
}

// leg re-reads a call with its timeline.
func (e *e2e) leg(sid string) voice.CallInfo {
	e.t.Helper()
	c, ok := e.env.Sandbox.Voice().Call(sid)
	require.True(e.t, ok, "call %s", sid)
	return c
}

// agentPresses is a human agent who picks up after answerAfter and presses keys at the
// confirmation prompt (comma-separated, one part per prompt).
func agentPresses(answerAfter time.Duration, keys string) voice.Persona {
	return voice.Human(answerAfter, 20*time.Second).WithDigits(keys)
}

// TestE2EVoicemailThatFoolsAMD: a voicemail whose greeting is short enough for AMD to hear a
// human is connected to the caller when confirmation is off, and is not when it is on: it
// presses no key, its reservation is rejected as not confirmed, and the next agent, who presses
// the key, takes the caller. An agent who presses a wrong key hears the prompt once more.
func TestE2EVoicemailThatFoolsAMD(t *testing.T) {
	t.Parallel()
	t.Run("confirmation off: the caller is bridged to the voicemail", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, nil)
		e.setAgents(map[string]voice.Persona{"Alice": voice.ShortVoicemail(2 * time.Second), "Bob": agentPresses(2*time.Second, "1"), "Carol": human()})
		caller := e.ended(e.call(voice.Human(0, 0)))
		leg := e.bridgedTo(caller, "Alice")
		assert.Equal(t, "human", leg.AnsweredBy, "AMD took the voicemail for a human")
		assert.Empty(t, e.legs("Bob"), "nobody else was rung")
		e.assertReservations(caller.TaskSid, "Alice completed")
	})
	t.Run("confirmation on: the voicemail is not connected, the next agent is", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, map[string]string{"AGENT_CONFIRM_KEY": "1"})
		e.setAgents(map[string]voice.Persona{"Alice": voice.ShortVoicemail(2 * time.Second), "Bob": agentPresses(2*time.Second, "1"), "Carol": human()})
		caller := e.ended(e.call(voice.Human(0, 0)))
		e.bridgedTo(caller, "Bob")
		alice := e.legs("Alice")
		require.Len(t, alice, 1)
		vm := e.leg(alice[0].Sid)
		assert.Equal(t, "human", vm.AnsweredBy, "AMD still took it for a human")
		assert.Empty(t, vm.BridgedWith, "the voicemail never hears the caller")
		assert.True(t, happened(vm, "twiml: Gather") && happened(vm, "gather: no input"), "it heard the prompt and pressed nothing")
		require.NotEmpty(t, said(vm))
		assert.Contains(t, said(vm)[0], "Press 1 to take the call")
		bob := e.leg(e.legs("Bob")[0].Sid)
		assert.True(t, happened(bob, "gather: digits"), "Bob pressed the key")
		e.assertReservations(caller.TaskSid, "Alice rejected", "Bob completed")
		list, err := e.env.App.Store.TaskReservations(context.Background(), caller.TaskSid)
		require.NoError(t, err)
		assert.Equal(t, "not confirmed: no key", list[0].Outcome.String())
		assert.Contains(t, metricsOf(t, e), `queuebridge_reservations_total{outcome="not_confirmed",state="rejected"} 1`)
	})
	t.Run("a wrong key, then the right one", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, map[string]string{"AGENT_CONFIRM_KEY": "1"})
		e.setAgents(map[string]voice.Persona{"Alice": agentPresses(2*time.Second, "9,1"), "Bob": human(), "Carol": human()})
		caller := e.ended(e.call(voice.Human(0, 0)))
		leg := e.leg(e.bridgedTo(caller, "Alice").Sid)
		heard := said(leg)
		require.Len(t, heard, 2, "the prompt, and once more after the wrong key: %v", heard)
		assert.True(t, strings.HasPrefix(heard[1], "That was not the key."), heard[1])
		e.assertReservations(caller.TaskSid, "Alice completed")
	})
}

// TestE2EWhisper: with AGENT_WHISPER=on the agent hears the call (the caller's last four digits,
// the wait) before the caller is dequeued, and then talks with them.
func TestE2EWhisper(t *testing.T) {
	t.Parallel()
	e := newE2E(t, map[string]string{"AGENT_WHISPER": "on"})
	e.setAgents(map[string]voice.Persona{"Alice": human(), "Bob": human(), "Carol": human()})
	sid := e.call(voice.Human(0, 0))
	callerInfo := e.ended(sid)
	leg := e.leg(e.bridgedTo(callerInfo, "Alice").Sid)
	heard := said(leg)
	require.Len(t, heard, 1, "the whisper, then the dequeue")
	from := e.leg(sid).From
	assert.Contains(t, heard[0], "ending in "+strings.Join(strings.Split(from[len(from)-4:], ""), " "))
	assert.Regexp(t, `waiting \d+ seconds`, heard[0])
	var whisperAt, bridgedAt time.Time
	for _, en := range leg.Timeline {
		switch en.What {
		case "twiml: Say":
			whisperAt = en.Time
		case "bridged":
			bridgedAt = en.Time
		}
	}
	assert.True(t, bridgedAt.After(whisperAt), "the caller is dequeued after the whisper")
	e.assertReservations(callerInfo.TaskSid, "Alice completed")
}

// metricsOf scrapes the bridge's /metrics.
func metricsOf(t *testing.T, e *e2e) string {
	t.Helper()
	resp, err := http.Get(e.env.BridgeURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(body)
}

// missedOnThePage is the operator page's missed-call count of the agent (-1: not fed).
func (e *e2e) missedOnThePage(name string) int {
	e.t.Helper()
	require.NotNil(e.t, e.env.App.Operator, "the operator page is on in sandbox mode")
	for _, a := range e.env.App.Operator.Snapshot().Agents {
		if a.Key == e.env.Outputs.Workers[name] && a.Missed != nil {
			return *a.Missed
		}
	}
	return -1
}

// answered waits for the caller's call to end and its task to be completed. Unlike ended it does
// not wait for the bridge's outbox to empty: a rested worker's return is a job due after the
// cool-down.
func (e *e2e) answered(sid string) voice.CallInfo {
	e.t.Helper()
	info, err := demo.WaitCallEnded(context.Background(), e.env, sid, 30*time.Second)
	require.NoError(e.t, err)
	e.eventually(func() bool { return e.task(info.TaskSid).AssignmentStatus == "completed" }, "the task is completed")
	return info
}

// restedAt is when the bridge rested the worker, as it stored it.
func (e *e2e) restedAt(worker string) time.Time {
	e.t.Helper()
	w, err := e.env.App.Store.UpdateWorker(context.Background(), worker, func(taskrouter.WorkerRecord, bool) (taskrouter.WorkerChange, error) {
		return taskrouter.WorkerChange{}, nil
	})
	require.NoError(e.t, err)
	require.False(e.t, w.RestedAt.IsZero(), "worker %s was never rested", worker)
	return w.RestedAt
}

// restSpec is the e2e spec with a Resting activity.
var restSpec = strings.Replace(e2eSpec, "  - name: Missed Call\nqueues:", "  - name: Missed Call\n  - name: Resting\nqueues:", 1)

// TestE2EAgentWhoMissesCallsIsRested: Alice never picks up. After REST_AFTER_MISSES (2) missed
// legs in a row she is moved to Resting and rung no more; after REST_COOLDOWN she is Available
// again, also when the bridge restarted in between (the cool-down is a job in the store).
func TestE2EAgentWhoMissesCallsIsRested(t *testing.T) {
	t.Parallel()
	for _, restart := range []bool{false, true} {
		t.Run(fmt.Sprintf("restart=%v", restart), func(t *testing.T) {
			t.Parallel()
			const coolDown = 8 * time.Second
			e := newE2EWithSpec(t, restSpec, map[string]string{"RING_TIMEOUT": "10",
				"REST_AFTER_MISSES": "2", "REST_ACTIVITY": "Resting", "REST_COOLDOWN": coolDown.String()})
			e.setAgents(map[string]voice.Persona{"Alice": voice.NoAnswer(), "Bob": human(), "Carol": human()})
			// Longest idle first: Alice is rung for the first caller and again within the
			// next two.
			for i := 0; i < 4 && e.worker("Alice").ActivityName != "Resting"; i++ {
				caller := e.answered(e.call(voice.Human(0, 0)))
				assert.NotEmpty(t, caller.BridgedWith, "every caller is answered meanwhile")
				if len(e.legs("Alice")) == 1 {
					e.eventually(func() bool { return e.missedOnThePage("Alice") == 1 }, "the page counts Alice's missed call")
				}
			}
			e.eventually(func() bool { return e.worker("Alice").ActivityName == "Resting" }, "Alice is rested")
			alice := e.legs("Alice")
			require.Len(t, alice, 2, "rested after exactly two missed calls")
			assert.Equal(t, 0, e.missedOnThePage("Alice"), "the operator page's count starts again with the rest")
			for _, l := range alice {
				assert.Equal(t, "no-answer", l.Status)
			}
			restedAt := e.restedAt(e.env.Outputs.Workers["Alice"])
			if restart {
				require.NoError(t, e.env.Restart(context.Background()))
				assert.Equal(t, "Resting", e.worker("Alice").ActivityName, "still resting after the restart")
			}
			caller := e.answered(e.call(voice.Human(0, 0)))
			assert.NotEmpty(t, caller.BridgedWith)
			assert.Len(t, e.legs("Alice"), 2, "a resting agent is not rung")
			assert.Equal(t, "Resting", e.worker("Alice").ActivityName)

			var back time.Time
			require.Eventually(t, func() bool {
				back = time.Now()
				return e.worker("Alice").ActivityName == "Available"
			}, 30*time.Second, 10*time.Millisecond, "Alice is back after the cool-down")
			assert.GreaterOrEqual(t, back.Sub(restedAt), coolDown-50*time.Millisecond, "not before the cool-down")
			assert.Less(t, back.Sub(restedAt), coolDown+5*time.Second, "soon after it")
			e.eventually(func() bool {
				return strings.Contains(metricsOf(t, e), `queuebridge_worker_rests_total{event="returned"} 1`)
			}, "the return is counted")
		})
	}
}

// multiSpec rings every agent at once: max_reserved_workers 3; its target waits an hour (the
// clock runs fast).
var multiSpec = strings.NewReplacer("    target_workers: 1==1\n", "    target_workers: 1==1\n    max_reserved_workers: 3\n",
	"timeout: 300", "timeout: 3600").Replace(e2eSpec)

// newMultiE2E runs the multi-reservation spec at a fast clock, with the account's call rate
// raised so the three legs are placed together (Twilio's default is 1 call a second).
func newMultiE2E(t *testing.T, vars map[string]string) *e2e {
	t.Helper()
	e := newE2EAt(t, 200, multiSpec, vars)
	e.env.Sandbox.Voice().SetCallsPerSecond(1000)
	return e
}

// TestE2EThreeAgentsRungAtOnce: with max_reserved_workers 3 each caller rings Alice, Bob and
// Carol together. Alice and Bob pick up at the same moment, Carol does not. 50 times over: exactly
// one bridge, to Alice or Bob; one accepted reservation at TaskRouter (no double dequeue); every
// other leg ended: the other answered one having heard at most "this call was taken", Carol's
// canceled while it rang; nothing left open in the bridge or at TaskRouter.
func TestE2EThreeAgentsRungAtOnce(t *testing.T) {
	t.Parallel()
	// Carol's phone would ring for 300 s (sandbox time): long after the call was taken.
	e := newMultiE2E(t, map[string]string{"RING_TIMEOUT": "300"})
	e.setAgents(map[string]voice.Persona{
		"Alice": voice.Human(2*time.Second, 3*time.Second), "Bob": voice.Human(2*time.Second, 3*time.Second), "Carol": voice.NoAnswer(),
	})
	seen := map[string]bool{}
	wins := map[string]int{}
	told := 0
	for rep := range 50 {
		caller := e.ended(e.call(voice.Human(0, 0)))
		require.NotEmpty(t, caller.BridgedWith, "rep %d: the caller was never bridged", rep)
		var legs []voice.CallInfo
		for _, name := range []string{"Alice", "Bob", "Carol"} {
			for _, l := range e.legs(name) {
				if !seen[l.Sid] {
					seen[l.Sid] = true
					legs = append(legs, e.leg(l.Sid))
				}
			}
		}
		require.Len(t, legs, 3, "rep %d: one leg per agent, placed together", rep)
		bridged := 0
		for _, l := range legs {
			e.eventually(func() bool { return isFinal(e.leg(l.Sid).Status) }, "every leg ends")
			l = e.leg(l.Sid)
			name := nameOf(l.To)
			if l.Sid == caller.BridgedWith {
				bridged++
				wins[name]++
				assert.Equal(t, "human", l.AnsweredBy)
				continue
			}
			assert.Empty(t, l.BridgedWith, "rep %d: %s's leg never bridged", rep, name)
			for _, s := range said(l) {
				assert.Equal(t, taskrouter.MsgTaken, s, "rep %d: %s hears only that the call was taken", rep, name)
			}
			if len(said(l)) > 0 {
				told++
			}
			if name == "Carol" {
				assert.Equal(t, "canceled", l.Status, "rep %d: Carol's leg is canceled while it rings", rep)
			}
		}
		assert.Equal(t, 1, bridged, "rep %d: exactly one bridge", rep)
		assert.Contains(t, []string{"Alice", "Bob"}, nameOf(e.leg(caller.BridgedWith).To))
		// TaskRouter's own record (its events: the task itself is deleted 5 minutes after, on
		// this fast clock soon).
		accepted, rescinded := 0, 0
		for _, en := range e.env.Sandbox.Timeline(caller.Sid) {
			if en.Kind == "event" && en.Detail["task"] == caller.TaskSid {
				switch en.What {
				case "reservation.accepted":
					accepted++
				case "reservation.rescinded":
					rescinded++
				}
			}
		}
		assert.Equal(t, 1, accepted, "rep %d: one reservation accepted: no double dequeue", rep)
		assert.Equal(t, 2, rescinded, "rep %d: the two others rescinded", rep)
		assertNoneOpen(t, e, caller.TaskSid)
		if t.Failed() {
			return
		}
	}
	t.Logf("50 callers: bridged to %v; the losing answered leg was told the call was taken %d times (hung up first the others)", wins, told)
	assert.Positive(t, told, "an agent who answered and lost the dequeue is told the call was taken")
}

// assertNoneOpen waits for the bridge's reservations of the task to be settled, one of them
// bridged.
func assertNoneOpen(t *testing.T, e *e2e, taskSid string) {
	t.Helper()
	assert.EventuallyWithT(t, func(c *assert.CollectT) {
		list, err := e.env.App.Store.TaskReservations(context.Background(), taskSid)
		if !assert.NoError(c, err) {
			return
		}
		done := 0
		for _, r := range list {
			assert.False(c, r.State.Open(), "reservation %s still %s", r.SID, r.State)
			if r.State == taskrouter.StateCompleted {
				done++
			}
		}
		assert.Equal(c, 1, done, "one bridged reservation, completed")
	}, 20*time.Second, 5*time.Millisecond)
}

// TestE2ELateAnswerIsToldTheCallWasTaken: Bob picks up after Alice took the call, before the
// bridge heard that his reservation was rescinded (the event is lost here): his dequeue fails,
// and he is told the call was taken, then hung up on. His reservation ends as rescinded, with
// nothing rejected.
func TestE2ELateAnswerIsToldTheCallWasTaken(t *testing.T) {
	t.Parallel()
	e := newE2EAt(t, e2eSpeed, multiSpec, map[string]string{"RING_TIMEOUT": "30"})
	e.env.Sandbox.Voice().SetCallsPerSecond(1000)
	e.env.Sandbox.TaskRouter().SetDeliveryFaults(sbtr.DeliveryFaults{Drop: 1, DropTypes: []string{"reservation.rescinded"}})
	e.setAgents(map[string]voice.Persona{
		"Alice": voice.Human(2*time.Second, 3*time.Second), "Bob": voice.Human(20*time.Second, 3*time.Second), "Carol": voice.NoAnswer(),
	})
	caller := e.ended(e.call(voice.Human(0, 0)))
	e.bridgedTo(caller, "Alice")
	require.Len(t, e.legs("Bob"), 1)
	bobSid := e.legs("Bob")[0].Sid
	e.eventually(func() bool { return isFinal(e.leg(bobSid).Status) }, "Bob's leg ends")
	bob := e.leg(bobSid)
	assert.Equal(t, "human", bob.AnsweredBy, "Bob answered, after Alice had taken the call")
	assert.Empty(t, bob.BridgedWith)
	assert.True(t, happened(bob, "dial queue: dequeue failed"), "his dequeue failed: the reservation was no longer pending")
	assert.Equal(t, []string{taskrouter.MsgTaken}, said(bob), "told the call was taken")
	assert.Equal(t, "completed", bob.Status)
	e.eventually(func() bool {
		list, _ := e.env.App.Store.TaskReservations(context.Background(), caller.TaskSid)
		for _, r := range list {
			if r.ContactURI == agents["Bob"] {
				return r.State == taskrouter.StateCanceled && r.Outcome.Detail == taskrouter.EventReservationRescinded
			}
		}
		return false
	}, "Bob's reservation ends as rescinded")
}

// nameOf is the agent a number belongs to.
func nameOf(number string) string {
	for name, n := range agents {
		if n == number {
			return name
		}
	}
	return number
}

func isFinal(status string) bool {
	switch status {
	case "completed", "busy", "failed", "no-answer", "canceled":
		return true
	}
	return false
}
