package voice

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"time"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/twilioapi"
)

// callOpts are the parameters a call was created with (or its number's configuration).
type callOpts struct {
	url, method                          string
	fallbackURL, fallbackMethod          string
	twiml                                string
	statusCallback, statusCallbackMethod string
	events                               map[string]bool // initiated, ringing, answered, completed
	timeout                              time.Duration
	amd                                  amdParams
	sendDigits                           string
}

// call is one call leg. Its fields after the mailbox are guarded by the engine lock; the
// goroutine-only fields are touched by the call's own goroutine alone.
type call struct {
	e                         *Engine
	sid, parentSid, from, to  string
	direction, phoneNumberSid string
	persona                   Persona
	mb                        *mailbox
	cb                        *serial

	// Guarded by e.mu.
	opts                     callOpts
	status                   string
	created, updated         time.Time
	started, answered, ended time.Time
	answeredBy               string
	amdDuration              time.Duration
	amdRan                   bool
	sip                      int
	seq                      int
	bridgedWith              string
	taskSid                  string
	queueResult              string
	bridge                   *bridge
	waiting                  bool // in <Enqueue>: can be dequeued
	inQueue                  *queue
	queuedAt                 time.Time
	gathers                  int // the <Gather>s the call has heard: which of the persona's Digits is next
	queueDigitsUsed          bool
	queueTime                time.Duration // waited for an outbound dialing slot
	dialAt                   time.Time     // when that slot comes (outbound API calls)
	heldCallback             func()        // a status callback held back by WebhookFaults.Reorder

	// Goroutine-only.
	timerSeq        uint64
	hangupTimerID   uint64
	asyncAMDTimerID uint64
	background      []clock.Timer // persona hang-up, async AMD: stopped when the call ends
	asyncVerdict    string
	asyncAt         time.Duration
	queueWatch      func(event) bool // while holding in a queue: the events that end the wait
}

type evKind int

const (
	evTimer evKind = iota
	evHangup
	evCancel
	evRedirect
	evTaskCanceled
	evBridged
	evPeerLeft
)

type event struct {
	kind               evKind
	id                 uint64
	url, method, twiml string
	reason, taskSid    string
	b                  *bridge
}

// errHungUp unwinds a call goroutine whose call has ended (hung up by either side or the API).
var errHungUp = errors.New("call ended")

// redirectErr unwinds the TwiML being run because the API redirected the call.
type redirectErr struct{ req request }

func (r *redirectErr) Error() string { return "redirected to " + r.req.url }

func isTerminal(status string) bool {
	switch status {
	case "completed", "busy", "failed", "no-answer", "canceled":
		return true
	}
	return false
}

// sipCodes are the SIP response codes reported with each final status.
var sipCodes = map[string]int{"completed": 200, "busy": 486, "no-answer": 487, "canceled": 487, "failed": 500}

// callbackEvent maps a status to the StatusCallbackEvent that asks for it.
func callbackEvent(status string) string {
	switch status {
	case "initiated", "ringing":
		return status
	case "in-progress":
		return "answered"
	}
	return "completed"
}

// setStatus moves the call to status. Once the call has ended nothing moves it again, so the
// API (which ends calls itself) and the call goroutine never fight.
func (c *call) setStatus(status string) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	c.setStatusLocked(status)
}

func (c *call) setStatusLocked(status string) {
	if isTerminal(c.status) {
		return
	}
	now := c.e.clock.Now()
	switch {
	case status == "initiated":
		// The resource stays "queued" (initiated is not one of its statuses); only the callback says it.
		c.started = now
	case status == "ringing":
		if c.started.IsZero() {
			c.started = now
		}
		c.status = status
	case status == "in-progress":
		c.answered = now
		c.status = status
	case isTerminal(status):
		c.status = status
		c.ended = now
		if c.sip == 0 {
			c.sip = sipCodes[status]
		}
	}
	c.updated = now
	detail := map[string]string{}
	if c.sip != 0 && isTerminal(status) {
		detail["sip_response_code"] = strconv.Itoa(c.sip)
	}
	c.e.record(c.sid, "status: "+status, detail)
	if c.opts.statusCallback == "" || !c.opts.events[callbackEvent(status)] {
		return
	}
	params := c.paramsLocked()
	params.Set("CallStatus", status)
	params.Set("CallbackSource", "call-progress-events")
	params.Set("SequenceNumber", strconv.Itoa(c.seq))
	params.Set("Timestamp", twilioapi.RFC2822(now))
	c.seq++
	if isTerminal(status) {
		d := c.durationLocked()
		params.Set("CallDuration", strconv.Itoa(int(d/time.Second)))
		params.Set("Duration", strconv.Itoa(int(math.Ceil(d.Minutes()))))
		params.Set("SipResponseCode", strconv.Itoa(c.sip))
	}
	target, method := c.opts.statusCallback, c.opts.statusCallbackMethod
	send := func() { c.sendWebhook(HookStatus, method, target, params) }
	if !c.e.reorderLocked() {
		c.cb.do(send)
		return
	}
	// Reorder: hold each callback until the next one has left; the final one holds nothing back.
	switch held := c.heldCallback; {
	case held == nil && !isTerminal(status):
		c.heldCallback = send
	case held == nil:
		c.cb.do(send)
	default:
		c.heldCallback = nil
		c.cb.do(send)
		c.cb.do(held)
	}
}

// durationLocked is the billed duration: from answer to end.
func (c *call) durationLocked() time.Duration {
	if c.answered.IsZero() {
		return 0
	}
	end := c.ended
	if end.IsZero() {
		end = c.e.clock.Now()
	}
	return end.Sub(c.answered).Truncate(time.Second)
}

// paramsLocked are the parameters Twilio sends with every request about a call.
func (c *call) paramsLocked() url.Values {
	v := url.Values{}
	v.Set("AccountSid", c.e.creds.AccountSid)
	v.Set("CallSid", c.sid)
	v.Set("From", c.from)
	v.Set("To", c.to)
	v.Set("Caller", c.from)
	v.Set("Called", c.to)
	status := c.status
	v.Set("CallStatus", status)
	v.Set("Direction", c.direction)
	v.Set("ApiVersion", "2010-04-01")
	if c.parentSid != "" {
		v.Set("ParentCallSid", c.parentSid)
	}
	if c.amdRan && c.answeredBy != "" {
		v.Set("AnsweredBy", c.answeredBy)
	}
	return v
}

func (c *call) params() url.Values {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	return c.paramsLocked()
}

// sendWebhook delivers a signed webhook (under the WebhookFaults in force) and records it with
// its answer. It must not be called with the engine lock held.
func (c *call) sendWebhook(kind, method, target string, params url.Values) (*twilioapi.Response, error) {
	return c.sendPlanned(kind, method, target, params, c.e.plan(kind))
}

func (c *call) sendPlanned(kind, method, target string, params url.Values, p faultPlan) (*twilioapi.Response, error) {
	if method == "" {
		method = "POST"
	}
	// The URL's connection settings (Twilio's defaults: 15 s in all) bound the delivery.
	resp, err := c.deliver(twilioapi.WithSid(context.Background(), c.sid), kind, method, target, p, params)
	detail := map[string]string{"kind": kind, "url": target, "method": method}
	if errors.Is(err, errDropped) {
		c.e.record(c.sid, "webhook dropped (fault): "+kind, detail)
		return nil, fmt.Errorf("webhook %s for %s: %w", kind, c.sid, err)
	}
	if err != nil {
		detail["error"] = err.Error()
		c.e.record(c.sid, "webhook failed: "+kind, detail)
		c.e.log.Warn("webhook failed", "call", c.sid, "kind", kind, "url", target, "err", err)
		return nil, fmt.Errorf("webhook %s for %s: %w", kind, c.sid, err)
	}
	detail["status"] = strconv.Itoa(resp.Status)
	c.e.record(c.sid, "webhook: "+kind, detail)
	return resp, nil
}

// startTimer schedules an evTimer for this call after d and returns its id.
func (c *call) startTimer(d time.Duration) (uint64, clock.Timer) {
	c.timerSeq++
	id := c.timerSeq
	t := c.e.after(d, func() { c.mb.push(event{kind: evTimer, id: id}) })
	return id, t
}

// sleep lets d pass on the call, handling what happens meanwhile; it fails with errHungUp or a
// *redirectErr when the call ends or is redirected.
func (c *call) sleep(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	id, t := c.startTimer(d)
	defer t.Stop()
	for {
		ev := c.mb.recv()
		if ev.kind == evTimer && ev.id == id {
			return nil
		}
		if err := c.common(ev); err != nil {
			return err
		}
	}
}

// common handles the events any wait must honour.
func (c *call) common(ev event) error {
	if c.queueWatch != nil && c.queueWatch(ev) {
		return &queueEventErr{ev: ev}
	}
	switch ev.kind {
	case evTimer:
		switch ev.id {
		case c.hangupTimerID:
			c.e.record(c.sid, "persona hung up", map[string]string{"persona": string(c.persona.Kind)})
			c.end("completed")
			return errHungUp
		case c.asyncAMDTimerID:
			c.asyncAMDDone()
		}
	case evHangup, evCancel:
		return errHungUp
	case evRedirect:
		return &redirectErr{req: request{url: ev.url, method: ev.method, twiml: ev.twiml}}
	}
	return nil
}

// end gives the call its final status (a no-op when it already has one).
func (c *call) end(status string) { c.setStatus(status) }

func (c *call) endWithSip(status string, sip int) {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	if !isTerminal(c.status) {
		c.sip = sip
	}
	c.setStatusLocked(status)
}

func (c *call) answer() {
	c.setStatus("in-progress")
	if c.persona.HangUpAfter > 0 {
		var t clock.Timer
		c.hangupTimerID, t = c.startTimer(c.persona.HangUpAfter)
		c.background = append(c.background, t)
	}
}

func (c *call) currentStatus() string {
	c.e.mu.Lock()
	defer c.e.mu.Unlock()
	return c.status
}

// runOutbound is the life of a call created through the REST API.
func (c *call) runOutbound() {
	defer c.finish()
	c.e.mu.Lock()
	wait := c.dialAt.Sub(c.e.clock.Now())
	c.e.mu.Unlock()
	if err := c.sleep(wait); err != nil {
		c.endWithSip("canceled", 487)
		return
	}
	c.setStatus("initiated")
	p := c.persona
	switch p.Kind {
	case KindBusy:
		c.endWithSip("busy", 486)
		return
	case KindFail:
		c.endWithSip("failed", 500)
		return
	}
	c.setStatus("ringing")
	c.e.mu.Lock()
	ring := c.opts.timeout
	c.e.mu.Unlock()
	answers := p.Kind != KindNoAnswer && p.AnswerAfter < ring
	wait = ring
	if answers {
		wait = p.AnswerAfter
	}
	if err := c.sleep(wait); err != nil {
		c.endWithSip("canceled", 487)
		return
	}
	if !answers {
		c.endWithSip("no-answer", 487)
		return
	}
	c.answer()

	c.e.mu.Lock()
	opts := c.opts
	c.e.mu.Unlock()
	first := request{url: opts.url, method: opts.method, twiml: opts.twiml,
		fallbackURL: opts.fallbackURL, fallbackMethod: opts.fallbackMethod}
	switch {
	case opts.sendDigits != "":
		c.e.record(c.sid, "send digits", map[string]string{"digits": opts.sendDigits})
	case opts.amd.mode != "":
		answeredBy, at := verdict(p, opts.amd)
		if opts.amd.async {
			c.asyncVerdict, c.asyncAt = answeredBy, at
			var t clock.Timer
			c.asyncAMDTimerID, t = c.startTimer(at)
			c.background = append(c.background, t)
			break
		}
		if err := c.sleep(at); err != nil {
			var redirect *redirectErr
			if !errors.As(err, &redirect) {
				return
			}
			// Redirected through the API before AMD decided: detection is abandoned.
			c.e.record(c.sid, "amd abandoned: call redirected", nil)
			first = redirect.req
			break
		}
		c.setAMD(answeredBy, at)
		first.params = url.Values{"MachineDetectionDuration": {strconv.Itoa(int(at / time.Millisecond))}}
	}
	c.runApp(first)
}

// setAMD records AMD's verdict on the call.
func (c *call) setAMD(answeredBy string, after time.Duration) {
	c.e.mu.Lock()
	c.answeredBy, c.amdDuration, c.amdRan = answeredBy, after, true
	c.e.mu.Unlock()
	c.e.record(c.sid, "amd: "+answeredBy, map[string]string{"machine_detection_duration_ms": strconv.Itoa(int(after / time.Millisecond))})
}

// asyncAMDDone posts the verdict of asynchronous AMD to AsyncAmdStatusCallback.
func (c *call) asyncAMDDone() {
	c.setAMD(c.asyncVerdict, c.asyncAt)
	c.e.mu.Lock()
	params := c.paramsLocked()
	target, method := c.opts.amd.asyncCallback, c.opts.amd.asyncMethod
	c.e.mu.Unlock()
	params.Set("MachineDetectionDuration", strconv.Itoa(int(c.asyncAt/time.Millisecond)))
	if target == "" {
		return
	}
	c.cb.do(func() { c.sendWebhook(HookAsyncAMD, method, target, params) })
}

// runInbound is the life of a call a persona places to one of the sandbox's numbers.
func (c *call) runInbound() {
	defer c.finish()
	c.setStatus("ringing")
	c.e.mu.Lock()
	opts := c.opts
	c.e.mu.Unlock()
	if opts.url == "" {
		// A number without a VoiceUrl answers and hangs up.
		c.e.record(c.sid, "no VoiceUrl configured", nil)
		c.answer()
		return
	}
	c.runApp(request{url: opts.url, method: opts.method, fallbackURL: opts.fallbackURL, fallbackMethod: opts.fallbackMethod})
}

// finish ends whatever the call still holds when its goroutine returns.
func (c *call) finish() {
	for _, t := range c.background {
		t.Stop()
	}
	c.e.mu.Lock()
	b := c.bridge
	status := c.status
	c.e.mu.Unlock()
	if b != nil {
		c.e.endBridge(b, c)
	}
	if status == "ringing" || status == "queued" {
		c.end("canceled")
		return
	}
	c.end("completed")
}

// bridge joins two calls: an agent's <Dial><Queue> and the dequeued caller.
type bridge struct {
	agent, caller *call
	taskSid       string
	start         time.Time
	ended         bool
}

func (b *bridge) other(c *call) *call {
	if c == b.agent {
		return b.caller
	}
	return b.agent
}

// endBridge ends b because by hung up or left: the other leg is told, the bridge is recorded
// and TaskRouter hears BridgeEnded, once.
func (e *Engine) endBridge(b *bridge, by *call) {
	e.mu.Lock()
	if b.ended {
		e.mu.Unlock()
		return
	}
	b.ended = true
	b.agent.bridge, b.caller.bridge = nil, nil
	other := b.other(by)
	d := e.clock.Now().Sub(b.start)
	tr := e.tr
	e.mu.Unlock()
	other.mb.push(event{kind: evPeerLeft})
	detail := map[string]string{"left": by.sid, "other": other.sid, "duration_s": strconv.Itoa(int(d / time.Second))}
	e.record(b.agent.sid, "bridge ended", detail)
	e.record(b.caller.sid, "bridge ended", detail)
	if b.taskSid != "" && tr != nil {
		if err := tr.BridgeEnded(context.Background(), b.taskSid); err != nil {
			e.log.Warn("BridgeEnded failed", "task", b.taskSid, "err", err)
		}
	}
}

// inBridge keeps c in b until either side hangs up. It returns nil when the other side left
// (c goes on with its TwiML) and errHungUp (or a redirect) when c left.
func (c *call) inBridge(b *bridge) error {
	var talkID uint64
	if c.persona.TalkFor > 0 {
		var t clock.Timer
		talkID, t = c.startTimer(c.persona.TalkFor)
		defer t.Stop()
	}
	for {
		ev := c.mb.recv()
		switch {
		case talkID != 0 && ev.kind == evTimer && ev.id == talkID:
			c.e.record(c.sid, "persona hung up", map[string]string{"persona": string(c.persona.Kind), "after_talking_s": strconv.Itoa(int(c.persona.TalkFor / time.Second))})
			c.end("completed")
			c.e.endBridge(b, c)
			return errHungUp
		case ev.kind == evPeerLeft:
			return nil
		default:
			if err := c.common(ev); err != nil {
				c.e.endBridge(b, c)
				return err
			}
		}
	}
}
