package studio

import (
	"net/http"
	"slices"
	"time"

	"queuebridge/sandbox/internal/twilioapi"
)

// Execution is a snapshot of one run of a flow, for tests and the demo.
type Execution struct {
	Sid      string
	FlowSid  string
	CallSid  string
	Revision int
	Status   string // active | ended
	// Error says why the execution failed (an unsupported widget, a bad condition, a loop).
	Error string
	// Waiting is the widget whose TwiML the call is executing, "" when none.
	Waiting string
	Steps   []Step
	// Context is the Liquid context: trigger, widgets, flow, contact.
	Context map[string]any
	Created time.Time
	Updated time.Time
}

// Step is one transition of an execution.
type Step struct {
	Sid        string
	Event      string // e.g. incomingCall, keypress, match, callComplete
	From, To   string // widget names; To is "Ended" when the execution ended there
	WidgetType string // the type of From
	// Context holds the From widget's variables when the transition was taken.
	Context map[string]any
	Time    time.Time
}

// Executions returns the executions of a flow, oldest first.
func (e *Engine) Executions(flowSid string) []Execution {
	var out []Execution
	for _, ex := range e.executionsOf(flowSid) {
		out = append(out, ex.snapshot())
	}
	return out
}

// Execution returns one execution by its FN sid.
func (e *Engine) Execution(sid string) (Execution, bool) {
	e.mu.Lock()
	ex, ok := e.executions[sid]
	e.mu.Unlock()
	if !ok {
		return Execution{}, false
	}
	return ex.snapshot(), true
}

// ExecutionForCall returns the execution a call started, in any flow.
func (e *Engine) ExecutionForCall(callSid string) (Execution, bool) {
	e.mu.Lock()
	var found *execution
	for _, ex := range e.executions {
		if ex.callSid == callSid && (found == nil || ex.created.Before(found.created)) {
			found = ex
		}
	}
	e.mu.Unlock()
	if found == nil {
		return Execution{}, false
	}
	return found.snapshot(), true
}

func (e *Engine) executionsOf(flowSid string) []*execution {
	e.mu.Lock()
	defer e.mu.Unlock()
	var list []*execution
	for _, ex := range e.executions {
		if ex.flowSid == flowSid {
			list = append(list, ex)
		}
	}
	slices.SortFunc(list, func(a, b *execution) int { return a.created.Compare(b.created) })
	return list
}

func (ex *execution) snapshot() Execution {
	ex.mu.Lock()
	defer ex.mu.Unlock()
	out := Execution{
		Sid: ex.sid, FlowSid: ex.flowSid, CallSid: ex.callSid, Revision: ex.revision,
		Status: ex.status, Error: ex.failure, Created: ex.created, Updated: ex.updated,
	}
	out.Context, _ = deepCopy(ex.vars).(map[string]any)
	if ex.waiting != nil {
		out.Waiting = ex.waiting.state.Name
	}
	for _, st := range ex.steps {
		ctx, _ := deepCopy(st.context).(map[string]any)
		out.Steps = append(out.Steps, Step{
			Sid: st.sid, Event: st.event, From: st.from, To: st.to, WidgetType: st.widgetType,
			Context: ctx, Time: st.created,
		})
	}
	return out
}

// The REST side: Twilio's Executions, Execution Context and Steps, read-only.

type executionResource struct {
	Sid                   string            `json:"sid"`
	AccountSid            string            `json:"account_sid"`
	FlowSid               string            `json:"flow_sid"`
	ContactChannelAddress string            `json:"contact_channel_address"`
	ContactSid            string            `json:"contact_sid"`
	FlowVersion           int               `json:"flow_version"`
	Context               map[string]any    `json:"context"`
	Status                string            `json:"status"`
	DateCreated           string            `json:"date_created"`
	DateUpdated           string            `json:"date_updated"`
	InitiatedBy           string            `json:"initiated_by"`
	URL                   string            `json:"url"`
	Links                 map[string]string `json:"links"`
}

type stepResource struct {
	Sid              string            `json:"sid"`
	AccountSid       string            `json:"account_sid"`
	FlowSid          string            `json:"flow_sid"`
	ExecutionSid     string            `json:"execution_sid"`
	ParentStepSid    *string           `json:"parent_step_sid"`
	Name             string            `json:"name"`
	Context          map[string]any    `json:"context"`
	TransitionedFrom string            `json:"transitioned_from"`
	TransitionedTo   string            `json:"transitioned_to"`
	Type             string            `json:"type"`
	DateCreated      string            `json:"date_created"`
	DateUpdated      string            `json:"date_updated"`
	URL              string            `json:"url"`
	Links            map[string]string `json:"links"`
}

func (e *Engine) executionURL(flowSid, sid string) string {
	return e.flowURL(flowSid) + "/Executions/" + sid
}

func (e *Engine) executionResource(ex *execution) executionResource {
	snap := ex.snapshot()
	ex.mu.Lock()
	contactSid, address := ex.contactSid, ex.contactAddress
	ex.mu.Unlock()
	u := e.executionURL(ex.flowSid, ex.sid)
	return executionResource{
		Sid: ex.sid, AccountSid: e.cfg.Credentials.AccountSid, FlowSid: ex.flowSid,
		ContactChannelAddress: address, ContactSid: contactSid, FlowVersion: snap.Revision,
		Context: snap.Context, Status: snap.Status,
		DateCreated: twilioapi.RFC3339(snap.Created), DateUpdated: twilioapi.RFC3339(snap.Updated),
		InitiatedBy: ex.callSid, URL: u,
		Links: map[string]string{"steps": u + "/Steps", "execution_context": u + "/Context"},
	}
}

func (e *Engine) stepResource(ex *execution, st Step) stepResource {
	u := e.executionURL(ex.flowSid, ex.sid) + "/Steps/" + st.Sid
	return stepResource{
		Sid: st.Sid, AccountSid: e.cfg.Credentials.AccountSid, FlowSid: ex.flowSid, ExecutionSid: ex.sid,
		Name: st.Event, Context: st.Context, TransitionedFrom: st.From, TransitionedTo: st.To,
		Type: st.WidgetType, DateCreated: twilioapi.RFC3339(st.Time), DateUpdated: twilioapi.RFC3339(st.Time),
		URL: u, Links: map[string]string{"step_context": u + "/Context"},
	}
}

// lookupExecution finds the execution of the request's path, answering 404 when there is none.
func (e *Engine) lookupExecution(w http.ResponseWriter, r *http.Request) (*execution, bool) {
	e.mu.Lock()
	ex, ok := e.executions[r.PathValue("execution")]
	e.mu.Unlock()
	if !ok || ex.flowSid != r.PathValue("sid") {
		twilioapi.WriteError(w, twilioapi.NotFound("Executions", r.PathValue("execution")))
		return nil, false
	}
	return ex, true
}

// listExecutions answers newest first, without the context (fetch the Context to read it).
func (e *Engine) listExecutions(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	_, ok := e.flows[r.PathValue("sid")]
	e.mu.Unlock()
	if !ok {
		twilioapi.WriteError(w, twilioapi.NotFound("Flows", r.PathValue("sid")))
		return
	}
	list := e.executionsOf(r.PathValue("sid"))
	items := make([]executionResource, 0, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		res := e.executionResource(list[i])
		res.Context = nil
		items = append(items, res)
	}
	twilioapi.V1List(w, r, "executions", items)
}

func (e *Engine) fetchExecution(w http.ResponseWriter, r *http.Request) {
	if ex, ok := e.lookupExecution(w, r); ok {
		twilioapi.WriteJSON(w, http.StatusOK, e.executionResource(ex))
	}
}

func (e *Engine) fetchExecutionContext(w http.ResponseWriter, r *http.Request) {
	ex, ok := e.lookupExecution(w, r)
	if !ok {
		return
	}
	snap := ex.snapshot()
	twilioapi.WriteJSON(w, http.StatusOK, map[string]any{
		"account_sid": e.cfg.Credentials.AccountSid, "context": snap.Context, "flow_sid": ex.flowSid,
		"execution_sid": ex.sid, "url": e.executionURL(ex.flowSid, ex.sid) + "/Context",
	})
}

func (e *Engine) listSteps(w http.ResponseWriter, r *http.Request) {
	ex, ok := e.lookupExecution(w, r)
	if !ok {
		return
	}
	snap := ex.snapshot()
	items := make([]stepResource, 0, len(snap.Steps))
	for _, st := range snap.Steps {
		res := e.stepResource(ex, st)
		res.Context = nil
		items = append(items, res)
	}
	twilioapi.V1List(w, r, "steps", items)
}

func (e *Engine) fetchStep(w http.ResponseWriter, r *http.Request) {
	ex, ok := e.lookupExecution(w, r)
	if !ok {
		return
	}
	for _, st := range ex.snapshot().Steps {
		if st.Sid == r.PathValue("step") {
			twilioapi.WriteJSON(w, http.StatusOK, e.stepResource(ex, st))
			return
		}
	}
	twilioapi.WriteError(w, twilioapi.NotFound("Steps", r.PathValue("step")))
}

// updateExecution ends an active execution (Status=ended), as Twilio allows: a call still in the
// flow then gets <Hangup/> on its next request.
func (e *Engine) updateExecution(w http.ResponseWriter, r *http.Request) {
	ex, ok := e.lookupExecution(w, r)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		twilioapi.WriteError(w, twilioapi.Errorf(http.StatusBadRequest, 20001, "Unable to parse the request body: %v", err))
		return
	}
	status := r.PostForm.Get("Status")
	switch status {
	case "":
		twilioapi.WriteError(w, twilioapi.MissingParam("Status"))
		return
	case "ended":
	default:
		twilioapi.WriteError(w, twilioapi.InvalidParam("Status", status))
		return
	}
	ex.mu.Lock()
	if ex.status == "active" {
		ex.waiting = nil
		e.record(ex, "execution ended over REST", nil)
		e.end(ex)
	}
	ex.mu.Unlock()
	twilioapi.WriteJSON(w, http.StatusOK, e.executionResource(ex))
}

// deleteExecution forgets an execution and its steps; its call's later requests find nothing.
func (e *Engine) deleteExecution(w http.ResponseWriter, r *http.Request) {
	ex, ok := e.lookupExecution(w, r)
	if !ok {
		return
	}
	e.mu.Lock()
	delete(e.executions, ex.sid)
	delete(e.byCall, ex.flowSid+"/"+ex.callSid)
	e.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}
