package voice

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/twilioapi"
)

// request is a TwiML document to fetch (or, for Twiml=…, to run as given).
type request struct {
	kind                        string // the webhook kind (Hook…); "" is HookTwiML
	url, method                 string
	params                      url.Values
	twiml                       string
	fallbackURL, fallbackMethod string
}

// Timing of the verbs that take time.
const (
	sayPerWord     = 400 * time.Millisecond // about 150 words a minute
	playPerLoop    = 5 * time.Second        // the sandbox has no audio: every file lasts 5 s
	digitsPressed  = time.Second            // a persona presses its digits 1 s after the prompt
	maxQueueLength = 1000                   // Twilio's default Queue max_size (Enqueue docs)
)

// runApp fetches and runs TwiML until the call ends; the caller of runApp then hangs up.
func (c *call) runApp(req request) {
	for {
		verbs, base, err := c.fetchDoc(req)
		var te *twimlError
		if errors.As(err, &te) && req.fallbackURL != "" {
			verbs, base, err = c.fetchDoc(request{url: req.fallbackURL, method: req.fallbackMethod, params: req.params})
		}
		var redirect *redirectErr
		if errors.Is(err, errHungUp) {
			return
		}
		if errors.As(err, &redirect) {
			req = redirect.req
			continue
		}
		if err != nil {
			c.applicationError(err)
			return
		}
		next, err := c.runVerbs(verbs, base)
		switch {
		case errors.As(err, &redirect):
			req = redirect.req
		case err != nil:
			return
		case next == nil:
			c.e.record(c.sid, "twiml: end of document", nil)
			return
		default:
			req = *next
		}
	}
}

// applicationError ends the call as Twilio does when the application fails it: the caller
// hears "an application error has occurred" and the call hangs up.
func (c *call) applicationError(err error) {
	code := 11200
	var te *twimlError
	if errors.As(err, &te) {
		code = te.code
	}
	c.e.record(c.sid, "application error", map[string]string{"error_code": strconv.Itoa(code), "message": err.Error()})
	c.e.log.Warn("application error", "call", c.sid, "code", code, "err", err)
	if c.currentStatus() == "ringing" {
		c.answer()
	}
}

// fetchDoc fetches a TwiML document and parses it; it returns the verbs and the URL relative
// URLs resolve against.
func (c *call) fetchDoc(req request) ([]verb, string, error) {
	if req.twiml != "" {
		verbs, err := parseTwiML([]byte(req.twiml))
		return verbs, "", err
	}
	params := c.params()
	for k, vs := range req.params {
		params[k] = vs
	}
	kind := req.kind
	if kind == "" {
		kind = HookTwiML
	}
	resp, err := c.sendWebhook(kind, req.method, req.url, params)
	if errors.Is(err, errDropped) {
		// An application that never answers: Twilio waits the URL's total time, then fails.
		_, conn, _ := twilioapi.ParseConnection(req.url)
		if serr := c.sleep(conn.TotalTime); serr != nil {
			return nil, req.url, serr
		}
		return nil, req.url, &twimlError{code: 11200, msg: "HTTP retrieval failure: no answer within " + conn.TotalTime.String()}
	}
	if err != nil {
		return nil, req.url, &twimlError{code: 11200, msg: "HTTP retrieval failure: " + err.Error()}
	}
	if resp.Status < 200 || resp.Status > 299 {
		return nil, req.url, &twimlError{code: 11200, msg: "HTTP retrieval failure: status " + strconv.Itoa(resp.Status)}
	}
	verbs, err := parseTwiML(resp.Body)
	return verbs, req.url, err
}

// resolve makes ref absolute against base, as Twilio resolves relative action URLs.
func resolve(base, ref string) string {
	if ref == "" {
		return ""
	}
	b, err := url.Parse(base)
	if err != nil || base == "" {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}

func method(v verb, name string) string {
	m := strings.ToUpper(v.attr(name, "POST"))
	if m != "GET" {
		m = "POST"
	}
	return m
}

func seconds(v verb, name string, def int) time.Duration {
	n, err := strconv.Atoi(v.attr(name, strconv.Itoa(def)))
	if err != nil || n < 0 {
		n = def
	}
	return time.Duration(n) * time.Second
}

// runVerbs runs a document. It returns the next document to fetch (Redirect, or an action
// URL), nil at the end of the document, or errHungUp / a *redirectErr.
func (c *call) runVerbs(verbs []verb, base string) (*request, error) {
	for _, v := range verbs {
		if v.name != "Reject" && c.currentStatus() == "ringing" {
			c.answer()
		}
		detail := map[string]string{}
		for k, a := range v.attrs {
			detail[k] = a
		}
		if v.text != "" {
			detail["text"] = v.text
		}
		c.e.record(c.sid, "twiml: "+v.name, detail)
		var next *request
		var err error
		switch v.name {
		case "Say", "Play", "Pause":
			err = c.sleep(verbDuration(v))
		case "Hangup":
			c.end("completed")
			return nil, errHungUp
		case "Reject":
			if c.currentStatus() == "ringing" {
				// Reject keeps the call unanswered: busy for reason=busy, and for the default
				// reason=rejected too (the caller hears a busy or "not in service" tone).
				c.endWithSip("busy", 486)
			} else {
				c.end("completed")
			}
			return nil, errHungUp
		case "Redirect":
			target := resolve(base, v.text)
			if target == "" {
				target = base
			}
			return &request{url: target, method: method(v, "method")}, nil
		case "Leave":
			// Only meaningful in a waitUrl document: outside a queue there is nothing to leave.
		case "Gather":
			next, err = c.gather(v, base)
		case "Record":
			next, err = c.recordVerb(v, base)
		case "Enqueue":
			next, err = c.enqueue(v, base)
		case "Dial":
			next, err = c.dial(v, base)
		}
		if err != nil || next != nil {
			return next, err
		}
	}
	return nil, nil
}

// verbDuration is how long Say, Play or Pause keeps the line.
func verbDuration(v verb) time.Duration {
	switch v.name {
	case "Pause":
		return seconds(v, "length", 1)
	case "Say", "Play":
		loops, err := strconv.Atoi(v.attr("loop", "1"))
		if err != nil || loops < 1 {
			loops = 1 // loop="0" repeats "forever"; the sandbox plays it once
		}
		one := playPerLoop
		if v.name == "Say" {
			one = time.Duration(max(1, len(strings.Fields(v.text)))) * sayPerWord
		}
		return time.Duration(loops) * one
	}
	return 0
}

// gather plays the nested prompts, then takes the persona's digits for this Gather (the first
// of its Digits at the call's first Gather, the next at the next one) PressAfter after the
// prompts, or times out when the persona has none or would press later than the timeout. With
// digits the action (default: this document) gets Digits; without input the next verb runs,
// unless actionOnEmptyResult.
func (c *call) gather(v verb, base string) (*request, error) {
	for _, n := range v.children {
		c.e.record(c.sid, "twiml: "+n.name, map[string]string{"text": n.text, "in": "Gather"})
		if err := c.sleep(verbDuration(n)); err != nil {
			return nil, err
		}
	}
	digits := c.gatherDigits()
	action := resolve(base, v.attr("action", ""))
	if action == "" {
		action = base
	}
	press, timeout := c.persona.pressDelay(), seconds(v, "timeout", 5)
	if digits == "" || press > timeout {
		if err := c.sleep(timeout); err != nil {
			return nil, err
		}
		c.e.record(c.sid, "gather: no input", nil)
		if v.attr("actionOnEmptyResult", "false") == "true" && action != "" {
			return &request{url: action, method: method(v, "method"), params: url.Values{"Digits": {""}}}, nil
		}
		return nil, nil
	}
	if err := c.sleep(press); err != nil {
		return nil, err
	}
	finished := ""
	if key := v.attr("finishOnKey", "#"); key != "" {
		if i := strings.Index(digits, key); i >= 0 {
			digits, finished = digits[:i], key
		}
	}
	if n, err := strconv.Atoi(v.attr("numDigits", "0")); err == nil && n > 0 && len(digits) > n {
		digits = digits[:n]
	}
	c.e.record(c.sid, "gather: digits", map[string]string{"digits": digits})
	if action == "" {
		return nil, nil
	}
	params := url.Values{"Digits": {digits}}
	if finished != "" {
		params.Set("FinishedOnKey", finished)
	}
	return &request{url: action, method: method(v, "method"), params: params}, nil
}

// recordVerb records the persona's message: it ends after `timeout` seconds of silence (or
// maxLength). An empty recording requests no action, as Twilio does; the next verb runs.
func (c *call) recordVerb(v verb, base string) (*request, error) {
	silence := seconds(v, "timeout", 5)
	maxLength := seconds(v, "maxLength", 3600)
	msg := min(c.persona.MessageLength, maxLength)
	if msg <= 0 {
		if err := c.sleep(silence); err != nil {
			return nil, err
		}
		c.e.record(c.sid, "record: no audio", nil)
		return nil, nil
	}
	wait := msg + silence
	if msg == maxLength {
		wait = msg
	}
	if err := c.sleep(wait); err != nil {
		return nil, err
	}
	rec := c.newRecording(msg, 1, "RecordVerb")
	recSid, recURL := rec.sid, rec.url
	secs := strconv.Itoa(int(math.Ceil(msg.Seconds())))
	c.e.record(c.sid, "record: message", map[string]string{"recording_sid": recSid, "duration_s": secs})
	c.recordingDone(v, base, rec)
	action := resolve(base, v.attr("action", ""))
	if action == "" {
		action = base
	}
	if action == "" {
		return nil, nil
	}
	return &request{url: action, method: method(v, "method"), params: url.Values{
		"RecordingUrl": {recURL}, "RecordingSid": {recSid}, "RecordingDuration": {secs}, "Digits": {"hangup"},
	}}, nil
}

// taskAttributesLocked are the call's attributes Twilio gives a task created by <Enqueue>.
func (c *call) taskAttributesLocked() map[string]any {
	return map[string]any{
		"call_sid": c.sid, "account_sid": c.e.creds.AccountSid, "from": c.from, "to": c.to,
		"caller": c.from, "called": c.to, "direction": c.direction, "call_status": c.status,
		"api_version": "2010-04-01",
	}
}

// enqueue puts the call in a queue (a TaskRouter task with workflowSid, else a named queue)
// until it is bridged, leaves or hangs up; then the action gets QueueResult and QueueTime.
func (c *call) enqueue(v verb, base string) (*request, error) {
	start := c.e.clock.Now()
	result, queueSid, err := c.waitInQueue(v, base)
	c.e.mu.Lock()
	c.queueResult = result
	params := c.paramsLocked()
	c.e.mu.Unlock()
	c.e.record(c.sid, "queue result: "+result, map[string]string{"queue_time_s": strconv.Itoa(int(c.e.clock.Now().Sub(start) / time.Second))})
	params.Set("QueueResult", result)
	params.Set("QueueTime", strconv.Itoa(int(c.e.clock.Now().Sub(start)/time.Second)))
	if queueSid != "" {
		params.Set("QueueSid", queueSid)
	}
	action := resolve(base, v.attr("action", ""))
	if err != nil {
		if action != "" && errors.Is(err, errHungUp) {
			// Twilio still requests the action of a caller who hung up; the answer is ignored.
			_, _ = c.sendWebhook("enqueue-action", method(v, "method"), action, params)
		}
		return nil, err
	}
	if action == "" {
		return nil, nil
	}
	extra := url.Values{}
	for _, k := range []string{"QueueResult", "QueueTime", "QueueSid"} {
		if val := params.Get(k); val != "" {
			extra.Set(k, val)
		}
	}
	return &request{kind: HookEnqueueAction, url: action, method: method(v, "method"), params: extra}, nil
}

func (c *call) waitInQueue(v verb, base string) (result, queueSid string, err error) {
	var taskSid string
	if workflow := v.attr("workflowSid", ""); workflow != "" {
		if taskSid, queueSid, result = c.enqueueTask(v, workflow); result != "" {
			return result, queueSid, nil
		}
	} else if queueSid, result = c.joinQueue(v.text); result != "" {
		return result, queueSid, nil
	}
	defer c.leaveQueue()
	var patienceID uint64
	if c.persona.Patience > 0 {
		var t clock.Timer
		patienceID, t = c.startTimer(c.persona.Patience)
		defer t.Stop()
	}
	// While the caller holds, these events take it out of the queue whatever the waitUrl's
	// TwiML is doing.
	c.queueWatch = func(ev event) bool {
		return (patienceID != 0 && ev.kind == evTimer && ev.id == patienceID) || ev.kind == evBridged ||
			(ev.kind == evTaskCanceled && taskSid != "" && ev.taskSid == taskSid)
	}
	err = c.hold(resolve(base, v.attr("waitUrl", "")), method(v, "waitUrlMethod"))
	c.queueWatch = nil
	result, err = c.queueOutcome(err, taskSid)
	return result, queueSid, err
}

// queueOutcome turns what ended the caller's wait into the Enqueue's QueueResult.
func (c *call) queueOutcome(err error, taskSid string) (string, error) {
	var qe *queueEventErr
	var redirect *redirectErr
	switch {
	case errors.As(err, &qe) && qe.ev.kind == evTimer:
		c.e.record(c.sid, "caller hung up in queue", map[string]string{"patience_s": strconv.Itoa(int(c.persona.Patience / time.Second))})
		c.end("completed")
		c.callerLeft(taskSid, "hangup")
		return "hangup", errHungUp
	case errors.As(err, &qe) && qe.ev.kind == evTaskCanceled:
		c.e.record(c.sid, "task canceled: leaving queue", map[string]string{"task": taskSid, "reason": qe.ev.reason})
		return "leave", nil
	case errors.As(err, &qe):
		// Dequeued: out of the queue (its members' positions, its average wait) from the
		// bridge on, not from the end of the conversation.
		c.leaveQueue()
		err := c.inBridge(qe.ev.b)
		if errors.As(err, &redirect) {
			return "redirected-from-bridged", err
		}
		return "bridged", err
	case errors.Is(err, errLeave):
		c.callerLeft(taskSid, "leave")
		return "leave", nil
	case errors.As(err, &redirect):
		c.callerLeft(taskSid, "redirected")
		return "redirected", err
	}
	c.callerLeft(taskSid, "hangup")
	return "hangup", err
}

// errLeave is a <Leave/> in the waitUrl's TwiML.
var errLeave = errors.New("left the queue")

// queueEventErr unwinds the waitUrl's TwiML when something takes the caller out of the queue.
type queueEventErr struct{ ev event }

func (q *queueEventErr) Error() string { return "queue event" }

// hold keeps the caller in the queue: the waitUrl's TwiML runs and, once it runs out of verbs,
// is requested again ("This loops the hold music indefinitely"); without a waitUrl, or when it
// cannot be fetched or run, the caller waits in silence. It returns what ended the wait.
func (c *call) hold(waitURL, waitMethod string) error {
	next := waitRequest{url: waitURL, method: waitMethod}
	for next.url != "" {
		started := c.e.clock.Now()
		verbs, err := c.fetchWait(next)
		if err != nil {
			return err
		}
		if verbs == nil {
			break
		}
		after, err := c.runWaitVerbs(verbs, next.url)
		if err != nil {
			return err
		}
		if after.url != "" {
			next = after
			continue
		}
		if !c.e.clock.Now().After(started) {
			c.e.record(c.sid, "wait-url: its TwiML takes no time: holding in silence", nil)
			break
		}
		next = waitRequest{url: waitURL, method: waitMethod}
	}
	for {
		if err := c.common(c.mb.recv()); err != nil {
			return err
		}
	}
}

// fetchWait requests a waitUrl document with the queue's parameters. It answers nil verbs when
// the document cannot be used (the caller then holds in silence).
func (c *call) fetchWait(req waitRequest) ([]verb, error) {
	target := req.url
	c.e.mu.Lock()
	params := c.paramsLocked()
	for k, v := range c.waitParamsLocked() {
		params[k] = v
	}
	c.e.mu.Unlock()
	for k, v := range req.params {
		params[k] = v
	}
	resp, err := c.sendWebhook(HookWaitURL, req.method, target, params)
	if errors.Is(err, errDropped) {
		_, conn, _ := twilioapi.ParseConnection(target)
		if serr := c.sleep(conn.TotalTime); serr != nil {
			return nil, serr
		}
		return nil, nil
	}
	if err != nil || resp.Status < 200 || resp.Status > 299 {
		return nil, nil
	}
	verbs, err := parseTwiML(resp.Body)
	if err != nil {
		c.e.record(c.sid, "wait-url: invalid TwiML ignored", map[string]string{"error": err.Error()})
		return nil, nil
	}
	return verbs, nil
}

// waitParamsLocked are the parameters of a waitUrl request (Enqueue docs): the caller's place
// and time in the queue, the queue's average wait, current and maximum size.
func (c *call) waitParamsLocked() url.Values {
	q := c.inQueue
	v := url.Values{"QueueTime": {strconv.Itoa(int(c.e.clock.Now().Sub(c.queuedAt) / time.Second))},
		"MaxQueueSize": {strconv.Itoa(maxQueueLength)}}
	if q == nil {
		return v
	}
	pos := 1
	for i, m := range q.members {
		if m == c {
			pos = i + 1
		}
	}
	v.Set("QueueSid", q.sid)
	v.Set("QueuePosition", strconv.Itoa(pos))
	v.Set("CurrentQueueSize", strconv.Itoa(len(q.members)))
	v.Set("AvgQueueTime", strconv.Itoa(q.avgWaitSeconds()))
	return v
}

// runWaitVerbs runs a waitUrl document: Play, Say, Pause, Gather, Redirect, Hangup and Leave
// (other verbs are skipped, as Twilio allows only these there). It returns the document to run
// next in the wait, a <Redirect>'s or a <Gather>'s action (empty at the end of the document),
// or what ended the wait.
func (c *call) runWaitVerbs(verbs []verb, base string) (waitRequest, error) {
	for _, v := range verbs {
		c.e.record(c.sid, "wait-url: "+v.name, map[string]string{"text": v.text})
		switch v.name {
		case "Say", "Play", "Pause":
			if err := c.sleep(verbDuration(v)); err != nil {
				return waitRequest{}, err
			}
		case "Hangup":
			c.end("completed")
			return waitRequest{}, errHungUp
		case "Leave":
			return waitRequest{}, errLeave
		case "Redirect":
			// Twilio does not say whether a Redirect there leaves the queue: the sandbox keeps
			// the caller waiting and runs the document it points to as wait music.
			if target := resolve(base, v.text); target != "" {
				return waitRequest{url: target, method: method(v, "method")}, nil
			}
		case "Gather":
			next, err := c.gather(v, base)
			if err != nil {
				return waitRequest{}, err
			}
			if next != nil {
				return c.waitGatherAction(*next)
			}
		default:
			c.e.record(c.sid, "wait-url: verb not allowed there, skipped", map[string]string{"verb": v.name})
		}
	}
	return waitRequest{}, nil
}

// enqueueTask makes the call a TaskRouter task of the workflow, with the call's attributes
// merged with each <Task>'s JSON; result is set when it could not.
func (c *call) enqueueTask(v verb, workflow string) (taskSid, queueSid, result string) {
	e := c.e
	req := twilioapi.EnqueueRequest{CallSid: c.sid, WorkflowSid: workflow}
	e.mu.Lock()
	req.Attributes = c.taskAttributesLocked()
	e.mu.Unlock()
	for _, t := range v.children {
		if t.name != "Task" {
			continue
		}
		if t.text != "" {
			var extra map[string]any
			if jerr := json.Unmarshal([]byte(t.text), &extra); jerr != nil {
				e.record(c.sid, "enqueue: invalid <Task> JSON", map[string]string{"error": jerr.Error()})
				return "", "", "error"
			}
			for k, val := range extra {
				req.Attributes[k] = val
			}
		}
		if p, perr := strconv.Atoi(t.attr("priority", "")); perr == nil {
			req.Priority = &p
		}
		if to, terr := strconv.Atoi(t.attr("timeout", "")); terr == nil {
			req.Timeout = &to
		}
	}
	tr := e.taskRouter()
	if tr == nil {
		e.record(c.sid, "enqueue: no TaskRouter wired", nil)
		return "", "", "system-error"
	}
	sid, terr := tr.EnqueueCall(context.Background(), req)
	if terr != nil {
		e.record(c.sid, "enqueue: TaskRouter refused", map[string]string{"error": terr.Error()})
		return "", "", "system-error"
	}
	e.mu.Lock()
	// The call waits in a queue of the workflow's, as Twilio's TaskRouter calls do (it has a
	// QueueSid); the sandbox keeps it out of the Queues resource.
	q := e.queueByNameLocked(workflow)
	q.hidden = true
	q.members = append(q.members, c)
	c.taskSid, c.waiting, c.inQueue, c.queuedAt = sid, true, q, e.clock.Now()
	e.mu.Unlock()
	e.record(c.sid, "enqueued", map[string]string{"task": sid, "workflow": workflow})
	return sid, q.sid, ""
}

// joinQueue puts the call in the named Voice queue; result is set when it could not.
func (c *call) joinQueue(name string) (queueSid, result string) {
	e := c.e
	if name == "" {
		return "", "error"
	}
	e.mu.Lock()
	q := e.queueByNameLocked(name)
	if len(q.members) >= maxQueueLength {
		e.mu.Unlock()
		return q.sid, "queue-full"
	}
	q.members = append(q.members, c)
	q.updated = e.clock.Now()
	c.waiting, c.inQueue, c.queuedAt = true, q, e.clock.Now()
	e.mu.Unlock()
	e.record(c.sid, "enqueued", map[string]string{"queue": name, "queue_sid": q.sid})
	return q.sid, ""
}

// callerLeft tells TaskRouter the enqueued caller is gone.
func (c *call) callerLeft(taskSid, reason string) {
	if taskSid == "" {
		return
	}
	tr := c.e.taskRouter()
	if tr == nil {
		return
	}
	if err := tr.CallerLeftQueue(context.Background(), taskSid, reason); err != nil {
		c.e.log.Warn("CallerLeftQueue failed", "call", c.sid, "task", taskSid, "err", err)
	}
	c.e.record(c.sid, "caller left queue", map[string]string{"task": taskSid, "reason": reason})
}

func (c *call) leaveQueue() {
	e := c.e
	e.mu.Lock()
	defer e.mu.Unlock()
	c.waiting = false
	if q := c.inQueue; q != nil {
		for i, m := range q.members {
			if m == c {
				q.members = append(q.members[:i], q.members[i+1:]...)
				break
			}
		}
		q.totalWait += e.clock.Now().Sub(c.queuedAt)
		q.served++
		q.updated = e.clock.Now()
		c.inQueue = nil
	}
}

// dial runs <Dial> with one <Queue> or <Number> (or a bare number as text). With an action the
// outcome goes there (DialCallStatus, DialCallSid, DialCallDuration); without, the next verb runs.
func (c *call) dial(v verb, base string) (*request, error) {
	var noun verb
	switch {
	case len(v.children) > 0:
		noun = v.children[0]
	case v.text != "":
		noun = verb{name: "Number", text: v.text, attrs: map[string]string{}}
	default:
		c.e.record(c.sid, "dial: nothing to dial", nil)
		return nil, nil
	}
	var outcome dialOutcome
	var err error
	if noun.name == "Number" {
		noun.text = normalizeNumber(noun.text)
	}
	if noun.name == "Number" && !validAddress(noun.text) {
		// Twilio's 13223: Dial: Invalid phone number format.
		c.e.record(c.sid, "application error", map[string]string{"error_code": "13223", "message": "Dial: Invalid phone number format: " + noun.text})
		outcome.status = "failed"
	} else if noun.name == "Queue" {
		outcome, err = c.dialQueue(noun)
	} else {
		outcome, err = c.dialNumber(v, noun)
	}
	detail := map[string]string{"dial_call_sid": outcome.callSid, "duration_s": strconv.Itoa(int(outcome.duration / time.Second))}
	if outcome.errorCode != 0 {
		// Twilio documents no error parameter for the Dial action: the code stays in the timeline.
		detail["error_code"] = strconv.Itoa(outcome.errorCode)
	}
	c.e.record(c.sid, "dial: "+outcome.status, detail)
	c.dialRecording(v, base, outcome.duration)
	action := resolve(base, v.attr("action", ""))
	params := url.Values{"DialCallStatus": {outcome.status}, "DialCallDuration": {strconv.Itoa(int(outcome.duration / time.Second))}}
	if outcome.callSid != "" {
		params.Set("DialCallSid", outcome.callSid)
	}
	if outcome.queueSid != "" {
		params.Set("QueueSid", outcome.queueSid)
	}
	if err != nil {
		if action != "" && errors.Is(err, errHungUp) {
			// The Dial ends with the call: Twilio still requests the action, and ignores its answer.
			all := c.params()
			for k, vs := range params {
				all[k] = vs
			}
			_, _ = c.sendWebhook("dial-action", method(v, "method"), action, all)
		}
		return nil, err
	}
	if action == "" {
		return nil, nil
	}
	return &request{kind: HookDialAction, url: action, method: method(v, "method"), params: params}, nil
}

type dialOutcome struct {
	status, callSid, queueSid string
	duration                  time.Duration
	errorCode                 int
}

// dialQueue dequeues a caller: with reservationSid through TaskRouter (14215 when the
// reservation is not pending), else the longest waiting caller of the named queue.
func (c *call) dialQueue(q verb) (dialOutcome, error) {
	e := c.e
	var peer *call
	taskSid, queueSid := "", ""
	if res := q.attr("reservationSid", ""); res != "" {
		tr := e.taskRouter()
		if tr == nil {
			e.record(c.sid, "dial queue: no TaskRouter wired", nil)
			return dialOutcome{status: "failed"}, nil
		}
		task, err := tr.DequeueReservation(context.Background(), res, q.attr("postWorkActivitySid", ""))
		if err != nil {
			code := 0
			var te *twilioapi.Error
			if errors.As(err, &te) {
				code = te.Code
			}
			e.record(c.sid, "dial queue: dequeue failed", map[string]string{"reservation": res, "error_code": strconv.Itoa(code), "error": err.Error()})
			return dialOutcome{status: "failed", errorCode: code}, nil
		}
		taskSid = task.TaskSid
		e.mu.Lock()
		peer = e.calls[task.CallSid]
		if peer != nil && (!peer.waiting || peer.taskSid != task.TaskSid) {
			peer = nil
		}
		e.mu.Unlock()
		if peer == nil {
			e.record(c.sid, "dial queue: dequeued caller is gone", map[string]string{"task": task.TaskSid, "call": task.CallSid})
			if err := tr.BridgeEnded(context.Background(), task.TaskSid); err != nil {
				e.log.Warn("BridgeEnded failed", "task", task.TaskSid, "err", err)
			}
			return dialOutcome{status: "failed", callSid: task.CallSid}, nil
		}
	} else {
		e.mu.Lock()
		named := e.queueByNameLocked(q.text)
		queueSid = named.sid
		for _, m := range named.members {
			if m.waiting {
				peer = m
				break
			}
		}
		e.mu.Unlock()
		if peer == nil {
			return dialOutcome{status: "failed", queueSid: queueSid}, nil
		}
	}

	e.mu.Lock()
	if !peer.waiting {
		e.mu.Unlock()
		return dialOutcome{status: "failed", callSid: peer.sid, queueSid: queueSid}, nil
	}
	b := &bridge{agent: c, caller: peer, taskSid: taskSid, start: e.clock.Now()}
	peer.waiting = false
	c.bridge, peer.bridge = b, b
	c.bridgedWith, peer.bridgedWith = peer.sid, c.sid
	e.mu.Unlock()
	peer.mb.push(event{kind: evBridged, b: b})
	e.record(c.sid, "bridged", map[string]string{"with": peer.sid, "task": taskSid})
	e.record(peer.sid, "bridged", map[string]string{"with": c.sid, "task": taskSid})
	err := c.inBridge(b)
	return dialOutcome{status: "completed", callSid: peer.sid, queueSid: queueSid, duration: e.clock.Now().Sub(b.start)}, err
}

// dialNumber places a child leg (outbound-dial) to the persona of the number and bridges it.
func (c *call) dialNumber(v, n verb) (dialOutcome, error) {
	e := c.e
	e.mu.Lock()
	from := v.attr("callerId", c.from)
	child := e.newCallLocked(from, n.text, "outbound-dial", e.personaLocked(n.text))
	child.parentSid = c.sid
	child.opts.statusCallback = n.attr("statusCallback", "")
	child.opts.statusCallbackMethod = method(n, "statusCallbackMethod")
	child.opts.events = map[string]bool{"completed": true}
	e.mu.Unlock()
	// The parent's goroutine drives the child leg: its mailbox takes no events.
	child.mb.close()
	out := dialOutcome{callSid: child.sid}
	if status, err := c.ring(child, seconds(v, "timeout", 30)); status != "" {
		out.status = status
		return out, err
	}
	return c.talkTo(child, out)
}

// ring rings a child leg until its persona answers (status "") or the leg ends (its status).
func (c *call) ring(child *call, timeout time.Duration) (status string, err error) {
	child.setStatus("initiated")
	p := child.persona
	switch p.Kind {
	case KindBusy:
		child.endWithSip("busy", 486)
		return "busy", nil
	case KindFail:
		child.endWithSip("failed", 500)
		return "failed", nil
	}
	child.setStatus("ringing")
	answers := p.Kind != KindNoAnswer && p.AnswerAfter < timeout
	wait := timeout
	if answers {
		wait = p.AnswerAfter
	}
	if err := c.sleep(wait); err != nil {
		child.endWithSip("canceled", 487)
		return "canceled", err
	}
	if !answers {
		child.endWithSip("no-answer", 487)
		return "no-answer", nil
	}
	child.setStatus("in-progress")
	return "", nil
}

// talkTo bridges the call with an answered child leg until either side hangs up.
func (c *call) talkTo(child *call, out dialOutcome) (dialOutcome, error) {
	e, p := c.e, child.persona
	start := e.clock.Now()
	e.mu.Lock()
	c.bridgedWith, child.bridgedWith = child.sid, c.sid
	e.mu.Unlock()
	e.record(c.sid, "bridged", map[string]string{"with": child.sid})
	var childID, selfID uint64
	childTalk := p.TalkFor
	if p.HangUpAfter > 0 && (childTalk == 0 || p.HangUpAfter < childTalk) {
		childTalk = p.HangUpAfter
	}
	if childTalk > 0 {
		var t clock.Timer
		childID, t = c.startTimer(childTalk)
		defer t.Stop()
	}
	if c.persona.TalkFor > 0 {
		var t clock.Timer
		selfID, t = c.startTimer(c.persona.TalkFor)
		defer t.Stop()
	}
	out.status = "completed"
	for {
		ev := c.mb.recv()
		switch {
		case childID != 0 && ev.kind == evTimer && ev.id == childID:
			child.end("completed")
			out.duration = e.clock.Now().Sub(start)
			e.record(c.sid, "bridge ended", map[string]string{"left": child.sid})
			return out, nil
		case selfID != 0 && ev.kind == evTimer && ev.id == selfID:
			c.e.record(c.sid, "persona hung up", map[string]string{"persona": string(c.persona.Kind)})
			c.end("completed")
			child.end("completed")
			out.duration = e.clock.Now().Sub(start)
			return out, errHungUp
		default:
			if err := c.common(ev); err != nil {
				child.end("completed")
				out.duration = e.clock.Now().Sub(start)
				return out, err
			}
		}
	}
}

// normalizeNumber turns the unformatted US numbers Twilio accepts in <Dial> ("(415) 555-1212",
// "415-555-1212") into E.164; anything else is left as written.
func normalizeNumber(s string) string {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "+") || strings.Contains(s, ":") {
		return s
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		if strings.ContainsRune(" ()-.", r) {
			return -1
		}
		return 'x'
	}, s)
	switch {
	case strings.Contains(digits, "x"):
		return s
	case len(digits) == 10:
		return "+1" + digits
	case len(digits) == 11 && digits[0] == '1':
		return "+" + digits
	}
	return s
}
