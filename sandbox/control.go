package sandbox

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"queuebridge/sandbox/internal/twilioapi"
	"queuebridge/sandbox/messaging"
	"queuebridge/sandbox/voice"
)

// The control surface speaks plain JSON, not Twilio's dialect: it is the sandbox's own API for
// tests, demos and cmd/sandbox. Errors are {"error": "..."} with a 4xx status.

// controlError is the control surface's error body.
type controlError struct {
	Error string `json:"error"`
}

func writeControlError(w http.ResponseWriter, status int, format string, args ...any) {
	twilioapi.WriteJSON(w, status, controlError{Error: fmt.Sprintf(format, args...)})
}

// controlAuth lets through requests with the sandbox's credentials in Basic auth, as the REST
// APIs do, so a sandbox on a shared machine is not driven by anyone who finds the port.
func (s *Sandbox) controlAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(user), []byte(s.creds.AccountSid)) != 1 ||
			subtle.ConstantTimeCompare([]byte(pass), []byte(s.creds.AuthToken)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="queuebridge sandbox"`)
			writeControlError(w, http.StatusUnauthorized, "the sandbox's account SID and auth token are required as Basic auth")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// decodeJSON reads a JSON body into v, refusing unknown fields so a typo is an error rather
// than a silently ignored setting.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			return fmt.Errorf("content type %q: send application/json", ct)
		}
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return errors.New("empty body: send a JSON object")
		}
		return fmt.Errorf("invalid JSON body: %w", err)
	}
	return nil
}

// routeList is what GET /sandbox/ answers: enough for a person with curl to find their way.
func routeList() []string {
	return []string{
		"POST /sandbox/calls {\"from\",\"to\"}: place an inbound call, answers its sid",
		"GET /sandbox/calls: every call with its status",
		"GET /sandbox/calls/{sid}: one call with its timeline",
		"PUT /sandbox/personas/{number} {\"kind\",...}: script who answers or calls from number",
		"POST /sandbox/numbers {\"phone_number\",\"friendly_name\"}: add a sandbox phone number",
		"POST /sandbox/caller-ids {\"phone_number\"}: verify an outgoing caller ID (a From Calls.create accepts)",
		"PUT /sandbox/voice/webhook-faults {\"seed\",\"drop\",\"duplicate\",\"delay\",\"reorder\",\"kinds\"}: make Voice webhooks misbehave",
		"PUT /sandbox/voice/options {\"refuse_cancel_in_progress\"}: choose where Twilio's docs are silent",
		"PUT /sandbox/taskrouter/options {\"reoffer_rejected\",\"timeouts_count_as_rejections\",\"event_redeliveries\",\"empty_target_workers_wait\"}: TaskRouter's choices where Twilio's docs are silent",
		"GET /sandbox/tasks, /sandbox/tasks/{sid}: TaskRouter tasks with their reservations",
		"GET /sandbox/workers: workers with their activities",
		"GET /sandbox/timeline/{sid}?after=N: a call's, task's or reservation's story",
		"GET /sandbox/events?after=N&kind=K: the whole event log",
		"GET /sandbox/messages: every SMS created, with its status",
		"PUT /sandbox/messaging/numbers/{number} {\"line_type\"}: mobile (default) or landline",
		"PUT /sandbox/messaging/opt-outs {\"from\",\"to\",\"opted_out\"}: to replied STOP to from (21610)",
		"PUT /sandbox/messaging/options {\"landline\"}: reject (21635, default) or attempt (undelivered, 30006)",
	}
}

func (s *Sandbox) handleIndex(w http.ResponseWriter, _ *http.Request) {
	twilioapi.WriteJSON(w, http.StatusOK, map[string]any{
		"sandbox":        "queuebridge sandbox: a stand-in for Twilio",
		"account_sid":    s.creds.AccountSid,
		"default_number": DefaultNumber,
		"routes":         routeList(),
	})
}

type placeCallRequest struct {
	From string `json:"from"`
	To   string `json:"to"`
}

type placeCallResponse struct {
	Sid      string `json:"sid"`
	From     string `json:"from"`
	To       string `json:"to"`
	Timeline string `json:"timeline"`
}

func (s *Sandbox) handlePlaceCall(w http.ResponseWriter, r *http.Request) {
	var req placeCallRequest
	if err := decodeJSON(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, "place call: %v", err)
		return
	}
	if req.To == "" {
		req.To = DefaultNumber
	}
	if !e164(req.From) {
		writeControlError(w, http.StatusBadRequest, "place call: from %q is not an E.164 number (+15551234567)", req.From)
		return
	}
	if !e164(req.To) {
		writeControlError(w, http.StatusBadRequest, "place call: to %q is not an E.164 number (+15551234567)", req.To)
		return
	}
	// The call outlives the request: its context must not be the request's.
	sid, err := s.PlaceCall(context.WithoutCancel(r.Context()), req.From, req.To)
	if err != nil {
		var te *twilioapi.Error
		if errors.As(err, &te) && te.Status == http.StatusNotFound {
			writeControlError(w, http.StatusNotFound, "place call: %s is not one of the sandbox's numbers (seed it with POST /sandbox/numbers)", req.To)
			return
		}
		writeControlError(w, http.StatusBadRequest, "place call: %v", err)
		return
	}
	twilioapi.WriteJSON(w, http.StatusCreated, placeCallResponse{Sid: sid, From: req.From, To: req.To, Timeline: "/sandbox/timeline/" + sid})
}

func (s *Sandbox) handleListCalls(w http.ResponseWriter, _ *http.Request) {
	twilioapi.WriteJSON(w, http.StatusOK, map[string]any{"calls": s.voice.Calls()})
}

func (s *Sandbox) handleGetCall(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	c, ok := s.voice.Call(sid)
	if !ok {
		writeControlError(w, http.StatusNotFound, "no call %s", sid)
		return
	}
	twilioapi.WriteJSON(w, http.StatusOK, c)
}

func (s *Sandbox) handleSetPersona(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	if !e164(number) {
		writeControlError(w, http.StatusBadRequest, "persona: %q is not an E.164 number (+15551234567; encode + as %%2B in a URL if your client turns it into a space)", number)
		return
	}
	// Persona decodes itself, out of reach of DisallowUnknownFields: check the keys first, so
	// "answer" for "answer_after" is an error rather than a persona with default timings.
	var raw map[string]json.RawMessage
	if err := decodeJSON(r, &raw); err != nil {
		writeControlError(w, http.StatusBadRequest, "persona for %s: %v", number, err)
		return
	}
	for k := range raw {
		if !isPersonaField(k) {
			writeControlError(w, http.StatusBadRequest, "persona for %s: unknown field %q (known: kind, answer_after, greeting, greeting_end, beep, talk_for, hang_up_after, patience, digits, message_length)", number, k)
			return
		}
	}
	data, _ := json.Marshal(raw)
	var p voice.Persona
	if err := json.Unmarshal(data, &p); err != nil {
		writeControlError(w, http.StatusBadRequest, "persona for %s: %v", number, err)
		return
	}
	s.SetPersona(number, p)
	twilioapi.WriteJSON(w, http.StatusOK, map[string]any{"number": number, "persona": p})
}

// isPersonaField reports whether voice.Persona reads key from JSON.
func isPersonaField(key string) bool {
	switch key {
	case "kind", "answer_after", "greeting", "greeting_end", "beep", "talk_for",
		"hang_up_after", "patience", "digits", "press_after", "message_length":
		return true
	}
	return false
}

type seedNumberRequest struct {
	PhoneNumber  string `json:"phone_number"`
	FriendlyName string `json:"friendly_name"`
}

func (s *Sandbox) handleSeedNumber(w http.ResponseWriter, r *http.Request) {
	var req seedNumberRequest
	if err := decodeJSON(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, "seed number: %v", err)
		return
	}
	if !e164(req.PhoneNumber) {
		writeControlError(w, http.StatusBadRequest, "seed number: phone_number %q is not an E.164 number", req.PhoneNumber)
		return
	}
	sid := s.SeedNumber(req.PhoneNumber, req.FriendlyName)
	twilioapi.WriteJSON(w, http.StatusCreated, map[string]string{"sid": sid, "phone_number": req.PhoneNumber})
}

func (s *Sandbox) handleVerifyCallerID(w http.ResponseWriter, r *http.Request) {
	var req struct {
		PhoneNumber string `json:"phone_number"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, "verify caller ID: %v", err)
		return
	}
	if !e164(req.PhoneNumber) {
		writeControlError(w, http.StatusBadRequest, "verify caller ID: phone_number %q is not an E.164 number", req.PhoneNumber)
		return
	}
	sid := s.voice.VerifyCallerID(req.PhoneNumber)
	twilioapi.WriteJSON(w, http.StatusCreated, map[string]string{"sid": sid, "phone_number": req.PhoneNumber})
}

type webhookFaultsRequest struct {
	Seed      int64    `json:"seed"`
	Drop      float64  `json:"drop"`
	Duplicate bool     `json:"duplicate"`
	Delay     string   `json:"delay"`
	Reorder   bool     `json:"reorder"`
	Kinds     []string `json:"kinds"`
}

var webhookKinds = []string{voice.HookTwiML, voice.HookStatus, voice.HookDialAction, voice.HookEnqueueAction, voice.HookWaitURL, voice.HookAsyncAMD}

func (s *Sandbox) handleWebhookFaults(w http.ResponseWriter, r *http.Request) {
	var req webhookFaultsRequest
	if err := decodeJSON(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, "webhook faults: %v", err)
		return
	}
	f := voice.WebhookFaults{Seed: req.Seed, Drop: req.Drop, Duplicate: req.Duplicate, Reorder: req.Reorder, Kinds: req.Kinds}
	if req.Drop < 0 || req.Drop > 1 {
		writeControlError(w, http.StatusBadRequest, "webhook faults: drop %v: want a fraction from 0 to 1", req.Drop)
		return
	}
	if req.Delay != "" {
		d, err := time.ParseDuration(req.Delay)
		if err != nil || d < 0 {
			writeControlError(w, http.StatusBadRequest, "webhook faults: delay %q: want a Go duration (\"200ms\")", req.Delay)
			return
		}
		f.Delay = d
	}
	for _, k := range req.Kinds {
		if !slices.Contains(webhookKinds, k) {
			writeControlError(w, http.StatusBadRequest, "webhook faults: unknown kind %q (known: %s)", k, strings.Join(webhookKinds, ", "))
			return
		}
	}
	s.voice.SetWebhookFaults(f)
	twilioapi.WriteJSON(w, http.StatusOK, map[string]any{"webhook_faults": req})
}

func (s *Sandbox) handleVoiceOptions(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefuseCancelInProgress bool `json:"refuse_cancel_in_progress"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, "voice options: %v", err)
		return
	}
	s.voice.SetCancelInProgress(req.RefuseCancelInProgress)
	twilioapi.WriteJSON(w, http.StatusOK, req)
}

// taskRouterOptions are TaskRouter's choices where Twilio's documentation is silent or
// contradicts itself; a PUT changes the fields it names and answers them all.
type taskRouterOptions struct {
	ReofferRejected           *bool `json:"reoffer_rejected"`
	TimeoutsCountAsRejections *bool `json:"timeouts_count_as_rejections"`
	EventRedeliveries         *int  `json:"event_redeliveries"`
	EmptyTargetWorkersWait    *bool `json:"empty_target_workers_wait"`
}

func (s *Sandbox) handleTaskRouterOptions(w http.ResponseWriter, r *http.Request) {
	var req taskRouterOptions
	if err := decodeJSON(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, "taskrouter options: %v", err)
		return
	}
	if req.EventRedeliveries != nil && (*req.EventRedeliveries < 0 || *req.EventRedeliveries > 10) {
		writeControlError(w, http.StatusBadRequest, "taskrouter options: event_redeliveries must be 0 to 10, got %d", *req.EventRedeliveries)
		return
	}
	if req.ReofferRejected != nil {
		s.tr.SetReofferRejected(*req.ReofferRejected)
	}
	if req.TimeoutsCountAsRejections != nil {
		s.tr.SetTimeoutsCountAsRejections(*req.TimeoutsCountAsRejections)
	}
	if req.EventRedeliveries != nil {
		s.tr.SetEventRedeliveries(*req.EventRedeliveries)
	}
	if req.EmptyTargetWorkersWait != nil {
		s.tr.SetEmptyTargetWorkersWait(*req.EmptyTargetWorkersWait)
	}
	o := s.tr.Options()
	reoffer := !o.NoReoffer
	twilioapi.WriteJSON(w, http.StatusOK, taskRouterOptions{ReofferRejected: &reoffer,
		TimeoutsCountAsRejections: &o.TimeoutsCountAsRejections, EventRedeliveries: &o.EventRedeliveries,
		EmptyTargetWorkersWait: &o.EmptyTargetWorkersWait})
}

// taskView is a task as the control surface shows it: its state and its reservations'.
type taskView struct {
	Sid              string            `json:"sid"`
	WorkspaceSid     string            `json:"workspace_sid"`
	WorkflowSid      string            `json:"workflow_sid"`
	TaskQueueSid     string            `json:"task_queue_sid,omitempty"`
	AssignmentStatus string            `json:"assignment_status"`
	Reason           string            `json:"reason,omitempty"`
	Attributes       map[string]any    `json:"attributes"`
	Reservations     []reservationView `json:"reservations"`
}

type reservationView struct {
	Sid               string `json:"sid"`
	WorkerSid         string `json:"worker_sid"`
	ReservationStatus string `json:"reservation_status"`
}

func (s *Sandbox) taskView(sid string) (taskView, bool) {
	t, ok := s.tr.Task(sid)
	if !ok {
		return taskView{}, false
	}
	v := taskView{Sid: t.Sid, WorkspaceSid: t.WorkspaceSid, WorkflowSid: t.WorkflowSid, TaskQueueSid: t.TaskQueueSid,
		AssignmentStatus: t.AssignmentStatus, Reason: t.Reason, Attributes: t.Attributes, Reservations: []reservationView{}}
	for _, r := range s.tr.TaskReservations(sid) {
		v.Reservations = append(v.Reservations, reservationView{Sid: r.Sid, WorkerSid: r.WorkerSid, ReservationStatus: r.ReservationStatus})
	}
	return v, true
}

func (s *Sandbox) handleListTasks(w http.ResponseWriter, _ *http.Request) {
	tasks := []taskView{}
	for _, t := range s.tr.Tasks() {
		if v, ok := s.taskView(t.Sid); ok {
			tasks = append(tasks, v)
		}
	}
	twilioapi.WriteJSON(w, http.StatusOK, map[string]any{"tasks": tasks})
}

func (s *Sandbox) handleGetTask(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	v, ok := s.taskView(sid)
	if !ok {
		writeControlError(w, http.StatusNotFound, "no task %s", sid)
		return
	}
	twilioapi.WriteJSON(w, http.StatusOK, v)
}

type workerView struct {
	Sid          string         `json:"sid"`
	WorkspaceSid string         `json:"workspace_sid"`
	FriendlyName string         `json:"friendly_name"`
	ActivitySid  string         `json:"activity_sid"`
	ActivityName string         `json:"activity_name"`
	Available    bool           `json:"available"`
	Attributes   map[string]any `json:"attributes"`
}

func (s *Sandbox) handleListWorkers(w http.ResponseWriter, _ *http.Request) {
	workers := []workerView{}
	for _, wk := range s.tr.Workers() {
		workers = append(workers, workerView{Sid: wk.Sid, WorkspaceSid: wk.WorkspaceSid, FriendlyName: wk.FriendlyName,
			ActivitySid: wk.ActivitySid, ActivityName: wk.ActivityName, Available: wk.Available, Attributes: wk.Attributes})
	}
	twilioapi.WriteJSON(w, http.StatusOK, map[string]any{"workers": workers})
}

// entriesPage is a slice of a timeline. Next is what to pass as ?after= to get only what
// happened since: pollers (cmd/sandbox call) print a timeline as it grows that way.
type entriesPage struct {
	Sid     string  `json:"sid,omitempty"`
	Entries []Entry `json:"entries"`
	Next    int     `json:"next"`
}

func pageAfter(r *http.Request, entries []Entry) (entriesPage, error) {
	after := 0
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return entriesPage{}, fmt.Errorf("after %q: want a count of entries already seen (0 or more)", v)
		}
		after = n
	}
	page := entriesPage{Entries: []Entry{}, Next: len(entries)}
	if after < len(entries) {
		page.Entries = entries[after:]
	}
	return page, nil
}

func (s *Sandbox) handleTimeline(w http.ResponseWriter, r *http.Request) {
	sid := r.PathValue("sid")
	if len(sid) != 34 || !strings.Contains("CA WT WR WK EV FN", sid[:2]) {
		writeControlError(w, http.StatusBadRequest, "timeline: %q is not a call (CA…), task (WT…), reservation (WR…), worker (WK…) or execution (FN…) SID", sid)
		return
	}
	page, err := pageAfter(r, s.Timeline(sid))
	if err != nil {
		writeControlError(w, http.StatusBadRequest, "timeline: %v", err)
		return
	}
	page.Sid = sid
	twilioapi.WriteJSON(w, http.StatusOK, page)
}

func (s *Sandbox) handleEvents(w http.ResponseWriter, r *http.Request) {
	entries := s.Timeline("")
	if kind := r.URL.Query().Get("kind"); kind != "" {
		kept := entries[:0:0]
		for _, e := range entries {
			if e.Kind == kind {
				kept = append(kept, e)
			}
		}
		entries = kept
	}
	page, err := pageAfter(r, entries)
	if err != nil {
		writeControlError(w, http.StatusBadRequest, "events: %v", err)
		return
	}
	twilioapi.WriteJSON(w, http.StatusOK, page)
}

func (s *Sandbox) handleListMessages(w http.ResponseWriter, _ *http.Request) {
	twilioapi.WriteJSON(w, http.StatusOK, map[string]any{"messages": s.msg.Messages()})
}

func (s *Sandbox) handleMessagingNumber(w http.ResponseWriter, r *http.Request) {
	number := r.PathValue("number")
	if !e164(number) {
		writeControlError(w, http.StatusBadRequest, "messaging number: %q is not an E.164 number (encode + as %%2B)", number)
		return
	}
	var req struct {
		LineType string `json:"line_type"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, "messaging number %s: %v", number, err)
		return
	}
	t := messaging.LineType(req.LineType)
	if t != messaging.Mobile && t != messaging.Landline {
		writeControlError(w, http.StatusBadRequest, "messaging number %s: line_type %q: want mobile or landline", number, req.LineType)
		return
	}
	s.msg.SetLineType(number, t)
	twilioapi.WriteJSON(w, http.StatusOK, map[string]string{"number": number, "line_type": string(t)})
}

func (s *Sandbox) handleOptOut(w http.ResponseWriter, r *http.Request) {
	var req struct {
		From     string `json:"from"`
		To       string `json:"to"`
		OptedOut *bool  `json:"opted_out"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, "opt-out: %v", err)
		return
	}
	if !e164(req.From) || !e164(req.To) || req.OptedOut == nil {
		writeControlError(w, http.StatusBadRequest, "opt-out: want {\"from\", \"to\": E.164 numbers, \"opted_out\": true or false}")
		return
	}
	s.msg.SetOptedOut(req.From, req.To, *req.OptedOut)
	twilioapi.WriteJSON(w, http.StatusOK, map[string]any{"from": req.From, "to": req.To, "opted_out": *req.OptedOut})
}

func (s *Sandbox) handleMessagingOptions(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Landline string `json:"landline"`
	}
	if err := decodeJSON(r, &req); err != nil {
		writeControlError(w, http.StatusBadRequest, "messaging options: %v", err)
		return
	}
	p := messaging.LandlinePolicy(req.Landline)
	if p != messaging.LandlineReject && p != messaging.LandlineAttempt {
		writeControlError(w, http.StatusBadRequest, "messaging options: landline %q: want reject or attempt", req.Landline)
		return
	}
	s.msg.SetLandline(p)
	twilioapi.WriteJSON(w, http.StatusOK, map[string]string{"landline": string(p)})
}
