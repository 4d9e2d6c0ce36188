package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/app"
	sbtr "queuebridge/sandbox/taskrouter"
	"queuebridge/sandbox/voice"
)

func TestE2ECallerHangsUp(t *testing.T) {
	t.Parallel()
	t.Run("while the agent rings", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, nil)
		e.setAgents(map[string]voice.Persona{"Alice": voice.NoAnswer()})
		caller := e.ended(e.call(voice.Human(0, 0).WithPatience(10 * time.Second)))
		assert.Empty(t, caller.BridgedWith)
		e.eventually(func() bool { return e.task(caller.TaskSid).AssignmentStatus == "canceled" }, "the task is canceled")
		e.eventually(func() bool { l := e.legs("Alice"); return len(l) == 1 && l[0].Status == "canceled" }, "the ringing leg is canceled")
		e.assertReservations(caller.TaskSid, "Alice canceled")
		assert.True(t, e.worker("Alice").Available, "Alice stays available")
	})
	t.Run("during AMD", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, map[string]string{"AMD_MODE": "DetectMessageEnd"})
		// Alice's voicemail greeting lasts 25 s; the caller gives up 10 s into the queue.
		e.setAgents(map[string]voice.Persona{"Alice": voice.Voicemail(2*time.Second, 25*time.Second, true)})
		caller := e.ended(e.call(voice.Human(0, 0).WithPatience(10 * time.Second)))
		assert.Empty(t, caller.BridgedWith)
		e.eventually(func() bool { l := e.legs("Alice"); return len(l) == 1 && l[0].Status == "completed" }, "the answered leg is hung up")
		assert.Empty(t, e.legs("Alice")[0].BridgedWith)
		e.assertReservations(caller.TaskSid, "Alice canceled")
	})
	t.Run("after the bridge", func(t *testing.T) {
		t.Parallel()
		e := newE2E(t, nil)
		e.setAgents(map[string]voice.Persona{"Alice": voice.Human(2*time.Second, 0)})
		caller := e.ended(e.call(voice.Human(0, 5*time.Second)))
		leg := e.bridgedTo(caller, "Alice")
		e.eventually(func() bool { l, _ := e.env.Sandbox.Voice().Call(leg.Sid); return l.Status == "completed" }, "the agent leg ends with the caller")
		e.eventually(func() bool { return e.task(caller.TaskSid).AssignmentStatus == "completed" }, "the task is completed")
		e.assertReservations(caller.TaskSid, "Alice completed")
	})
}

// TestE2EEveryAgentFailsCallerLeavesVoicemail runs under both readings of TaskRouter's reject:
// Twilio's documented one, where a rejecting worker who stays available is offered the task
// again (so NOANSWER_ACTIVITY must move them away, as in production), and the sandbox's option
// where a rejecting worker is never offered that task again (NOANSWER_ACTIVITY unset).
func TestE2EEveryAgentFailsCallerLeavesVoicemail(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		reoffer bool
		vars    map[string]string
	}{
		{"re-offered as Twilio documents, agents moved to Missed Call", true, map[string]string{"RING_TIMEOUT": "20", "NOANSWER_ACTIVITY": "Missed Call"}},
		{"never re-offered (sandbox option)", false, map[string]string{"RING_TIMEOUT": "20"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newE2EWithSpec(t, strings.Replace(e2eSpec, "timeout: 300", "timeout: 90", 1), tc.vars)
			e.env.Sandbox.TaskRouter().SetReofferRejected(tc.reoffer)
			everyAgentFails(t, e)
		})
	}
}

func everyAgentFails(t *testing.T, e *e2e) {
	e.setAgents(map[string]voice.Persona{"Alice": voice.NoAnswer(), "Bob": voice.Voicemail(2*time.Second, 6*time.Second, true), "Carol": voice.Busy()})
	caller := e.ended(e.call(voice.Human(0, 0).WithMessage(8 * time.Second)))

	assert.Empty(t, caller.BridgedWith)
	assert.Equal(t, "leave", caller.QueueResult, "the workflow timeout takes the caller out of the queue")
	var recorded bool
	for _, entry := range caller.Timeline {
		recorded = recorded || entry.What == "record: message"
	}
	assert.True(t, recorded, "the Studio fallback recorded the caller's voicemail")
	assert.Equal(t, "canceled", e.task(caller.TaskSid).AssignmentStatus)
	assert.Equal(t, "no-answer", e.legs("Alice")[0].Status)
	assert.Equal(t, "machine_start", e.legs("Bob")[0].AnsweredBy)
	assert.Equal(t, "busy", e.legs("Carol")[0].Status)
	e.assertReservations(caller.TaskSid, "Alice rejected", "Bob rejected", "Carol rejected")
}

func TestE2EBridgeRefusesToStartWhenTheLegDoesNotFit(t *testing.T) {
	t.Parallel()
	e := newE2E(t, nil) // provisioned for 60 s ring + 30 s AMD: a 105 s reservation timeout
	cfg := e.env.App.Config
	cfg.Options.RingTimeout = 90 * time.Second
	cfg.DatabaseURL = e.dbPath + ".other"
	_, err := app.New(context.Background(), cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "refusing to start: workflow Inbound")
	assert.Contains(t, err.Error(), "ring timeout 1m30s + AMD timeout 30s = 2m0s does not fit in its reservation timeout 1m45s")
}

func TestE2EDuplicateAndReorderedEventsPlaceOneLegPerReservation(t *testing.T) {
	t.Parallel()
	for _, faults := range []sbtr.DeliveryFaults{{Duplicate: true}, {Reorder: true}, {Duplicate: true, Reorder: true}} {
		t.Run(fmt.Sprintf("%+v", faults), func(t *testing.T) {
			t.Parallel()
			e := newE2E(t, nil)
			e.env.Sandbox.TaskRouter().SetDeliveryFaults(faults)
			e.setAgents(map[string]voice.Persona{"Alice": voice.Voicemail(2*time.Second, 6*time.Second, true), "Bob": human()})
			caller := e.ended(e.call(voice.Human(0, 0)))
			e.bridgedTo(caller, "Bob")
			assert.Len(t, e.legs("Alice"), 1)
			assert.Len(t, e.legs("Bob"), 1)
			e.assertReservations(caller.TaskSid, "Alice rejected", "Bob completed")
		})
	}
}

func TestE2EBridgeRestartedMidCall(t *testing.T) {
	t.Parallel()
	// A slower clock: the restart takes real time, which must stay well inside the reservation.
	e := newE2EAt(t, 5, e2eSpec, nil)
	e.setAgents(map[string]voice.Persona{"Alice": voice.Human(20*time.Second, 10*time.Second)})
	sid := e.call(voice.Human(0, 0))
	e.eventually(func() bool { l := e.legs("Alice"); return len(l) == 1 && l[0].Status == "ringing" }, "Alice's phone rings")

	require.NoError(t, e.env.Restart(context.Background()))

	caller := e.ended(sid)
	e.bridgedTo(caller, "Alice")
	assert.Len(t, e.legs("Alice"), 1, "the restarted bridge did not ring Alice again")
	e.eventually(func() bool { return e.task(caller.TaskSid).AssignmentStatus == "completed" }, "the task is completed by the new process")
	e.assertReservations(caller.TaskSid, "Alice completed")
}

// TestE2EManyCallersManyAgents runs alone (not parallel): it loads the machine on its own.
// mixedAgents is e2eSpec with 20 agents numbered from +1500555<first>: of each five, one's
// voicemail picks up, one never answers, one is busy and two answer and talk for talk.
func mixedAgents(first int, talk time.Duration) (spec string, personas map[string]voice.Persona) {
	return mixedAgentsN(20, first, talk)
}

// mixedAgentsN is mixedAgents with n agents.
func mixedAgentsN(n, first int, talk time.Duration) (spec string, personas map[string]voice.Persona) {
	var workers strings.Builder
	personas = map[string]voice.Persona{}
	for i := range n {
		name := fmt.Sprintf("Agent%02d", i)
		number := fmt.Sprintf("+1500555%04d", first+i)
		fmt.Fprintf(&workers, "  - {name: %s, contact_uri: %q, activity: Available}\n", name, number)
		switch i % 5 {
		case 0:
			personas[number] = voice.Voicemail(2*time.Second, 6*time.Second, true)
		case 1:
			personas[number] = voice.NoAnswer()
		case 2:
			personas[number] = voice.Busy()
		default:
			personas[number] = voice.Human(2*time.Second, talk)
		}
	}
	spec = e2eSpec[:strings.Index(e2eSpec, "\nworkers:")] + "\nworkers:\n" + workers.String() + e2eSpec[strings.Index(e2eSpec, "\nworkflow:"):]
	return spec, personas
}

func TestE2EManyCallersManyAgents(t *testing.T) {
	if testing.Short() {
		t.Skip("200 callers: not in -short")
	}
	spec, personas := mixedAgents(1000, 20*time.Second)
	spec = strings.Replace(spec, "timeout: 300", "timeout: 900", 1)
	e := newE2EWithSpec(t, spec, map[string]string{"RING_TIMEOUT": "15"})
	for number, p := range personas {
		e.env.Sandbox.SetPersona(number, p)
	}
	e.env.Sandbox.Voice().SetCallsPerSecond(0) // the 1 call/s account limit would stretch this test to minutes

	const callers = 200
	sids := make([]string, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sids[i] = e.call(voice.Human(0, 0).WithMessage(3 * time.Second))
		}()
	}
	wg.Wait()

	bridged, voicemail := resolveCallers(t, e.env, sids, 2*time.Minute)
	require.Eventually(t, func() bool { n, err := e.env.App.Store.PendingJobs(context.Background()); return err == nil && n == 0 }, 30*time.Second, 20*time.Millisecond, "the bridge carries out every queued job")
	t.Logf("%d callers: %d bridged, %d to voicemail", callers, bridged, voicemail)
	assert.Equal(t, callers, bridged+voicemail)

	// No reservation left pending, no agent left reserved, one agent leg per reservation.
	e.eventually(func() bool {
		for _, sid := range sids {
			info, _ := e.env.Sandbox.Voice().Call(sid)
			for _, r := range e.env.Sandbox.TaskRouter().TaskReservations(info.TaskSid) {
				if r.ReservationStatus == "pending" || r.ReservationStatus == "accepted" {
					return false
				}
			}
		}
		return true
	}, "every reservation is final")
	legs := map[string]int{}
	for _, c := range e.env.Sandbox.Voice().Calls() {
		if c.Direction == "outbound-api" {
			owner, err := e.env.App.Store.CallOwner(context.Background(), c.Sid)
			require.NoError(t, err)
			require.NotEmpty(t, owner, "leg %s belongs to no reservation", c.Sid)
			legs[owner]++
		}
	}
	for res, n := range legs {
		assert.Equal(t, 1, n, "reservation %s has %d legs", res, n)
	}
}
