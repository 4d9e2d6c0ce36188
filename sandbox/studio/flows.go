package studio

import (
	"net/http"
	"strconv"
	"time"

	"queuebridge/sandbox/internal/twilioapi"
)

// flow is a Studio flow: every save is a revision; the flow shows its latest revision and calls
// run its latest published one.
type flow struct {
	sid       string
	created   time.Time
	revisions []*revision // revisions[i].number == i+1
}

type revision struct {
	number        int
	friendlyName  string
	status        string
	commitMessage *string
	definition    any // as the client sent it, echoed back on fetch
	parsed        *Definition
	created       time.Time
}

func (f *flow) latest() *revision { return f.revisions[len(f.revisions)-1] }

// published is the revision calls run: the latest one saved as published.
func (f *flow) published() *revision {
	for i := len(f.revisions) - 1; i >= 0; i-- {
		if f.revisions[i].status == "published" {
			return f.revisions[i]
		}
	}
	return nil
}

// revisionFields are what Twilio's studio.v2.flow and studio.v2.flow.flow_revision share, in the
// order both answer them: a flow shows its latest revision.
type revisionFields struct {
	Sid           string  `json:"sid"`
	AccountSid    string  `json:"account_sid"`
	AuthorSid     *string `json:"author_sid"`
	FriendlyName  string  `json:"friendly_name"`
	Definition    any     `json:"definition"`
	Status        string  `json:"status"`
	Revision      int     `json:"revision"`
	CommitMessage *string `json:"commit_message"`
	Valid         bool    `json:"valid"`
	Errors        []any   `json:"errors"`
}

// flowResource is Twilio's studio.v2.flow.
type flowResource struct {
	revisionFields
	Warnings    []any             `json:"warnings"`
	DateCreated string            `json:"date_created"`
	DateUpdated string            `json:"date_updated"`
	WebhookURL  string            `json:"webhook_url"`
	URL         string            `json:"url"`
	Links       map[string]string `json:"links"`
}

// revisionResource is Twilio's studio.v2.flow.flow_revision.
type revisionResource struct {
	revisionFields
	DateCreated string `json:"date_created"`
	DateUpdated string `json:"date_updated"`
	URL         string `json:"url"`
}

// WebhookURL is where a number's VoiceUrl must point for calls to run the flow.
func (e *Engine) WebhookURL(flowSid string) string {
	return e.baseURL() + "/v1/Accounts/" + e.cfg.Credentials.AccountSid + "/Flows/" + flowSid
}

func (e *Engine) flowURL(flowSid string) string { return e.baseURL() + "/v2/Flows/" + flowSid }

func (e *Engine) revisionFields(f *flow, rev *revision, withDefinition bool) revisionFields {
	res := revisionFields{
		Sid: f.sid, AccountSid: e.cfg.Credentials.AccountSid, FriendlyName: rev.friendlyName,
		Status: rev.status, Revision: rev.number, CommitMessage: rev.commitMessage,
		Valid: true, Errors: []any{},
	}
	if withDefinition {
		res.Definition = rev.definition
	}
	return res
}

func (e *Engine) flowResource(f *flow, withDefinition bool) flowResource {
	rev := f.latest()
	return flowResource{
		revisionFields: e.revisionFields(f, rev, withDefinition),
		Warnings:       []any{},
		DateCreated:    twilioapi.RFC3339(f.created),
		DateUpdated:    twilioapi.RFC3339(rev.created),
		WebhookURL:     e.WebhookURL(f.sid),
		URL:            e.flowURL(f.sid),
		Links: map[string]string{
			"test_users": e.flowURL(f.sid) + "/TestUsers",
			"revisions":  e.flowURL(f.sid) + "/Revisions",
			"executions": e.flowURL(f.sid) + "/Executions",
		},
	}
}

func (e *Engine) revisionResource(f *flow, rev *revision, withDefinition bool) revisionResource {
	return revisionResource{
		revisionFields: e.revisionFields(f, rev, withDefinition),
		DateCreated:    twilioapi.RFC3339(rev.created),
		DateUpdated:    twilioapi.RFC3339(rev.created),
		URL:            e.flowURL(f.sid) + "/Revisions/" + strconv.Itoa(rev.number),
	}
}

// pathFlow is the flow the request's {sid} names; when there is none it writes Twilio's 404 and
// answers false. The caller holds e.mu.
func (e *Engine) pathFlow(w http.ResponseWriter, r *http.Request) (*flow, bool) {
	f, ok := e.flows[r.PathValue("sid")]
	if !ok {
		twilioapi.WriteError(w, twilioapi.NotFound("Flows", r.PathValue("sid")))
	}
	return f, ok
}

// flowParams are the form parameters of Flow create, update and validate.
type flowParams struct {
	friendlyName, status, definition, commitMessage *string
}

// readFlowParams reads and checks them; create (and validate) also require FriendlyName and
// Definition.
func readFlowParams(r *http.Request, create bool) (flowParams, error) {
	if err := r.ParseForm(); err != nil {
		return flowParams{}, twilioapi.Errorf(http.StatusBadRequest, 20001, "Unable to parse the request body: %v", err)
	}
	get := func(name string) *string {
		if _, ok := r.PostForm[name]; !ok {
			return nil
		}
		v := r.PostForm.Get(name)
		return &v
	}
	p := flowParams{get("FriendlyName"), get("Status"), get("Definition"), get("CommitMessage")}
	if p.status != nil && *p.status != "draft" && *p.status != "published" {
		return p, twilioapi.InvalidParam("Status", *p.status)
	}
	return p, requireParams(p, create)
}

func (e *Engine) createFlow(w http.ResponseWriter, r *http.Request) {
	p, err := readFlowParams(r, true)
	if err != nil {
		writeError(w, err)
		return
	}
	echo, parsed, err := parseDefinition(*p.definition)
	if err != nil {
		writeError(w, err)
		return
	}
	now := e.now()
	f := &flow{sid: twilioapi.NewSID("FW"), created: now}
	f.revisions = []*revision{{
		number: 1, friendlyName: *p.friendlyName, status: *p.status, commitMessage: p.commitMessage,
		definition: echo, parsed: parsed, created: now,
	}}
	e.mu.Lock()
	e.flows[f.sid] = f
	e.flowOrder = append(e.flowOrder, f.sid)
	res := e.flowResource(f, true)
	e.mu.Unlock()
	e.cfg.Logger.Info("studio flow created", "flow", f.sid, "status", *p.status)
	twilioapi.WriteJSON(w, http.StatusCreated, res)
}

func requireParams(p flowParams, create bool) error {
	if create && p.friendlyName == nil {
		return twilioapi.MissingParam("FriendlyName")
	}
	if p.status == nil {
		return twilioapi.MissingParam("Status")
	}
	if create && p.definition == nil {
		return twilioapi.MissingParam("Definition")
	}
	return nil
}

func (e *Engine) validateFlow(w http.ResponseWriter, r *http.Request) {
	p, err := readFlowParams(r, true)
	if err == nil {
		_, _, err = parseDefinition(*p.definition)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	twilioapi.WriteJSON(w, http.StatusOK, map[string]any{"valid": true})
}

func (e *Engine) updateFlow(w http.ResponseWriter, r *http.Request) {
	p, err := readFlowParams(r, false)
	if err != nil {
		writeError(w, err)
		return
	}
	var echo any
	var parsed *Definition
	if p.definition != nil {
		if echo, parsed, err = parseDefinition(*p.definition); err != nil {
			writeError(w, err)
			return
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.pathFlow(w, r)
	if !ok {
		return
	}
	prev := f.latest()
	rev := &revision{
		number: prev.number + 1, friendlyName: prev.friendlyName, status: *p.status,
		commitMessage: p.commitMessage, definition: prev.definition, parsed: prev.parsed, created: e.now(),
	}
	if p.friendlyName != nil {
		rev.friendlyName = *p.friendlyName
	}
	if parsed != nil {
		rev.definition, rev.parsed = echo, parsed
	}
	f.revisions = append(f.revisions, rev)
	e.cfg.Logger.Info("studio flow updated", "flow", f.sid, "revision", rev.number, "status", rev.status)
	twilioapi.WriteJSON(w, http.StatusOK, e.flowResource(f, true))
}

func (e *Engine) fetchFlow(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.pathFlow(w, r)
	if !ok {
		return
	}
	twilioapi.WriteJSON(w, http.StatusOK, e.flowResource(f, true))
}

// listFlows answers the flows without their definitions, as Twilio does: fetch one to read it.
func (e *Engine) listFlows(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	items := make([]flowResource, 0, len(e.flowOrder))
	for _, sid := range e.flowOrder {
		items = append(items, e.flowResource(e.flows[sid], false))
	}
	e.mu.Unlock()
	twilioapi.V1List(w, r, "flows", items)
}

func (e *Engine) deleteFlow(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	sid := r.PathValue("sid")
	if _, ok := e.flows[sid]; !ok {
		twilioapi.WriteError(w, twilioapi.NotFound("Flows", sid))
		return
	}
	delete(e.flows, sid)
	for i, s := range e.flowOrder {
		if s == sid {
			e.flowOrder = append(e.flowOrder[:i], e.flowOrder[i+1:]...)
			break
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

// listRevisions answers the newest revision first, without definitions.
func (e *Engine) listRevisions(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	f, ok := e.flows[r.PathValue("sid")]
	var items []revisionResource
	if ok {
		for i := len(f.revisions) - 1; i >= 0; i-- {
			items = append(items, e.revisionResource(f, f.revisions[i], false))
		}
	}
	e.mu.Unlock()
	if !ok {
		twilioapi.WriteError(w, twilioapi.NotFound("Flows", r.PathValue("sid")))
		return
	}
	twilioapi.V1List(w, r, "revisions", items)
}

// fetchRevision takes a revision number, or LatestPublished / LatestRevision as Twilio does.
func (e *Engine) fetchRevision(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	f, ok := e.pathFlow(w, r)
	if !ok {
		return
	}
	want := r.PathValue("revision")
	var rev *revision
	switch want {
	case "LatestPublished":
		rev = f.published()
	case "LatestRevision":
		rev = f.latest()
	default:
		if n, err := strconv.Atoi(want); err == nil && n >= 1 && n <= len(f.revisions) {
			rev = f.revisions[n-1]
		}
	}
	if rev == nil {
		twilioapi.WriteError(w, twilioapi.NotFound("Flows/"+f.sid+"/Revisions", want))
		return
	}
	twilioapi.WriteJSON(w, http.StatusOK, e.revisionResource(f, rev, true))
}
