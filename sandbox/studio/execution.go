package studio

import (
	"context"
	"crypto/hmac"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/twilio/twilio-go/twiml"

	"queuebridge/sandbox/internal/twilioapi"
)

// maxHopsPerRequest bounds the widgets one request may run without waiting for the caller, so a
// flow whose transitions loop through split-based-on or set-variables fails instead of spinning.
const maxHopsPerRequest = 100

// execution is one run of a flow's published revision for one call.
type execution struct {
	mu sync.Mutex

	sid, flowSid, callSid, contactSid, contactAddress string
	revision                                          int
	def                                               *Definition
	status                                            string // active | ended
	failure                                           string
	// vars is the Liquid context: trigger.call.*, widgets.NAME.*, flow.*, contact.*.
	vars    map[string]any
	steps   []*step
	waiting *waiting
	// answers keeps the TwiML each continuation got, so a retried request gets the same answer,
	// as Twilio retries webhooks.
	answers     map[string]string
	firstAnswer string
	created     time.Time
	updated     time.Time
}

// step is a transition taken, as Studio's Execution Steps show them.
type step struct {
	sid, event, from, to, widgetType string
	context                          map[string]any
	created                          time.Time
}

// waiting is the widget whose TwiML the call is executing; the request to its continuation URL
// carries the outcome (Digits, QueueResult, RecordingUrl …).
type waiting struct {
	state   *State
	stepSid string
}

// widgetOutcome is what running a widget produced: TwiML to answer (the execution then waits
// for the call's next request), or an event to transition on at once, or an error.
type widgetOutcome struct {
	verbs []twiml.Element
	event string
	next  *string // set by split-based-on, whose matching transition decides
	err   error
}

// signed rejects requests whose X-Twilio-Signature does not match the auth token over
// BaseURL+path+query and the form parameters, before anything is looked at or recorded.
func (e *Engine) signed(next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			twilioapi.WriteError(w, twilioapi.Errorf(http.StatusBadRequest, 20001, "Unable to parse the request: %v", err))
			return
		}
		var params url.Values
		if r.Method != http.MethodGet {
			params = r.PostForm
		}
		want := twilioapi.Sign(e.cfg.Credentials.AuthToken, e.baseURL()+r.URL.RequestURI(), params)
		if !hmac.Equal([]byte(want), []byte(r.Header.Get("X-Twilio-Signature"))) {
			e.cfg.Logger.Warn("studio webhook with a bad signature", "path", r.URL.Path)
			twilioapi.WriteError(w, twilioapi.Errorf(http.StatusForbidden, 20003, "Invalid X-Twilio-Signature"))
			return
		}
		next(w, r)
	})
}

// flowWebhook is a call arriving at the flow's webhook_url: the first request of a call starts an
// execution of the published revision; a repeated one (a retry) gets the first answer again.
func (e *Engine) flowWebhook(w http.ResponseWriter, r *http.Request) {
	flowSid := r.PathValue("sid")
	if r.PathValue("account") != e.cfg.Credentials.AccountSid {
		twilioapi.WriteError(w, twilioapi.NotFound("Accounts", r.PathValue("account")))
		return
	}
	callSid := r.Form.Get("CallSid")
	if callSid == "" {
		twilioapi.WriteError(w, twilioapi.MissingParam("CallSid"))
		return
	}
	e.mu.Lock()
	f, ok := e.flows[flowSid]
	if !ok {
		e.mu.Unlock()
		twilioapi.WriteError(w, twilioapi.NotFound("Flows", flowSid))
		return
	}
	ended := callEnded(r.Form.Get("CallStatus"))
	if fn, ok := e.byCall[flowSid+"/"+callSid]; ok {
		ex := e.executions[fn]
		e.mu.Unlock()
		e.again(w, ex, r.Form.Get("CallStatus"))
		return
	}
	if ended {
		e.mu.Unlock()
		e.answer(w, []twiml.Element{&twiml.VoiceHangup{}})
		return
	}
	rev := f.published()
	if rev == nil {
		e.mu.Unlock()
		e.cfg.Recorder.Record(twilioapi.Entry{
			Time: e.now(), Sid: callSid, Kind: "flow", What: "error: flow has no published revision",
			Detail: map[string]string{"call": callSid, "flow": flowSid},
		})
		e.answer(w, errorVerbs())
		return
	}
	now := e.now()
	ex := &execution{
		sid: twilioapi.NewSID("FN"), flowSid: flowSid, callSid: callSid, contactSid: twilioapi.NewSID("FC"),
		contactAddress: r.Form.Get("From"), revision: rev.number, def: rev.parsed, status: "active",
		answers: map[string]string{}, created: now, updated: now,
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	e.executions[ex.sid] = ex
	e.byCall[flowSid+"/"+callSid] = ex.sid
	e.mu.Unlock()

	ex.vars = executionVars(r.Form, flowSid, ex.sid)
	e.record(ex, "execution started", map[string]string{"revision": fmt.Sprint(rev.number)})
	e.cfg.Logger.Info("studio execution started", "flow", flowSid, "execution", ex.sid, "call", callSid)
	trigger, _ := ex.def.state(ex.def.InitialState)
	verbs := e.run(r.Context(), ex, trigger, "incomingCall", trigger.next("incomingCall"))
	ex.firstAnswer = e.answer(w, verbs)
}

// again answers a repeated request of a call whose execution started: the first answer again,
// unless the request reports the end of the call, which ends the execution.
func (e *Engine) again(w http.ResponseWriter, ex *execution, callStatus string) {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	if !callEnded(callStatus) {
		writeTwiML(w, ex.firstAnswer)
		return
	}
	// A status callback pointed at the webhook: the call is over, so is its execution.
	if ex.status == "active" {
		ex.waiting = nil
		e.record(ex, "call "+callStatus, nil)
		e.end(ex)
	}
	e.answer(w, []twiml.Element{&twiml.VoiceHangup{}})
}

// executionVars are the variables a new execution starts with: the trigger's, the flow's and
// the contact's, as Liquid sees them.
func executionVars(form url.Values, flowSid, executionSid string) map[string]any {
	return map[string]any{
		"trigger": map[string]any{"call": formVars(form)},
		"widgets": map[string]any{},
		"flow": map[string]any{
			"flow_sid":  flowSid,
			"sid":       executionSid,
			"channel":   map[string]any{"address": form.Get("To")},
			"variables": map[string]any{},
			"data":      map[string]any{},
		},
		"contact": map[string]any{"channel": map[string]any{"address": form.Get("From")}},
	}
}

// callEnded reports whether a CallStatus is final: such a request reports the end of a call
// (a status callback) and starts nothing.
func callEnded(status string) bool {
	switch status {
	case "completed", "busy", "failed", "no-answer", "canceled":
		return true
	}
	return false
}

// continueExecution is the request a waiting widget's TwiML makes (its action URL or the
// Redirect after it): it decides the widget's event and runs the flow on.
func (e *Engine) continueExecution(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	ex, ok := e.executions[r.PathValue("execution")]
	e.mu.Unlock()
	if !ok || ex.flowSid != r.PathValue("sid") || r.PathValue("account") != e.cfg.Credentials.AccountSid {
		twilioapi.WriteError(w, twilioapi.NotFound("Executions", r.PathValue("execution")))
		return
	}
	ex.mu.Lock()
	defer ex.mu.Unlock()
	stepSid := r.PathValue("step")
	if answer, ok := ex.answers[stepSid]; ok {
		writeTwiML(w, answer)
		return
	}
	if ex.status != "active" {
		e.answer(w, []twiml.Element{&twiml.VoiceHangup{}})
		return
	}
	if ex.waiting == nil || ex.waiting.stepSid != stepSid {
		twilioapi.WriteError(w, twilioapi.NotFound("Steps", stepSid))
		return
	}
	wait := ex.waiting
	ex.waiting = nil
	event, vars := continuationEvent(wait.state, r.Form)
	ex.widgets()[wait.state.Name] = vars
	verbs := e.run(r.Context(), ex, wait.state, event, wait.state.next(event))
	ex.answers[stepSid] = e.answer(w, verbs)
}

// continuationEvent reads a waiting widget's outcome from the call's request.
func continuationEvent(s *State, form url.Values) (string, map[string]any) {
	vars := formVars(form)
	switch s.Type {
	case "gather-input-on-call":
		switch {
		case form.Get("Digits") != "":
			return "keypress", vars
		case form.Get("SpeechResult") != "":
			return "speech", vars
		}
		return "timeout", vars
	case "enqueue-call":
		// Studio documents failedToEnqueue for a full queue and callFailure for a system error;
		// every other QueueResult (bridged, hangup, leave, redirected …) means the action URL
		// was requested, which is callComplete. "error" is grouped with system-error.
		switch form.Get("QueueResult") {
		case "queue-full":
			return "failedToEnqueue", vars
		case "system-error", "error":
			return "callFailure", vars
		}
		return "callComplete", vars
	case "record-voicemail":
		switch {
		case form.Get("CallStatus") == "completed":
			return "hangup", vars
		case form.Get("RecordingUrl") != "":
			return "recordingComplete", vars
		}
		return "noAudio", vars
	}
	return "audioComplete", vars
}

// run takes the transition from `from` on event to next and keeps running widgets until one
// answers TwiML (the execution waits for the call) or a transition leads nowhere (the execution
// ends and the call hangs up).
func (e *Engine) run(ctx context.Context, ex *execution, from *State, event, next string) []twiml.Element {
	for hops := 0; ; hops++ {
		if hops >= maxHopsPerRequest {
			return e.fail(ex, from, fmt.Errorf("more than %d widgets ran without waiting for the call; do the transitions loop?", maxHopsPerRequest))
		}
		st := e.addStep(ex, from, event, next)
		if next == "" {
			e.end(ex)
			return []twiml.Element{&twiml.VoiceHangup{}}
		}
		state, _ := ex.def.state(next)
		out := e.runWidget(ctx, ex, state, st)
		switch {
		case out.err != nil:
			return e.fail(ex, state, out.err)
		case out.verbs != nil:
			ex.waiting = &waiting{state: state, stepSid: st.sid}
			return out.verbs
		}
		from, event = state, out.event
		if out.next != nil {
			next = *out.next
		} else {
			next = state.next(out.event)
		}
	}
}

func (e *Engine) addStep(ex *execution, from *State, event, next string) *step {
	to := next
	if to == "" {
		to = "Ended"
	}
	var snapshot map[string]any
	if from.Type == "trigger" {
		snapshot, _ = deepCopy(ex.vars["trigger"]).(map[string]any)
	} else {
		snapshot, _ = deepCopy(ex.widgets()[from.Name]).(map[string]any)
	}
	if snapshot == nil {
		snapshot = map[string]any{}
	}
	st := &step{sid: twilioapi.NewSID("FT"), event: event, from: from.Name, to: to, widgetType: from.Type, context: snapshot, created: e.now()}
	ex.steps = append(ex.steps, st)
	ex.updated = st.created
	e.record(ex, fmt.Sprintf("%s --%s--> %s", from.Name, event, to), map[string]string{
		"step": st.sid, "event": event, "from": from.Name, "to": to,
	})
	return st
}

func (e *Engine) end(ex *execution) {
	ex.status = "ended"
	ex.updated = e.now()
	e.record(ex, "execution ended", nil)
	e.cfg.Logger.Info("studio execution ended", "flow", ex.flowSid, "execution", ex.sid, "call", ex.callSid)
}

// fail ends the execution with an error: recorded, logged, and the caller hears a short
// apology before the call hangs up.
func (e *Engine) fail(ex *execution, at *State, err error) []twiml.Element {
	ex.failure = fmt.Sprintf("widget %q (%s): %v", at.Name, at.Type, err)
	e.record(ex, "execution error: "+ex.failure, map[string]string{"widget": at.Name, "type": at.Type})
	e.cfg.Logger.Warn("studio execution failed", "flow", ex.flowSid, "execution", ex.sid, "call", ex.callSid, "err", ex.failure)
	e.end(ex)
	return errorVerbs()
}

func errorVerbs() []twiml.Element {
	return []twiml.Element{
		&twiml.VoiceSay{Message: "We are sorry, an application error has occurred. Goodbye."},
		&twiml.VoiceHangup{},
	}
}

func (e *Engine) record(ex *execution, what string, detail map[string]string) {
	d := map[string]string{"call": ex.callSid, "flow": ex.flowSid}
	for k, v := range detail {
		d[k] = v
	}
	e.cfg.Recorder.Record(twilioapi.Entry{Time: e.now(), Sid: ex.sid, Kind: "flow", What: what, Detail: d})
}

// answer writes verbs as TwiML and returns the document, for retries to get it again.
func (e *Engine) answer(w http.ResponseWriter, verbs []twiml.Element) string {
	doc, err := twiml.Voice(verbs)
	if err != nil {
		twilioapi.WriteError(w, fmt.Errorf("rendering TwiML: %w", err))
		return ""
	}
	writeTwiML(w, doc)
	return doc
}

func writeTwiML(w http.ResponseWriter, doc string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(doc))
}

func (ex *execution) widgets() map[string]any { return ex.vars["widgets"].(map[string]any) }

func (ex *execution) flowVariables() map[string]any {
	return ex.vars["flow"].(map[string]any)["variables"].(map[string]any)
}

// formVars turns request parameters into Liquid variables (the first value of each).
func formVars(form url.Values) map[string]any {
	vars := make(map[string]any, len(form))
	for k := range form {
		vars[k] = form.Get(k)
	}
	return vars
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = deepCopy(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = deepCopy(val)
		}
		return out
	}
	return v
}
