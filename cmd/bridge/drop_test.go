package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/app"
	sbtr "queuebridge/sandbox/taskrouter"
	"queuebridge/sandbox/voice"
	"queuebridge/scripts/demo"
)

// Item 4 of issue 10: webhooks Twilio loses for good (the sandbox drops them) are repaired by
// the reconciler, and the 200-caller run with a tenth of the bridge's webhooks dropped.

// fastReconcile runs the reconciler every 100 ms of real time (5 s of the sandbox's at 50×),
// with the bridge on the sandbox's clock so that "overdue" is sandbox time (newSandboxE2E).
var fastReconcile = app.WithReconcile(100*time.Millisecond, 2*time.Millisecond)

func TestRealAccountReconcilerRepairsLostWebhooks(t *testing.T) {
	t.Parallel()
	t.Run("a lost no-answer: the reservation is rejected, not left to time out", func(t *testing.T) {
		t.Parallel()
		// Twilio's default reservation timeout, 120 s: longer than bootstrap's ring + AMD + 15 s,
		// which the reconciler's own threshold equals (it could not beat TaskRouter's time-out).
		spec := strings.Replace(e2eSpec, "  name: Inbound\n", "  name: Inbound\n  reservation_timeout: 120\n", 1)
		e := newSandboxE2E(t, e2eSpeed, spec, map[string]string{"RING_TIMEOUT": "20"}, fastReconcile)
		e.env.Sandbox.Voice().SetWebhookFaults(voice.WebhookFaults{Drop: 1, Kinds: []string{voice.HookStatus}})
		e.setAgents(map[string]voice.Persona{"Alice": voice.NoAnswer(), "Bob": human()})
		caller := e.ended(e.call(voice.Human(0, 0)))

		e.bridgedTo(caller, "Bob")
		require.Len(t, e.legs("Alice"), 1)
		assert.Equal(t, "no-answer", e.legs("Alice")[0].Status)
		e.assertReservations(caller.TaskSid, "Alice rejected", "Bob completed")
		assert.GreaterOrEqual(t, e.metric("queuebridge_reconciler_repairs_total", `repair="leg_no-answer"`), 1.0)
	})
	t.Run("a lost reservation.canceled: the reservation is closed and its leg ended", func(t *testing.T) {
		t.Parallel()
		e := newSandboxE2E(t, e2eSpeed, e2eSpec, map[string]string{"RING_TIMEOUT": "20"}, fastReconcile)
		// Neither the cancel nor anything about the leg reaches the bridge.
		e.env.Sandbox.TaskRouter().SetDeliveryFaults(sbtr.DeliveryFaults{Drop: 1, DropTypes: []string{"reservation.canceled", "task.canceled"}})
		e.env.Sandbox.Voice().SetWebhookFaults(voice.WebhookFaults{Drop: 1, Kinds: []string{voice.HookStatus}})
		e.setAgents(map[string]voice.Persona{"Alice": voice.NoAnswer()})
		caller := e.ended(e.call(voice.Human(0, 0).WithPatience(5 * time.Second)))

		assert.Empty(t, caller.BridgedWith)
		assert.Equal(t, "canceled", e.task(caller.TaskSid).AssignmentStatus)
		e.assertReservations(caller.TaskSid, "Alice canceled")
		assert.GreaterOrEqual(t, e.metric("queuebridge_reconciler_repairs_total", `repair="taskrouter_canceled"`), 1.0)
		leg := e.legs("Alice")
		require.Len(t, leg, 1)
		assert.Contains(t, []string{"canceled", "no-answer"}, leg[0].Status)
	})
}

// faultySpeed is the 200-caller run's clock: at 50× a loaded machine (and -race) falls behind
// the sandbox's clock, reservations time out before the bridge hears of them, and the run
// measures the machine rather than the bridge.
const faultySpeed = 20

// faultyRunAgents is 20 agents: 8 humans, 4 voicemails, 4 who never answer, 4 busy; the
// workflow keeps Twilio's default reservation timeout (120 s), which leaves the reconciler
// time to act before TaskRouter's own time-out (see TestRealAccountReconcilerRepairsLostWebhooks).
func faultyRunAgents() (spec string, personas map[string]voice.Persona) {
	spec, personas = mixedAgents(2000, 5*time.Second)
	spec = strings.Replace(spec, "  name: Inbound\n", "  name: Inbound\n  reservation_timeout: 120\n", 1)
	return strings.Replace(spec, "timeout: 300", "timeout: 400", 1), personas
}

// TestE2EFaultyWebhooks200Callers is issue 10's end-to-end acceptance: 200 callers, 20 agents of
// mixed personas, and the sandbox dropping a tenth of the webhooks sent to the bridge (TaskRouter
// events, the agent legs' status callbacks and Dial actions; seeded). Every caller ends bridged
// to a human or in voicemail, no agent leg is left up, the bridge holds no reservation open, and
// the reconciler repaired what was lost. It runs alone: it loads the machine by itself.
func TestE2EFaultyWebhooks200Callers(t *testing.T) {
	if testing.Short() {
		t.Skip("200 callers: not in -short")
	}
	start := time.Now()
	spec, personas := faultyRunAgents()
	e := newSandboxE2E(t, faultySpeed, spec, map[string]string{"RING_TIMEOUT": "15"}, app.WithReconcile(200*time.Millisecond, 2*time.Millisecond))
	for number, p := range personas {
		e.env.Sandbox.SetPersona(number, p)
	}
	e.env.Sandbox.Voice().SetCallsPerSecond(0) // the 1 call/s account limit would stretch this test to minutes
	e.env.Sandbox.TaskRouter().SetDeliveryFaults(sbtr.DeliveryFaults{Drop: 0.1, Seed: 10})
	// Callers' own webhooks go to the sandbox's Studio (Url, Enqueue action, waitUrl): those
	// kinds are left alone; the agent legs' status callbacks and Dial actions go to the bridge.
	e.env.Sandbox.Voice().SetWebhookFaults(voice.WebhookFaults{Drop: 0.1, Seed: 10, Kinds: []string{voice.HookStatus, voice.HookDialAction}})

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
	assert.Equal(t, callers, bridged+voicemail, "every caller bridged or in voicemail")
	settled(t, e, sids)
	noLegLeftUp(t, e)
	repairs := e.metric("queuebridge_reconciler_repairs_total")
	assert.Positive(t, repairs, "the reconciler repaired what the dropped webhooks lost")
	t.Logf("%d callers: %d bridged, %d to voicemail; %d dropped events, %d dropped voice webhooks; %.0f repairs (%s); %v",
		callers, bridged, voicemail, droppedEntries(e, "event dropped (fault)"), droppedEntries(e, "webhook dropped (fault)"),
		repairs, repairLabels(e), time.Since(start).Round(100*time.Millisecond))
	t.Logf("reservations by outcome:\n%s", e.metricLines("queuebridge_reservations_total"))
}

// resolveCallers waits (each up to limit) for every caller's call to end and counts them bridged
// (always to a human) and in voicemail; any other end fails the test.
func resolveCallers(t *testing.T, env *app.SandboxEnv, sids []string, limit time.Duration) (bridged, voicemail int) {
	t.Helper()
	f, err := demo.WaitFates(context.Background(), env, sids, limit)
	require.NoError(t, err)
	for _, p := range f.Problems {
		t.Error(p)
	}
	return f.Bridged, f.Voicemail
}

// settled waits until TaskRouter holds no reservation pending or accepted, and the bridge no
// reservation open and no job, for the callers' tasks.
func settled(t *testing.T, e *e2e, sids []string) {
	t.Helper()
	ctx := context.Background()
	require.Eventually(t, func() bool {
		for _, sid := range sids {
			info, _ := e.env.Sandbox.Voice().Call(sid)
			for _, r := range e.env.Sandbox.TaskRouter().TaskReservations(info.TaskSid) {
				if r.ReservationStatus == "pending" || r.ReservationStatus == "accepted" {
					return false
				}
			}
			list, err := e.env.App.Store.TaskReservations(ctx, info.TaskSid)
			if err != nil {
				return false
			}
			for _, r := range list {
				switch r.State {
				case "pending", "dialing", "ringing", "bridging":
					return false
				}
			}
		}
		n, err := e.env.App.Store.PendingJobs(ctx)
		return err == nil && n == 0
	}, 60*time.Second, 20*time.Millisecond, "every reservation final at TaskRouter and in the bridge, every job done")
}

// noLegLeftUp checks the sandbox's calls: every agent leg has ended, belongs to one reservation,
// and none was bridged to a caller unless its reservation was accepted.
func noLegLeftUp(t *testing.T, e *e2e) {
	t.Helper()
	ctx := context.Background()
	legs := map[string]int{}
	for _, c := range e.env.Sandbox.Voice().Calls() {
		if c.Direction != "outbound-api" {
			continue
		}
		assert.Contains(t, []string{"completed", "no-answer", "busy", "failed", "canceled"}, c.Status, "agent leg %s left %s", c.Sid, c.Status)
		owner, err := e.env.App.Store.CallOwner(ctx, c.Sid)
		require.NoError(t, err)
		require.NotEmpty(t, owner, "leg %s belongs to no reservation", c.Sid)
		legs[owner]++
		if c.BridgedWith != "" {
			r, err := e.env.App.Store.Reservation(ctx, owner)
			require.NoError(t, err)
			if r.State != "accepted" && r.State != "wrapping" && r.State != "completed" {
				task, _ := e.env.Sandbox.TaskRouter().Task(r.TaskSID)
				var status string
				for _, x := range e.env.Sandbox.TaskRouter().TaskReservations(r.TaskSID) {
					if x.Sid == owner {
						status = x.ReservationStatus
					}
				}
				t.Logf("leg %s was bridged but the bridge recorded reservation %s %s (%v); TaskRouter: reservation %s, task %s",
					c.Sid, owner, r.State, r.Outcome, status, task.AssignmentStatus)
			}
		}
	}
	for res, n := range legs {
		assert.Equal(t, 1, n, "reservation %s has %d legs", res, n)
	}
}

func droppedEntries(e *e2e, what string) int {
	n := 0
	for _, entry := range e.env.Sandbox.Timeline("") {
		if strings.HasPrefix(entry.What, what) {
			n++
		}
	}
	return n
}

// repairLabels lists the reconciler's repairs by kind, from /metrics.
func repairLabels(e *e2e) string {
	var out []string
	for _, what := range []string{"taskrouter_accepted", "taskrouter_wrapping", "taskrouter_completed", "taskrouter_rejected",
		"taskrouter_timeout", "taskrouter_canceled", "taskrouter_rescinded", "leg_completed", "leg_no-answer", "leg_busy", "leg_failed", "leg_canceled"} {
		if n := e.metric("queuebridge_reconciler_repairs_total", `repair="`+what+`"`); n > 0 {
			out = append(out, fmt.Sprintf("%s %.0f", what, n))
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
