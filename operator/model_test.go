package operator_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/operator"
	"queuebridge/taskrouter"
)

// fakeClock is the model's clock, moved by the test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

const (
	task    = "WT00000000000000000000000000000001"
	resA    = "WR00000000000000000000000000000001"
	resB    = "WR00000000000000000000000000000002"
	carol   = "WK00000000000000000000000000000003"
	alice   = "WK00000000000000000000000000000001"
	caller  = "+15550100002"
	carolNo = "+15005550103"
	aliceNo = "+15005550101"
)

type page struct {
	t     *testing.T
	m     *operator.Model
	clock *fakeClock
	legs  map[string]taskrouter.Reservation
}

func newPage(t *testing.T, o operator.ModelOptions) *page {
	clock := &fakeClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	o.Now, o.Location = clock.Now, time.UTC
	return &page{t: t, m: operator.NewModel(o), clock: clock, legs: map[string]taskrouter.Reservation{}}
}

func (p *page) event(typ string, set func(*taskrouter.Event)) {
	e := taskrouter.Event{Type: typ, TaskSID: task}
	if set != nil {
		set(&e)
	}
	p.m.Observe(e)
}

// callerQueued is task.created, then task-queue.entered, as TaskRouter sends them.
func (p *page) callerQueued() {
	p.event(taskrouter.EventTaskCreated, func(e *taskrouter.Event) { e.TaskAttributes = map[string]any{"from": caller} })
	p.event(taskrouter.EventTaskQueueEntered, func(e *taskrouter.Event) { e.TaskQueueName = "Sales" })
}

// leg moves a reservation, as the bridge reports it (Transition), to the state set leaves it in.
func (p *page) leg(sid string, set func(*taskrouter.Reservation)) {
	before, ok := p.legs[sid]
	after := before
	if !ok {
		after = taskrouter.Reservation{SID: sid, TaskSID: task, WorkerSID: carol, WorkerName: "Carol", ContactURI: carolNo, State: taskrouter.StatePending}
		if sid == resB {
			after.WorkerSID, after.WorkerName, after.ContactURI = alice, "Alice", aliceNo
		}
	}
	if set != nil {
		set(&after)
	}
	p.legs[sid] = after
	p.m.Transition(before, after)
}

func (p *page) call() (operator.CallRow, bool) {
	for _, c := range p.m.Snapshot().Calls {
		if c.Key == task {
			return c, true
		}
	}
	return operator.CallRow{}, false
}

func (p *page) legRow(sid string) operator.LegRow {
	for _, l := range p.m.Snapshot().Legs {
		if l.Key == sid {
			return l
		}
	}
	p.t.Fatalf("no leg %s on the page", sid)
	return operator.LegRow{}
}

func (p *page) agent(sid string) operator.AgentRow {
	for _, a := range p.m.Snapshot().Agents {
		if a.Key == sid {
			return a
		}
	}
	p.t.Fatalf("no agent %s on the page", sid)
	return operator.AgentRow{}
}

func verdicts(c operator.Counters) map[string]int {
	out := map[string]int{}
	for _, v := range c.Verdicts {
		if v.Count > 0 {
			out[v.Verdict] = v.Count
		}
	}
	return out
}

func ringing(status taskrouter.CallStatus) func(*taskrouter.Reservation) {
	return func(r *taskrouter.Reservation) {
		r.State, r.CallSID, r.CallStatus = taskrouter.StateRinging, "CA"+r.SID[2:], status
	}
}

// Each step of a call that reaches a human, and what the page shows after it: the caller's
// row, the agent's leg, the agent, the counters, and at the end the outcome.
func TestEachTransitionOfABridgedCallChangesThePage(t *testing.T) {
	p := newPage(t, operator.ModelOptions{})
	steps := []struct {
		name                  string
		do                    func()
		callStatus, callLabel string
		legStatus, legLabel   string
		agentLeg              string
		verdict               string
	}{
		{"task.created", func() { p.callerQueued() }, "waiting", "waiting in the queue", "", "", "", ""},
		{"reservation created", func() { p.leg(resA, nil) }, "dialing", "calling Carol", "dialing", "calling the agent's phone", "calling the agent's phone", ""},
		{"leg placed", func() { p.leg(resA, ringing("")) }, "ringing", "ringing Carol", "ringing", "ringing", "ringing", ""},
		{"leg ringing", func() { p.leg(resA, ringing(taskrouter.CallRinging)) }, "ringing", "ringing Carol", "ringing", "ringing", "ringing", ""},
		{"leg answered", func() { p.leg(resA, ringing(taskrouter.CallInProgress)) }, "amd", "Carol answered: AMD listening", "amd", "answered: AMD listening", "answered: AMD listening", ""},
		{"AMD says human", func() {
			p.leg(resA, func(r *taskrouter.Reservation) {
				r.State, r.AnsweredBy = taskrouter.StateBridging, taskrouter.AnsweredHuman
			})
		}, "human", "Carol answered in person: connecting", "human", "human: connecting the caller", "human: connecting the caller", "human"},
		{"reservation accepted", func() {
			p.leg(resA, func(r *taskrouter.Reservation) {
				r.State, r.Outcome = taskrouter.StateAccepted, taskrouter.Outcome{Kind: taskrouter.OutcomeBridged}
			})
		}, "bridged", "talking with Carol", "bridged", "bridged: talking", "bridged: talking", "human"},
	}
	for _, s := range steps {
		p.clock.advance(2 * time.Second)
		s.do()
		c, ok := p.call()
		require.True(t, ok, "%s: the caller's row", s.name)
		assert.Equal(t, s.callStatus, c.Status, s.name)
		assert.Equal(t, s.callLabel, c.Label, s.name)
		assert.Equal(t, "+1••••••0002", c.Caller, s.name)
		assert.Equal(t, "Sales", c.Queue, s.name)
		if s.legStatus != "" {
			l := p.legRow(resA)
			assert.Equal(t, s.legStatus, l.Status, s.name)
			assert.Equal(t, s.legLabel, l.Label, s.name)
			assert.Equal(t, s.verdict, l.Verdict, s.name)
			assert.Equal(t, "+1••••••0103", l.Number, s.name)
			assert.Equal(t, "+1••••••0002", l.Caller, s.name)
			assert.Equal(t, s.agentLeg, p.agent(carol).Leg, s.name)
		}
	}
	snap := p.m.Snapshot()
	assert.Equal(t, 1, snap.Counters.Bridged)
	assert.Equal(t, map[string]int{"human": 1}, verdicts(snap.Counters))
	assert.Empty(t, snap.Recent, "the call is not over")

	p.clock.advance(30 * time.Second)
	p.leg(resA, func(r *taskrouter.Reservation) { r.State = taskrouter.StateWrapping })
	_, ok := p.call()
	assert.False(t, ok, "the call is over: no longer among the callers")
	l := p.legRow(resA)
	assert.Equal(t, "ended", l.Status)
	assert.Equal(t, "bridged", l.Outcome)
	assert.Empty(t, p.agent(carol).Leg)
	snap = p.m.Snapshot()
	require.Len(t, snap.Recent, 1)
	o := snap.Recent[0]
	assert.Equal(t, "bridged", o.Result)
	assert.Equal(t, "bridged to Carol", o.Label)
	assert.Equal(t, (12 * time.Second).Milliseconds(), o.Waited, "waited from the queue until the bridge (6 steps of 2 s)")
	assert.Equal(t, 1, snap.Counters.Bridged, "counted once")

	// What trails the end changes nothing: the task completed, the reservation completed.
	p.event(taskrouter.EventTaskCompleted, nil)
	p.leg(resA, func(r *taskrouter.Reservation) { r.State = taskrouter.StateCompleted })
	snap = p.m.Snapshot()
	assert.Empty(t, snap.Calls)
	assert.Len(t, snap.Recent, 1)
	assert.Equal(t, 1, snap.Counters.Bridged)
}

// A voicemail picks up on the first agent: the caller goes back to waiting, with the try noted,
// and the next agent's human answer bridges them.
func TestAMachineVerdictSendsTheCallerBackToWaiting(t *testing.T) {
	p := newPage(t, operator.ModelOptions{})
	p.callerQueued()
	p.leg(resA, ringing(taskrouter.CallInProgress))
	p.leg(resA, func(r *taskrouter.Reservation) {
		r.State, r.AnsweredBy = taskrouter.StateRejected, taskrouter.AnsweredMachineStart
		r.Outcome = taskrouter.Outcome{Kind: taskrouter.OutcomeAnsweredBy, Detail: "machine_start"}
	})
	c, ok := p.call()
	require.True(t, ok)
	assert.Equal(t, "waiting", c.Status)
	assert.Equal(t, []string{"Carol: answered by machine_start"}, c.Tries)
	l := p.legRow(resA)
	assert.Equal(t, "ended", l.Status)
	assert.Equal(t, "machine_start", l.Verdict)
	assert.Equal(t, "answered by machine_start", l.Outcome)

	p.leg(resB, ringing(taskrouter.CallRinging))
	c, _ = p.call()
	assert.Equal(t, "ringing Alice", c.Label)
	p.leg(resB, func(r *taskrouter.Reservation) {
		r.State, r.AnsweredBy = taskrouter.StateBridging, taskrouter.AnsweredHuman
	})
	p.leg(resB, func(r *taskrouter.Reservation) { r.State = taskrouter.StateAccepted })
	p.leg(resB, func(r *taskrouter.Reservation) { r.State = taskrouter.StateWrapping })
	snap := p.m.Snapshot()
	require.Len(t, snap.Recent, 1)
	assert.Equal(t, "bridged to Alice", snap.Recent[0].Label)
	assert.Equal(t, []string{"Carol: answered by machine_start"}, snap.Recent[0].Tries)
	assert.Equal(t, map[string]int{"human": 1, "machine_start": 1}, verdicts(snap.Counters))
}

// A task canceled while the caller waits: a hang-up is abandoned, any other reason (the
// workflow's time-out) sends the caller to voicemail. A repeated event counts once.
func TestACanceledTaskIsAbandonedOrVoicemail(t *testing.T) {
	for _, tc := range []struct{ reason, result, label string }{
		{"hangup", "abandoned", "abandoned: the caller hung up"},
		{"Workflow Timeout", "voicemail", "to voicemail: no agent took the call"},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			p := newPage(t, operator.ModelOptions{})
			p.callerQueued()
			p.leg(resA, ringing(taskrouter.CallRinging))
			// The bridge ends the leg first (its transition), then the event reaches the page.
			p.leg(resA, func(r *taskrouter.Reservation) {
				r.State, r.Outcome = taskrouter.StateCanceled, taskrouter.Outcome{Kind: taskrouter.OutcomeTaskCanceled, Detail: tc.reason}
			})
			for range 2 {
				p.event(taskrouter.EventTaskCanceled, func(e *taskrouter.Event) { e.Reason = tc.reason })
			}
			snap := p.m.Snapshot()
			assert.Empty(t, snap.Calls)
			require.Len(t, snap.Recent, 1)
			assert.Equal(t, tc.result, snap.Recent[0].Result)
			assert.Equal(t, tc.label, snap.Recent[0].Label)
			assert.Equal(t, []string{"Carol: task canceled: " + tc.reason}, snap.Recent[0].Tries)
			assert.Equal(t, map[string]int{"abandoned": btoi(tc.result == "abandoned"), "voicemail": btoi(tc.result == "voicemail")},
				map[string]int{"abandoned": snap.Counters.Abandoned, "voicemail": snap.Counters.Voicemail})
			assert.Equal(t, "ended", p.legRow(resA).Status)
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Two changes of one reservation committed close together may be reported in either order: a
// late report never moves the page backwards (a late "ringing" after the bridge, say).
func TestALateTransitionNeverMovesThePageBackwards(t *testing.T) {
	p := newPage(t, operator.ModelOptions{})
	p.callerQueued()
	stale := taskrouter.Reservation{SID: resA, TaskSID: task, WorkerSID: carol, WorkerName: "Carol", State: taskrouter.StateRinging,
		CallSID: "CA1", CallStatus: taskrouter.CallRinging}
	p.leg(resA, func(r *taskrouter.Reservation) {
		r.State, r.CallSID, r.CallStatus, r.AnsweredBy = taskrouter.StateAccepted, "CA1", taskrouter.CallInProgress, taskrouter.AnsweredHuman
	})
	p.m.Transition(taskrouter.Reservation{}, stale)
	c, _ := p.call()
	assert.Equal(t, "bridged", c.Status)
	assert.Equal(t, "bridged", p.legRow(resA).Status)
	assert.Equal(t, map[string]int{"human": 1}, verdicts(p.m.Snapshot().Counters))
}

// Without task.created (a workspace whose events filter predates the page), the caller appears
// when the first agent is reserved, from reservation.created's task attributes.
func TestACallerIsShownFromItsFirstReservationWithoutTaskCreated(t *testing.T) {
	p := newPage(t, operator.ModelOptions{})
	p.leg(resA, nil)
	p.event(taskrouter.EventReservationCreated, func(e *taskrouter.Event) {
		e.TaskAttributes, e.TaskQueueName, e.WorkerSID, e.WorkerName = map[string]any{"from": caller}, "Sales", carol, "Carol"
	})
	c, ok := p.call()
	require.True(t, ok)
	assert.Equal(t, "dialing", c.Status)
	assert.Equal(t, "+1••••••0002", c.Caller)
	assert.Equal(t, "Sales", c.Queue)
	assert.Equal(t, "+1••••••0002", p.legRow(resA).Caller, "the leg placed before the number was known learns it")
}

func TestAgentsShowTheirActivityAndMissedCallsWhenFed(t *testing.T) {
	p := newPage(t, operator.ModelOptions{})
	p.m.SeedAgents([]operator.Agent{{SID: alice, Name: "Alice", Activity: "Available"}, {SID: carol, Name: "Carol", Activity: "Offline"}})
	a := p.agent(alice)
	assert.Equal(t, "Available", a.Activity)
	assert.Nil(t, a.Missed, "no count fed: the page shows a dash")

	p.clock.advance(time.Minute)
	p.m.Observe(taskrouter.Event{Type: taskrouter.EventWorkerActivityUpdated, WorkerSID: alice, WorkerName: "Alice", WorkerActivityName: "Missed Call"})
	p.m.SetMissedCalls(alice, 3)
	a = p.agent(alice)
	assert.Equal(t, "Missed Call", a.Activity)
	assert.Equal(t, p.clock.Now().UnixMilli(), a.Since)
	require.NotNil(t, a.Missed)
	assert.Equal(t, 3, *a.Missed)
	p.m.SeedAgents([]operator.Agent{{SID: alice, Name: "Alice", Activity: "Available"}})
	assert.Equal(t, "Missed Call", p.agent(alice).Activity, "a seed never overwrites what events said")
	assert.Equal(t, "Offline", p.agent(carol).Activity)
}

func TestNumbersAreMaskedUnlessConfigured(t *testing.T) {
	for _, show := range []bool{false, true} {
		p := newPage(t, operator.ModelOptions{ShowNumbers: show})
		p.callerQueued()
		p.leg(resA, ringing(taskrouter.CallRinging))
		c, _ := p.call()
		l := p.legRow(resA)
		if show {
			assert.Equal(t, caller, c.Caller)
			assert.Equal(t, carolNo, l.Number)
		} else {
			assert.Equal(t, "+1••••••0002", c.Caller)
			assert.Equal(t, "+1••••••0103", l.Number)
		}
	}
}

func TestMaskNumber(t *testing.T) {
	for in, want := range map[string]string{
		"+15550100002":              "+1••••••0002",
		"+442071838750":             "+4•••••••8750",
		"5551234":                   "•••••34",
		"1234":                      "••34",
		"sip:alice@pbx.example.com": "sip:a•••@pbx.example.com",
		"client:alice":              "client:a•••",
		"anonymous":                 "anonymous",
		"":                          "",
	} {
		assert.Equal(t, want, operator.MaskNumber(in), in)
	}
}

// Today's counters start again at midnight (the server's local day).
func TestCountersStartAgainEachDay(t *testing.T) {
	p := newPage(t, operator.ModelOptions{})
	p.callerQueued()
	p.event(taskrouter.EventTaskCanceled, func(e *taskrouter.Event) { e.Reason = "hangup" })
	assert.Equal(t, 1, p.m.Snapshot().Counters.Abandoned)
	assert.Equal(t, "2026-03-02", p.m.Snapshot().Counters.Day)
	p.clock.advance(15 * time.Hour)
	c := p.m.Snapshot().Counters
	assert.Equal(t, "2026-03-03", c.Day)
	assert.Equal(t, 0, c.Abandoned)
}

// Live rows are bounded: past MaxRows the oldest caller gives way; ended legs and outcomes
// keep the last Recent.
func TestRowsAreBounded(t *testing.T) {
	p := newPage(t, operator.ModelOptions{MaxRows: 3, Recent: 2})
	for i := range 5 {
		p.clock.advance(time.Second)
		p.m.Observe(taskrouter.Event{Type: taskrouter.EventTaskCreated, TaskSID: taskSID(i)})
	}
	var keys []string
	for _, c := range p.m.Snapshot().Calls {
		keys = append(keys, c.Key)
	}
	assert.Equal(t, []string{taskSID(2), taskSID(3), taskSID(4)}, keys, "the oldest callers give way")
	for i := range 5 {
		p.m.Observe(taskrouter.Event{Type: taskrouter.EventTaskCanceled, TaskSID: taskSID(i), Reason: "hangup"})
	}
	snap := p.m.Snapshot()
	assert.Len(t, snap.Recent, 2)
	assert.Equal(t, taskSID(4), snap.Recent[0].Key, "newest first")
	assert.Equal(t, 5, snap.Counters.Abandoned, "counted even when the row had given way")
}

// Under a flood of made-up agents (a load test), agents are bounded too: the least recently
// seen without a live leg gives way.
func TestAgentsAreBounded(t *testing.T) {
	p := newPage(t, operator.ModelOptions{MaxRows: 3, MaxAgents: 5})
	for i := range 20 {
		p.clock.advance(time.Second)
		sid := fmt.Sprintf("WR%032d", i)
		p.m.Transition(taskrouter.Reservation{}, taskrouter.Reservation{SID: sid, TaskSID: taskSID(i % 10), WorkerSID: fmt.Sprintf("WK%032d", i),
			WorkerName: fmt.Sprintf("agent-%d", i), State: taskrouter.StateRinging})
	}
	snap := p.m.Snapshot()
	assert.Len(t, snap.Legs, 3)
	assert.Len(t, snap.Agents, 5)
	for _, l := range snap.Legs {
		assert.Contains(t, fmt.Sprint(snap.Agents), l.Agent, "an agent with a live leg on the page stays")
	}
}

func taskSID(i int) string { return "WT0000000000000000000000000000010" + string(rune('0'+i)) }

// TestAConfirmingLegShowsTheWhisper: with AGENT_CONFIRM_KEY the leg AMD let through waits for
// the agent's key; the page says so, and neither that step nor the dequeue after it is taken
// for a report from the past.
func TestAConfirmingLegShowsTheWhisper(t *testing.T) {
	p := newPage(t, operator.ModelOptions{})
	p.callerQueued()
	p.leg(resA, ringing(taskrouter.CallInProgress))
	p.clock.advance(2 * time.Second)
	p.leg(resA, func(r *taskrouter.Reservation) {
		r.State, r.CallSID, r.CallStatus, r.AnsweredBy = taskrouter.StateConfirming, "CA"+r.SID[2:], taskrouter.CallInProgress, taskrouter.AnsweredHuman
	})
	l := p.legRow(resA)
	assert.Equal(t, "confirm", l.Status)
	assert.Equal(t, "answered: whisper, waiting for the agent's key", l.Label)
	c, ok := p.call()
	require.True(t, ok)
	assert.Equal(t, "Carol answered: hearing the whisper, asked to press the key", c.Label)

	p.clock.advance(2 * time.Second)
	p.leg(resA, func(r *taskrouter.Reservation) {
		r.State, r.CallSID, r.CallStatus, r.AnsweredBy = taskrouter.StateBridging, "CA"+r.SID[2:], taskrouter.CallInProgress, taskrouter.AnsweredHuman
	})
	assert.Equal(t, "human", p.legRow(resA).Status, "the key pressed: connecting")
	p.leg(resA, func(r *taskrouter.Reservation) {
		r.State, r.CallSID, r.CallStatus, r.AnsweredBy = taskrouter.StateConfirming, "CA"+r.SID[2:], taskrouter.CallInProgress, taskrouter.AnsweredHuman
	})
	assert.Equal(t, "human", p.legRow(resA).Status, "a late report of the whisper does not move the leg back")
}
