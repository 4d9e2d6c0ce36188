package operator

import (
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"queuebridge/taskrouter"
)

// Bounds of the model: a page is for people, and memory must not grow with traffic.
const (
	// DefaultRecent is how many outcomes (and ended legs) the page keeps.
	DefaultRecent = 20
	// DefaultMaxRows bounds the live calls and legs kept; past it the oldest are dropped (a
	// task whose end was never reported, say).
	DefaultMaxRows = 100
	// DefaultMaxAgents bounds the agents kept.
	DefaultMaxAgents = 200
	// DefaultPatchRate is how many patches a second the pages are sent one by one (with a
	// burst of twice as many); past it the model coalesces: changes are held and every page is
	// sent one snapshot every CoalesceEvery instead, encoded once for all. A page for people
	// needs no more, and the bridge's webhooks then pay for no page at all.
	DefaultPatchRate     = 10
	DefaultCoalesceEvery = 2 * time.Second
	// DefaultMaxStreams bounds the pages open at once.
	DefaultMaxStreams = 256
	// spreadGroup pages get a coalesced snapshot at once, a group every spreadEvery (stream.go).
	spreadGroup = 16
	spreadEvery = 20 * time.Millisecond
	// streamBuffer is how many patches a page may lag behind before it is resynchronised.
	streamBuffer = 256
	// finishedMemory is how many ended tasks are remembered, so that a late or repeated event
	// about one does not bring its caller back.
	finishedMemory = 4096
)

// ModelOptions tune a Model. Zero values take the defaults.
type ModelOptions struct {
	// Now is the clock (time.Now by default).
	Now func() time.Time
	// Location decides when "today" starts for the counters (time.Local by default).
	Location *time.Location
	// ShowNumbers shows phone numbers whole; by default they are masked (MaskNumber).
	ShowNumbers bool
	Recent      int
	MaxRows     int
	MaxAgents   int
	MaxStreams  int
	// PatchRate and CoalesceEvery: see DefaultPatchRate.
	PatchRate     float64
	CoalesceEvery time.Duration
}

// Model is the page's state, fed by the bridge's transitions (Transition) and TaskRouter's
// events (Observe), and the open pages it streams to. It is safe for concurrent use; no method
// blocks on a page.
type Model struct {
	opts ModelOptions
	mask func(string) string

	mu     sync.Mutex
	calls  map[string]*call  // task SID → a caller waiting or talking
	legs   map[string]*leg   // reservation SID → a live or recently ended leg
	ended  []string          // ended legs, oldest first (at most Recent)
	agents map[string]*agent // worker SID → agent
	recent []OutcomeRow      // newest first (at most Recent)
	// voicemails and recordings: newest first (at most Recent each).
	voicemails []VoicemailRow
	recordings []RecordingRow
	finished   map[string]bool // tasks over
	order      []string        // finished, oldest first
	counters   Counters
	subs       map[*stream]struct{}
	closed     bool
	// The patch budget (a token bucket) and the coalescing past it (stream.go).
	tokens     float64
	refilled   time.Time
	coalescing bool
	suppressed int // changes held since the last coalesced snapshot was copied
	flushes    *time.Timer
}

type call struct {
	task, from, queue string
	since             time.Time
	leg               string // the reservation of the agent being tried, if any
	bridged           bool
	bridgedAt         time.Time
	agent             string // the agent bridged to
	tries             []string
	legs              []string // its reservations on the page
}

type leg struct {
	r       taskrouter.Reservation
	from    string // the caller's number, once known
	started time.Time
	since   time.Time
	status  string
}

type agent struct {
	sid, name, activity string
	since               time.Time
	seen                time.Time // last named by an event: the least recently seen gives way first
	leg                 string
	missed              *int
}

// NewModel returns an empty model.
func NewModel(o ModelOptions) *Model {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Recent <= 0 {
		o.Recent = DefaultRecent
	}
	if o.MaxRows <= 0 {
		o.MaxRows = DefaultMaxRows
	}
	if o.MaxAgents <= 0 {
		o.MaxAgents = DefaultMaxAgents
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = DefaultMaxStreams
	}
	if o.PatchRate <= 0 {
		o.PatchRate = DefaultPatchRate
	}
	if o.CoalesceEvery <= 0 {
		o.CoalesceEvery = DefaultCoalesceEvery
	}
	m := &Model{opts: o, mask: MaskNumber,
		calls: map[string]*call{}, legs: map[string]*leg{}, agents: map[string]*agent{},
		finished: map[string]bool{}, subs: map[*stream]struct{}{}}
	if o.ShowNumbers {
		m.mask = func(s string) string { return s }
	}
	m.counters = newCounters(m.day(o.Now()))
	m.tokens, m.refilled = 2*o.PatchRate, time.Now()
	return m
}

func (m *Model) day(t time.Time) string { return t.In(m.opts.Location).Format(time.DateOnly) }

// verdictOrder is the order the counters list AMD verdicts in.
var verdictOrder = []taskrouter.AnsweredBy{taskrouter.AnsweredHuman, taskrouter.AnsweredMachineStart,
	taskrouter.AnsweredMachineEndBeep, taskrouter.AnsweredMachineEndSilence, taskrouter.AnsweredMachineEndOther,
	taskrouter.AnsweredFax, taskrouter.AnsweredUnknown}

func newCounters(day string) Counters {
	c := Counters{Day: day}
	for _, v := range verdictOrder {
		c.Verdicts = append(c.Verdicts, VerdictCount{Verdict: string(v)})
	}
	return c
}

// change starts a patch under the lock: it rolls the counters over at midnight.
func (m *Model) change() (*Patch, time.Time) {
	now := m.opts.Now()
	p := &Patch{Now: now.UnixMilli()}
	if d := m.day(now); d != m.counters.Day {
		m.counters = newCounters(d)
		m.touchCounters(p)
	}
	return p, now
}

func (m *Model) touchCounters(p *Patch) {
	c := m.counters
	c.Verdicts = append([]VerdictCount(nil), c.Verdicts...)
	p.Counters = &c
}

// Transition applies one committed change of a reservation: it is taskrouter.Hooks.Transition.
// Changes of one reservation may arrive out of order; one that would move it backwards is
// ignored.
func (m *Model) Transition(_, after taskrouter.Reservation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, now := m.change()
	m.applyLeg(p, now, after)
	m.publish(p)
}

// progress orders a reservation's states so that a late report never moves a leg backwards. A
// reject lands below accepted: TaskRouter may report the bridge after a status callback
// rejected the reservation.
func progress(r taskrouter.Reservation) int {
	rank := map[taskrouter.State]int{
		taskrouter.StatePending: 1, taskrouter.StateDialing: 1, taskrouter.StateRinging: 2, taskrouter.StateConfirming: 3,
		taskrouter.StateBridging: 4, taskrouter.StateRejected: 5, taskrouter.StateCanceled: 5,
		taskrouter.StateAccepted: 6, taskrouter.StateWrapping: 7, taskrouter.StateCompleted: 8,
	}[r.State] * 100
	switch {
	case r.CallStatus.Final():
		rank += 40
	case r.CallStatus == taskrouter.CallInProgress:
		rank += 30
	case r.CallStatus == taskrouter.CallRinging:
		rank += 20
	case r.CallStatus != "":
		rank += 10
	}
	if r.AnsweredBy != "" {
		rank++
	}
	return rank
}

// live reports whether the leg is still with its caller: ringing, answered, or bridged.
func live(r taskrouter.Reservation) bool {
	return r.State.Open() || r.State == taskrouter.StateAccepted
}

func (m *Model) applyLeg(p *Patch, now time.Time, r taskrouter.Reservation) {
	l := m.legs[r.SID]
	if l != nil && progress(r) < progress(l.r) {
		return // a report older than what is shown
	}
	if l == nil {
		if !live(r) && m.finished[r.TaskSID] {
			return // the end of a leg of a call already over, first seen now: nothing to show
		}
		l = &leg{started: now, since: now}
		m.legs[r.SID] = l
		m.evictLegs(p)
	}
	prev := l.r
	l.r = r
	if status, _ := legStatus(r); status != l.status {
		l.status, l.since = status, now
	}
	if r.AnsweredBy != "" && prev.AnsweredBy == "" {
		m.countVerdict(p, r.AnsweredBy)
	}
	wasLive := prev.SID == "" || live(prev)
	if wasLive && !live(r) {
		m.ended = append(m.ended, r.SID)
		m.trimEnded(p)
	}
	m.applyAgentLeg(p, now, r)
	m.applyCall(p, now, r, wasLive)
	if c := m.calls[r.TaskSID]; c != nil && c.from != "" {
		l.from = c.from
	}
	if m.legs[r.SID] != nil {
		p.Legs = append(p.Legs, m.legRow(l))
	}
}

func (m *Model) countVerdict(p *Patch, v taskrouter.AnsweredBy) {
	for i := range m.counters.Verdicts {
		if m.counters.Verdicts[i].Verdict == string(v) {
			m.counters.Verdicts[i].Count++
			m.touchCounters(p)
		}
	}
}

// evictLegs drops the oldest live legs past MaxRows.
func (m *Model) evictLegs(p *Patch) {
	if len(m.legs)-len(m.ended) <= m.opts.MaxRows {
		return
	}
	var oldest *leg
	for _, l := range m.legs {
		if live(l.r) && (oldest == nil || l.started.Before(oldest.started)) {
			oldest = l
		}
	}
	if oldest != nil {
		delete(m.legs, oldest.r.SID)
		p.LegsGone = append(p.LegsGone, oldest.r.SID)
		if a := m.agents[oldest.r.WorkerSID]; a != nil && a.leg == oldest.r.SID {
			a.leg = ""
		}
	}
}

func (m *Model) trimEnded(p *Patch) {
	for len(m.ended) > m.opts.Recent {
		sid := m.ended[0]
		m.ended = m.ended[1:]
		delete(m.legs, sid)
		p.LegsGone = append(p.LegsGone, sid)
	}
}

func (m *Model) applyAgentLeg(p *Patch, now time.Time, r taskrouter.Reservation) {
	if r.WorkerSID == "" {
		return
	}
	a := m.agentFor(r.WorkerSID, r.WorkerName)
	switch {
	case live(r):
		a.leg = r.SID
	case a.leg == r.SID:
		a.leg = ""
	}
	p.Agents = append(p.Agents, m.agentRow(a))
}

func (m *Model) agentFor(sid, name string) *agent {
	a := m.agents[sid]
	if a == nil {
		a = &agent{sid: sid}
		m.agents[sid] = a
		m.evictAgents(a)
	}
	if name != "" {
		a.name = name
	}
	a.seen = m.opts.Now()
	return a
}

// evictAgents drops the agent seen least recently, without a live leg, past MaxAgents (a
// workspace with more workers than a page can show, or a load test's made-up ones). The page
// learns it at its next snapshot.
func (m *Model) evictAgents(keep *agent) {
	if len(m.agents) <= m.opts.MaxAgents {
		return
	}
	var oldest *agent
	for _, a := range m.agents {
		if a != keep && m.legs[a.leg] == nil && (oldest == nil || a.seen.Before(oldest.seen)) {
			oldest = a
		}
	}
	if oldest != nil {
		delete(m.agents, oldest.sid)
	}
}

// applyCall moves the caller's row with the leg: the agent being tried, the bridge, the end of
// a bridged call, or back to waiting when the leg ended without one.
func (m *Model) applyCall(p *Patch, now time.Time, r taskrouter.Reservation, wasLive bool) {
	c := m.calls[r.TaskSID]
	if c == nil {
		if !live(r) || m.finished[r.TaskSID] || r.TaskSID == "" {
			return
		}
		c = m.newCall(p, r.TaskSID, now)
	}
	switch {
	case live(r):
		c.leg = r.SID
		if !slices.Contains(c.legs, r.SID) {
			c.legs = append(c.legs, r.SID)
		}
		if r.State == taskrouter.StateAccepted && !c.bridged {
			c.bridged, c.bridgedAt, c.agent = true, now, r.WorkerName
			m.counters.Bridged++
			m.touchCounters(p)
		}
	case r.State == taskrouter.StateWrapping || r.State == taskrouter.StateCompleted:
		// The bridged call is over: the caller is no longer waiting nor talking.
		if !c.bridged {
			c.bridged, c.bridgedAt, c.agent = true, now, r.WorkerName
			m.counters.Bridged++
			m.touchCounters(p)
		}
		m.finish(p, now, c, "bridged", "bridged to "+agentName(r))
		return
	default:
		if wasLive {
			c.tries = append(c.tries, agentName(r)+": "+r.Outcome.String())
		}
		if c.leg == r.SID {
			c.leg = ""
		}
	}
	p.Calls = append(p.Calls, m.callRow(c))
}

func agentName(r taskrouter.Reservation) string {
	if r.WorkerName != "" {
		return r.WorkerName
	}
	return "an agent"
}

func (m *Model) newCall(p *Patch, task string, now time.Time) *call {
	c := &call{task: task, since: now}
	m.calls[task] = c
	if len(m.calls) > m.opts.MaxRows {
		var oldest *call
		for _, x := range m.calls {
			if oldest == nil || x.since.Before(oldest.since) {
				oldest = x
			}
		}
		delete(m.calls, oldest.task)
		p.CallsGone = append(p.CallsGone, oldest.task)
	}
	return c
}

// finish ends a caller's row: it becomes an outcome, and late events about its task are ignored.
func (m *Model) finish(p *Patch, now time.Time, c *call, result, label string) {
	delete(m.calls, c.task)
	m.remember(c.task)
	p.CallsGone = append(p.CallsGone, c.task)
	waitedUntil := now
	if c.bridged {
		waitedUntil = c.bridgedAt
	}
	o := OutcomeRow{Key: c.task, At: now.UnixMilli(), Caller: m.mask(c.from), Queue: c.queue, Result: result,
		Label: label, Waited: waitedUntil.Sub(c.since).Milliseconds(), Tries: append([]string(nil), c.tries...)}
	m.recent = append([]OutcomeRow{o}, m.recent...)
	if len(m.recent) > m.opts.Recent {
		m.recent = m.recent[:m.opts.Recent]
	}
	p.Outcomes = append(p.Outcomes, o)
}

func (m *Model) remember(task string) {
	if m.finished[task] {
		return
	}
	m.finished[task] = true
	m.order = append(m.order, task)
	if len(m.order) > finishedMemory {
		delete(m.finished, m.order[0])
		m.order = m.order[1:]
	}
}

// Observe applies a TaskRouter event the bridge received (after the bridge handled it): a
// caller entering the queue and which queue, agents' activities, and tasks ending. Events the
// page does not show are ignored; repeats change nothing.
func (m *Model) Observe(e taskrouter.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, now := m.change()
	if e.WorkerSID != "" && (e.WorkerName != "" || e.WorkerActivityName != "") {
		m.observeWorker(p, now, e)
	}
	switch e.Type {
	case taskrouter.EventTaskCreated, taskrouter.EventTaskQueueEntered, taskrouter.EventReservationCreated:
		m.observeTask(p, now, e)
	case taskrouter.EventTaskCanceled:
		m.taskEnded(p, now, e.TaskSID, canceledResult(e.Reason))
	case taskrouter.EventTaskCompleted:
		m.taskEnded(p, now, e.TaskSID, "ended")
	}
	m.publish(p)
}

// canceledResult says what a canceled task means for its caller: a hang-up abandons the call;
// any other end of the queue (the workflow's or the task's time-out, the caller pressing a key)
// sends the caller to the IVR's voicemail.
func canceledResult(reason string) string {
	if strings.Contains(strings.ToLower(reason), "hangup") || strings.Contains(strings.ToLower(reason), "hung up") {
		return "abandoned"
	}
	return "voicemail"
}

func (m *Model) observeWorker(p *Patch, now time.Time, e taskrouter.Event) {
	a := m.agentFor(e.WorkerSID, e.WorkerName)
	if e.WorkerActivityName != "" && e.WorkerActivityName != a.activity {
		a.activity, a.since = e.WorkerActivityName, now
	}
	p.Agents = append(p.Agents, m.agentRow(a))
}

func (m *Model) observeTask(p *Patch, now time.Time, e taskrouter.Event) {
	if e.TaskSID == "" || m.finished[e.TaskSID] {
		return
	}
	c := m.calls[e.TaskSID]
	if c == nil {
		c = m.newCall(p, e.TaskSID, now)
	}
	if from, _ := e.TaskAttributes["from"].(string); from != "" && from != c.from {
		c.from = from
		for _, sid := range c.legs { // legs placed before the caller's number was known
			if l := m.legs[sid]; l != nil {
				l.from = from
				p.Legs = append(p.Legs, m.legRow(l))
			}
		}
	}
	if e.TaskQueueName != "" {
		c.queue = e.TaskQueueName
	}
	p.Calls = append(p.Calls, m.callRow(c))
}

func (m *Model) taskEnded(p *Patch, now time.Time, task, result string) {
	if task == "" || m.finished[task] {
		return
	}
	c := m.calls[task]
	if c == nil {
		c = &call{task: task, since: now} // never seen waiting (the page started later): counted all the same
	}
	label := "ended"
	switch {
	case c.bridged:
		result, label = "bridged", "bridged to "+c.agent
	case result == "abandoned":
		m.counters.Abandoned++
		m.touchCounters(p)
		label = "abandoned: the caller hung up"
	case result == "voicemail":
		m.counters.Voicemail++
		m.touchCounters(p)
		label = "to voicemail: no agent took the call"
	}
	m.finish(p, now, c, result, label)
}

// SetMissedCalls feeds an agent's missed-call count; until it is called the page shows "—".
func (m *Model) SetMissedCalls(workerSID string, missed int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, _ := m.change()
	a := m.agentFor(workerSID, "")
	a.missed = &missed
	p.Agents = append(p.Agents, m.agentRow(a))
	m.publish(p)
}

// Agent is a worker known before any event names it (the workspace's workers at start-up).
type Agent struct {
	SID, Name, Activity string
}

// SeedAgents adds agents the page has not heard of; those it knows are left as they are.
func (m *Model) SeedAgents(list []Agent) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, now := m.change()
	for _, x := range list {
		if m.agents[x.SID] != nil || x.SID == "" {
			continue
		}
		a := m.agentFor(x.SID, x.Name)
		a.activity, a.since = x.Activity, now
		p.Agents = append(p.Agents, m.agentRow(a))
	}
	m.publish(p)
}

// Snapshot returns the whole page as it stands.
func (m *Model) Snapshot() Snapshot {
	m.mu.Lock()
	s := m.snapshotLocked()
	m.mu.Unlock()
	s.sort()
	return s
}

// snapshotLocked copies the rows; sorting and encoding them happen after the lock is released,
// so a page that opens (or catches up) holds the webhooks up as little as possible.
func (m *Model) snapshotLocked() Snapshot {
	p, _ := m.change()
	m.publish(p) // the counters rolled over at midnight: the other pages learn it too
	s := Snapshot{Now: p.Now, Calls: make([]CallRow, 0, len(m.calls)), Legs: make([]LegRow, 0, len(m.legs)),
		Agents: make([]AgentRow, 0, len(m.agents)), Recent: append([]OutcomeRow{}, m.recent...), Counters: m.counters,
		Voicemails: append([]VoicemailRow{}, m.voicemails...), Recordings: append([]RecordingRow{}, m.recordings...),
		RecentMax: m.opts.Recent}
	s.Counters.Verdicts = append([]VerdictCount(nil), m.counters.Verdicts...)
	for _, c := range m.calls {
		s.Calls = append(s.Calls, m.callRow(c))
	}
	for _, l := range m.legs {
		s.Legs = append(s.Legs, m.legRow(l))
	}
	for _, a := range m.agents {
		s.Agents = append(s.Agents, m.agentRow(a))
	}
	return s
}

func (s *Snapshot) sort() {
	sort.Slice(s.Calls, func(i, j int) bool { return s.Calls[i].Since < s.Calls[j].Since })
	sort.Slice(s.Legs, func(i, j int) bool { return s.Legs[i].Started < s.Legs[j].Started })
	sort.Slice(s.Agents, func(i, j int) bool { return s.Agents[i].Name < s.Agents[j].Name })
}
