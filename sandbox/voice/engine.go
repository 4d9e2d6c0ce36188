package voice

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"net/http"
	"sync"
	"time"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/twilioapi"
)

// Config is what the engine needs from the sandbox.
type Config struct {
	Clock       clock.Clock
	Credentials twilioapi.Credentials
	Webhooks    *twilioapi.Webhooks
	Recorder    *twilioapi.Recorder
	Logger      *slog.Logger
	TaskRouter  twilioapi.TaskRouter
}

// Engine is the Voice engine.
type Engine struct {
	clock  clock.Clock
	manual bool
	creds  twilioapi.Credentials
	hooks  *twilioapi.Webhooks
	rec    *twilioapi.Recorder
	log    *slog.Logger
	act    *activity

	mu       sync.Mutex
	tr       twilioapi.TaskRouter
	personas map[string]Persona
	numbers  []*number
	// callerIDs are the verified outgoing caller IDs: with numbers, the only allowed From of
	// API-created calls.
	callerIDs []*callerID
	// cancelInProgress refuses Status=canceled on an in-progress call with 21220 instead of
	// Twilio's documented no-op (SetCancelInProgress).
	cancelInProgress bool
	// waitGatherRedirect: a <Gather> action in the waitUrl takes the caller out of the queue
	// (SetWaitGatherAction).
	waitGatherRedirect bool
	faults             WebhookFaults
	faultRand          *rand.Rand
	calls              map[string]*call
	order              []*call // creation order
	queues             []*queue
	// Outbound pacing: Twilio dials an account's API calls at 1 per second by default and
	// queues the rest; nextDial is when the next one may start.
	cpsInterval time.Duration
	nextDial    time.Time
}

var _ twilioapi.QueueListener = (*Engine)(nil)

// New builds an engine. Missing Webhooks, Recorder or Logger get working defaults.
func New(cfg Config) *Engine {
	e := &Engine{
		clock: cfg.Clock, creds: cfg.Credentials, hooks: cfg.Webhooks, rec: cfg.Recorder,
		log: cfg.Logger, tr: cfg.TaskRouter, act: newActivity(),
		personas: map[string]Persona{}, calls: map[string]*call{}, cpsInterval: time.Second,
	}
	if e.clock == nil {
		e.clock = clock.Real{}
	}
	_, e.manual = e.clock.(*clock.Manual)
	if e.rec == nil {
		e.rec = &twilioapi.Recorder{}
	}
	if e.hooks == nil {
		e.hooks = &twilioapi.Webhooks{AuthToken: cfg.Credentials.AuthToken, Recorder: e.rec, Now: e.clock.Now}
	}
	if e.log == nil {
		e.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return e
}

// SetTaskRouter wires TaskRouter after construction (the two engines refer to each other).
func (e *Engine) SetTaskRouter(tr twilioapi.TaskRouter) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.tr = tr
}

func (e *Engine) taskRouter() twilioapi.TaskRouter {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.tr
}

// SetCallsPerSecond sets the account's outbound rate (Twilio's default: 1). Calls created
// faster stay queued until their turn; 0 dials every call at once.
func (e *Engine) SetCallsPerSecond(cps float64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cpsInterval = 0
	if cps > 0 {
		e.cpsInterval = time.Duration(float64(time.Second) / cps)
	}
}

// SetCancelInProgress chooses what Status=canceled does to an in-progress call. Twilio
// documents that it "will not affect calls already in progress" but not the HTTP answer; the
// default (false) answers 200 with the call unchanged. refuse=true answers 400 / 21220
// instead, so an application can be tested against both.
func (e *Engine) SetCancelInProgress(refuse bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cancelInProgress = refuse
}

// dialSlotLocked reserves the next outbound dialing slot and returns how long to wait for it.
func (e *Engine) dialSlotLocked() time.Duration {
	now := e.clock.Now()
	if e.cpsInterval == 0 {
		return 0
	}
	at := now
	if e.nextDial.After(at) {
		at = e.nextDial
	}
	e.nextDial = at.Add(e.cpsInterval)
	return at.Sub(now)
}

// SetPersona scripts the far end of number (E.164). Numbers without one get DefaultPersona.
func (e *Engine) SetPersona(number string, p Persona) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.personas[number] = p
}

func (e *Engine) personaLocked(number string) Persona {
	if p, ok := e.personas[number]; ok {
		return p
	}
	return DefaultPersona()
}

// number is one of the sandbox's own phone numbers (an IncomingPhoneNumber).
type number struct {
	sid, phone, friendlyName            string
	voiceURL, voiceMethod               string
	voiceFallbackURL, voiceFallbackMeth string
	statusCallback, statusCallbackMeth  string
	created, updated                    time.Time
}

// SeedNumber adds one of the sandbox's own phone numbers and returns its SID (PN…). Seeding a
// number twice returns the existing SID.
func (e *Engine) SeedNumber(e164, friendlyName string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, n := range e.numbers {
		if n.phone == e164 {
			return n.sid
		}
	}
	now := e.clock.Now()
	if friendlyName == "" {
		friendlyName = e164
	}
	n := &number{sid: twilioapi.NewSID("PN"), phone: e164, friendlyName: friendlyName,
		voiceMethod: "POST", voiceFallbackMeth: "POST", statusCallbackMeth: "POST", created: now, updated: now}
	e.numbers = append(e.numbers, n)
	return n.sid
}

// SetVoiceURL points one of the sandbox's numbers at an application (what the REST API's
// IncomingPhoneNumber update does). It reports whether the number exists.
func (e *Engine) SetVoiceURL(e164, voiceURL, method string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.numberByPhoneLocked(e164)
	if n == nil {
		return false
	}
	n.voiceURL, n.voiceMethod, n.updated = voiceURL, upperOr(method, "POST"), e.clock.Now()
	return true
}

func (e *Engine) numberByPhoneLocked(phone string) *number {
	for _, n := range e.numbers {
		if n.phone == phone {
			return n
		}
	}
	return nil
}

// queue is a named call queue (<Enqueue>name</Enqueue>), visible read-only as a Queue resource.
type queue struct {
	sid, name        string
	created, updated time.Time
	members          []*call
	totalWait        time.Duration
	served           int
	hidden           bool // a workflow's queue: not listed under Queues
}

// avgWaitSeconds is the queue's average wait so far, in whole seconds.
func (q *queue) avgWaitSeconds() int {
	if q.served == 0 {
		return 0
	}
	return int(q.totalWait / time.Duration(q.served) / time.Second)
}

func (e *Engine) queueByNameLocked(name string) *queue {
	for _, q := range e.queues {
		if q.name == name {
			return q
		}
	}
	now := e.clock.Now()
	q := &queue{sid: twilioapi.NewSID("QU"), name: name, created: now, updated: now}
	e.queues = append(e.queues, q)
	return q
}

// Settle waits until no call is doing work: every call waits on the clock or on another party,
// and every webhook has been answered. With a clock.Manual, Advance already settles after
// each timer; tests call Settle after a REST request or PlaceInboundCall.
func (e *Engine) Settle(ctx context.Context) error { return e.act.wait(ctx) }

// Activity reports the work in progress (queued call events, running call goroutines,
// webhooks in flight) and how much work has started since the engine was built. A driver that
// reads the same started count before and after looking elsewhere knows no work began here in
// between.
func (e *Engine) Activity() (inProgress int, started uint64) {
	e.act.mu.Lock()
	defer e.act.mu.Unlock()
	return e.act.n, e.act.started
}

// TaskCanceled implements twilioapi.QueueListener: the caller leaves the queue and its
// <Enqueue action> runs with QueueResult=leave.
func (e *Engine) TaskCanceled(_ context.Context, taskSid, callSid, reason string) {
	e.mu.Lock()
	c := e.calls[callSid]
	e.mu.Unlock()
	if c == nil {
		return
	}
	c.mb.push(event{kind: evTaskCanceled, taskSid: taskSid, reason: reason})
}

// record appends an entry to the call's timeline.
func (e *Engine) record(sid, what string, detail map[string]string) {
	e.rec.Record(twilioapi.Entry{Time: e.clock.Now(), Sid: sid, Kind: "call", What: what, Detail: detail})
}

// CallInfo is a call as tests and the demo see it.
type CallInfo struct {
	Sid           string `json:"sid"`
	ParentCallSid string `json:"parent_call_sid,omitempty"`
	From          string `json:"from"`
	To            string `json:"to"`
	Direction     string `json:"direction"`
	Status        string `json:"status"`
	AnsweredBy    string `json:"answered_by,omitempty"`
	// MachineDetectionDuration is how long AMD took (JSON: nanoseconds).
	MachineDetectionDuration time.Duration     `json:"machine_detection_duration,omitempty"`
	BridgedWith              string            `json:"bridged_with,omitempty"`
	TaskSid                  string            `json:"task_sid,omitempty"`
	QueueResult              string            `json:"queue_result,omitempty"`
	SipResponseCode          int               `json:"sip_response_code,omitempty"`
	StartTime                time.Time         `json:"start_time"`
	EndTime                  time.Time         `json:"end_time"`
	Duration                 time.Duration     `json:"duration"` // billed: answer to end, whole seconds
	Timeline                 []twilioapi.Entry `json:"timeline,omitempty"`
}

// Call returns a call by SID with its timeline.
func (e *Engine) Call(sid string) (CallInfo, bool) {
	e.mu.Lock()
	c := e.calls[sid]
	var info CallInfo
	if c != nil {
		info = c.infoLocked()
	}
	e.mu.Unlock()
	if c == nil {
		return CallInfo{}, false
	}
	info.Timeline = e.rec.Entries(sid)
	return info, true
}

// Calls lists every call, oldest first, without timelines.
func (e *Engine) Calls() []CallInfo {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]CallInfo, 0, len(e.order))
	for _, c := range e.order {
		out = append(out, c.infoLocked())
	}
	return out
}

// HangUpAll ends every call still going, as the API's Status=completed would, and waits for
// the engine to settle. For shutting a sandbox down.
func (e *Engine) HangUpAll(ctx context.Context) error {
	e.mu.Lock()
	var live []*call
	for _, c := range e.order {
		switch c.status {
		case "queued", "ringing":
			c.setStatusLocked("canceled")
		case "in-progress":
			c.setStatusLocked("completed")
		default:
			continue
		}
		live = append(live, c)
	}
	e.mu.Unlock()
	for _, c := range live {
		c.mb.push(event{kind: evHangup})
	}
	return e.Settle(ctx)
}

// PlaceInboundCall makes the persona of from dial to, one of the seeded numbers: the number's
// VoiceUrl is fetched (signed, with CallStatus=ringing and Direction=inbound) and its TwiML
// runs. It returns at once with the call's SID.
func (e *Engine) PlaceInboundCall(_ context.Context, from, to string) (string, error) {
	e.mu.Lock()
	n := e.numberByPhoneLocked(to)
	if n == nil {
		e.mu.Unlock()
		return "", fmt.Errorf("place inbound call to %s: %w", to, twilioapi.Errorf(http.StatusNotFound, 21211, "The number %s is not one of the sandbox's phone numbers", to))
	}
	c := e.newCallLocked(from, to, "inbound", e.personaLocked(from))
	c.phoneNumberSid = n.sid
	c.opts.url, c.opts.method = n.voiceURL, n.voiceMethod
	c.opts.fallbackURL, c.opts.fallbackMethod = n.voiceFallbackURL, n.voiceFallbackMeth
	c.opts.statusCallback, c.opts.statusCallbackMethod = n.statusCallback, n.statusCallbackMeth
	c.opts.events = map[string]bool{"completed": true}
	e.mu.Unlock()
	e.start(c, c.runInbound)
	return c.sid, nil
}

func (e *Engine) newCallLocked(from, to, direction string, p Persona) *call {
	now := e.clock.Now()
	c := &call{e: e, sid: twilioapi.NewSID("CA"), from: from, to: to, direction: direction,
		persona: p, status: "queued", created: now, updated: now}
	c.mb = newMailbox(e.act)
	c.cb = &serial{act: e.act}
	e.calls[c.sid] = c
	e.order = append(e.order, c)
	return c
}

// start runs a call's goroutine; the goroutine starts holding one unit of activity.
func (e *Engine) start(c *call, run func()) {
	c.mb.hold()
	go func() {
		defer c.mb.close()
		run()
	}()
}

// after schedules f on the engine's clock. Under a clock.Manual it waits, inside the timer,
// for the engine to settle, so Advance returns with the consequences applied.
func (e *Engine) after(d time.Duration, f func()) clock.Timer {
	return e.clock.AfterFunc(d, func() {
		f()
		if e.manual {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := e.act.wait(ctx); err != nil {
				e.log.Warn("voice engine did not settle after a timer", "err", err)
			}
		}
	})
}

// activity counts work in progress: queued events, running call goroutines, webhooks in flight.
type activity struct {
	mu      sync.Mutex
	n       int
	started uint64        // units of work ever added: a change means work began
	idle    chan struct{} // closed while n == 0
}

func newActivity() *activity {
	ch := make(chan struct{})
	close(ch)
	return &activity{idle: ch}
}

func (a *activity) add(d int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	was := a.n
	a.n += d
	if d > 0 {
		a.started += uint64(d)
	}
	switch {
	case was == 0 && a.n > 0:
		a.idle = make(chan struct{})
	case was > 0 && a.n <= 0:
		a.n = 0
		close(a.idle)
	}
}

func (a *activity) wait(ctx context.Context) error {
	for {
		a.mu.Lock()
		if a.n == 0 {
			a.mu.Unlock()
			return nil
		}
		ch := a.idle
		a.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("voice engine busy: %w", ctx.Err())
		}
	}
}

// mailbox is a call's unbounded event queue. Pushing never blocks (timers and REST handlers
// push), and each queued event counts as activity until the call goroutine has handled it.
type mailbox struct {
	act     *activity
	mu      sync.Mutex
	q       []event
	closed  bool
	holding bool
	wake    chan struct{}
}

func newMailbox(act *activity) *mailbox {
	return &mailbox{act: act, wake: make(chan struct{}, 1)}
}

func (m *mailbox) hold() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.holding = true
	m.act.add(1)
}

func (m *mailbox) push(ev event) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.act.add(1)
	m.q = append(m.q, ev)
	select {
	case m.wake <- struct{}{}:
	default:
	}
	return true
}

// recv hands over the next event; the goroutine's previous event is then done.
func (m *mailbox) recv() event {
	m.mu.Lock()
	if m.holding {
		m.holding = false
		m.act.add(-1)
	}
	for len(m.q) == 0 {
		m.mu.Unlock()
		<-m.wake
		m.mu.Lock()
	}
	ev := m.q[0]
	m.q = m.q[1:]
	m.holding = true
	m.mu.Unlock()
	return ev
}

func (m *mailbox) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := len(m.q)
	if m.holding {
		n++
	}
	m.q, m.holding, m.closed = nil, false, true
	m.act.add(-n)
}

// serial runs functions one after the other on one goroutine (started when needed): a call's
// webhooks leave in order without blocking the call.
type serial struct {
	act     *activity
	mu      sync.Mutex
	q       []func()
	running bool
}

func (s *serial) do(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.act.add(1)
	s.q = append(s.q, f)
	if !s.running {
		s.running = true
		go s.loop()
	}
}

func (s *serial) loop() {
	for {
		s.mu.Lock()
		if len(s.q) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		f := s.q[0]
		s.q = s.q[1:]
		s.mu.Unlock()
		f()
		s.act.add(-1)
	}
}

// callsNewestFirstLocked returns the calls newest first, as Twilio lists them.
func (e *Engine) callsNewestFirstLocked() []*call {
	out := make([]*call, 0, len(e.order))
	for i := len(e.order) - 1; i >= 0; i-- {
		out = append(out, e.order[i])
	}
	return out
}
