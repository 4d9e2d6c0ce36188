// Package messaging is the sandbox's stand-in for Twilio Programmable Messaging's Message
// resource (API 2010-04-01): create, fetch and list SMS, with Twilio's errors for a From the
// account does not own (21606), a recipient who opted out of that sender (21610) and a landline
// (21635, or an attempted delivery that ends undelivered with 30006), and signed status
// callbacks on the sandbox clock. Nothing is delivered anywhere: the far end of each number is
// configured (line type, opt-outs). It plays only Twilio's published behaviour; where the docs
// leave a choice (landline handling by country) it is an option. docs/SANDBOX.md lists each
// behaviour with its source.
//
// # Model
//
//   - Create: To required (21604) and E.164 (21211); Body required (21602); From one of the
//     account's phone numbers (21606); StatusCallback an absolute http(s) URL. A refused create
//     is 400 with Twilio's error JSON, creates no message, and is on the timeline.
//   - Accepted: 201, status queued; sent 1 s later (sandbox clock), then delivered 1 s after
//     that, or, for a landline with SetLandline(LandlineAttempt), undelivered with ErrorCode
//     30006. A status callback (signed form POST) is sent for sent and for the final status.
//   - Opt-out: per (From, To) pair (Twilio keeps STOP per sender): SetOptedOut.
package messaging

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/twilioapi"
)

// LineType is what the far end of a number is.
type LineType string

const (
	Mobile   LineType = "mobile"
	Landline LineType = "landline"
)

// LandlinePolicy is what Twilio does with an SMS to a landline: the docs say it depends on the
// destination country.
type LandlinePolicy string

const (
	// LandlineReject refuses the create with 21635 (most countries). The default.
	LandlineReject LandlinePolicy = "reject"
	// LandlineAttempt accepts it and the delivery ends undelivered with 30006 (US, Canada, UK).
	LandlineAttempt LandlinePolicy = "attempt"
)

// Config builds an Engine.
type Config struct {
	Clock       clock.Clock
	Credentials twilioapi.Credentials
	Webhooks    *twilioapi.Webhooks
	Recorder    *twilioapi.Recorder
	Logger      *slog.Logger
	// OwnsNumber reports whether a number is one of the account's phone numbers (Voice's
	// IncomingPhoneNumbers): the only Froms a message may have.
	OwnsNumber func(string) bool
}

// Message is a message as the API, tests and the demo see it.
type Message struct {
	Sid            string    `json:"sid"`
	From           string    `json:"from"`
	To             string    `json:"to"`
	Body           string    `json:"body"`
	Status         string    `json:"status"`
	ErrorCode      int       `json:"error_code,omitempty"`
	StatusCallback string    `json:"status_callback,omitempty"`
	DateCreated    time.Time `json:"date_created"`
	DateUpdated    time.Time `json:"date_updated"`
	DateSent       time.Time `json:"date_sent"`
}

// Engine is the Messages model.
type Engine struct {
	cfg Config

	mu        sync.Mutex
	messages  []*Message
	lineTypes map[string]LineType
	optedOut  map[[2]string]bool
	landline  LandlinePolicy
	timers    []clock.Timer
	closed    bool
	inflight  sync.WaitGroup
}

// New builds an engine.
func New(cfg Config) *Engine {
	if cfg.OwnsNumber == nil {
		cfg.OwnsNumber = func(string) bool { return false }
	}
	return &Engine{cfg: cfg, lineTypes: map[string]LineType{}, optedOut: map[[2]string]bool{}, landline: LandlineReject}
}

// SetLineType says what the far end of number is (mobile by default).
func (e *Engine) SetLineType(number string, t LineType) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lineTypes[number] = t
}

// SetOptedOut makes to have replied STOP to from (out=false: START).
func (e *Engine) SetOptedOut(from, to string, out bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.optedOut[[2]string{from, to}] = out
}

// SetLandline chooses what an SMS to a landline does.
func (e *Engine) SetLandline(p LandlinePolicy) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.landline = p
}

// Messages returns every message created, oldest first.
func (e *Engine) Messages() []Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Message, 0, len(e.messages))
	for _, m := range e.messages {
		out = append(out, *m)
	}
	return out
}

// Close stops the pending status changes and waits for the callbacks in flight.
func (e *Engine) Close() {
	e.mu.Lock()
	e.closed = true
	for _, t := range e.timers {
		if t.Stop() {
			e.inflight.Done() // its function will never run
		}
	}
	e.mu.Unlock()
	e.inflight.Wait()
}

const apiPrefix = "/2010-04-01/Accounts/{ac}/"

// Handler serves the Message resource.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+apiPrefix+"Messages.json", e.auth(e.create))
	mux.HandleFunc("GET "+apiPrefix+"Messages.json", e.auth(e.list))
	mux.HandleFunc("GET "+apiPrefix+"Messages/{file}", e.auth(e.fetch))
	for _, path := range []string{"Messages.json", "Messages/{file}"} {
		mux.HandleFunc(apiPrefix+path, func(w http.ResponseWriter, r *http.Request) {
			twilioapi.WriteError(w, twilioapi.Errorf(http.StatusMethodNotAllowed, 20004, "Method not allowed"))
		})
	}
	return mux
}

func (e *Engine) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := e.cfg.Credentials.Authenticate(r); err != nil {
			twilioapi.WriteError(w, err)
			return
		}
		if r.PathValue("ac") != e.cfg.Credentials.AccountSid {
			twilioapi.WriteError(w, twilioapi.Errorf(http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path))
			return
		}
		next(w, r)
	}
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func (e *Engine) record(sid, what string, detail map[string]string) {
	if e.cfg.Recorder != nil {
		e.cfg.Recorder.Record(twilioapi.Entry{Time: e.cfg.Clock.Now(), Sid: sid, Kind: "message", What: what, Detail: detail})
	}
}

// refuse answers a refused create and puts it on the timeline (under the To number).
func (e *Engine) refuse(w http.ResponseWriter, from, to string, err *twilioapi.Error) {
	e.record(to, "create refused", map[string]string{"from": from, "to": to, "error_code": strconv.Itoa(err.Code)})
	twilioapi.WriteError(w, err)
}

func (e *Engine) create(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		twilioapi.WriteError(w, twilioapi.Errorf(http.StatusBadRequest, 20001, "Invalid form body: %v", err))
		return
	}
	f := r.PostForm
	from, to, body, cb := f.Get("From"), f.Get("To"), f.Get("Body"), f.Get("StatusCallback")
	switch {
	case to == "":
		e.refuse(w, from, to, twilioapi.Errorf(http.StatusBadRequest, 21604, "A 'To' phone number is required."))
		return
	case !e164.MatchString(to):
		e.refuse(w, from, to, twilioapi.Errorf(http.StatusBadRequest, 21211, "The 'To' number %s is not a valid phone number.", to))
		return
	case body == "" && f.Get("MediaUrl") == "" && f.Get("ContentSid") == "":
		e.refuse(w, from, to, twilioapi.Errorf(http.StatusBadRequest, 21602, "Message body is required."))
		return
	case f.Get("MessagingServiceSid") == "" && !e.cfg.OwnsNumber(from):
		e.refuse(w, from, to, twilioapi.Errorf(http.StatusBadRequest, 21606,
			"The 'From' phone number provided (%s) is not a valid message-capable Twilio phone number for this destination.", from))
		return
	case cb != "" && !validURL(cb):
		e.refuse(w, from, to, twilioapi.InvalidParam("StatusCallback", cb))
		return
	}
	now := e.cfg.Clock.Now()
	e.mu.Lock()
	if e.optedOut[[2]string{from, to}] {
		e.mu.Unlock()
		e.refuse(w, from, to, twilioapi.Errorf(http.StatusBadRequest, 21610, "Attempt to send to unsubscribed recipient"))
		return
	}
	landline := e.lineTypes[to] == Landline
	if landline && e.landline != LandlineAttempt {
		e.mu.Unlock()
		e.refuse(w, from, to, twilioapi.Errorf(http.StatusBadRequest, 21635, "'To' number cannot be a landline"))
		return
	}
	m := &Message{Sid: twilioapi.NewSID("SM"), From: from, To: to, Body: body, Status: "queued", StatusCallback: cb,
		DateCreated: now, DateUpdated: now}
	e.messages = append(e.messages, m)
	resp := e.jsonLocked(m)
	final, code := "delivered", 0
	if landline {
		final, code = "undelivered", 30006
	}
	e.afterLocked(time.Second, func() { e.advance(m, "sent", 0) })
	e.afterLocked(2*time.Second, func() { e.advance(m, final, code) })
	e.mu.Unlock()
	e.record(m.Sid, "created", map[string]string{"from": from, "to": to, "body": body, "status": "queued"})
	twilioapi.WriteJSON(w, http.StatusCreated, resp)
}

func (e *Engine) afterLocked(d time.Duration, f func()) {
	if e.closed {
		return
	}
	e.inflight.Add(1)
	e.timers = append(e.timers, e.cfg.Clock.AfterFunc(d, func() {
		defer e.inflight.Done()
		f()
	}))
}

// advance moves the message to status and sends its status callback.
func (e *Engine) advance(m *Message, status string, code int) {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	now := e.cfg.Clock.Now()
	m.Status, m.ErrorCode, m.DateUpdated = status, code, now
	if status == "sent" {
		m.DateSent = now
	}
	cb, from, to := m.StatusCallback, m.From, m.To
	e.mu.Unlock()
	detail := map[string]string{"from": from, "to": to, "status": status}
	if code != 0 {
		detail["error_code"] = strconv.Itoa(code)
	}
	e.record(m.Sid, status, detail)
	if cb == "" || e.cfg.Webhooks == nil {
		return
	}
	// The parameters of a message status callback: the standard request properties of a
	// message, MessageStatus, and ErrorCode when the message failed.
	params := url.Values{"MessageSid": {m.Sid}, "SmsSid": {m.Sid}, "AccountSid": {e.cfg.Credentials.AccountSid},
		"From": {from}, "To": {to}, "MessageStatus": {status}, "SmsStatus": {status}, "ApiVersion": {"2010-04-01"}}
	if code != 0 {
		params.Set("ErrorCode", strconv.Itoa(code))
	}
	resp, err := e.cfg.Webhooks.Send(twilioapi.WithSid(context.Background(), m.Sid), http.MethodPost, cb, params)
	what := "status callback"
	switch {
	case err != nil:
		e.record(m.Sid, what+" failed", map[string]string{"status": status, "error": err.Error()})
	case resp.Status >= 300:
		e.record(m.Sid, what+" refused", map[string]string{"status": status, "http_status": strconv.Itoa(resp.Status)})
	default:
		e.record(m.Sid, what, map[string]string{"status": status, "http_status": strconv.Itoa(resp.Status)})
	}
}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// messageJSON is the Message resource as the API answers it (twilio-oai api.v2010.account.message).
type messageJSON struct {
	AccountSid          string            `json:"account_sid"`
	APIVersion          string            `json:"api_version"`
	Body                string            `json:"body"`
	DateCreated         string            `json:"date_created"`
	DateSent            *string           `json:"date_sent"`
	DateUpdated         string            `json:"date_updated"`
	Direction           string            `json:"direction"`
	ErrorCode           *int              `json:"error_code"`
	ErrorMessage        *string           `json:"error_message"`
	From                string            `json:"from"`
	MessagingServiceSid *string           `json:"messaging_service_sid"`
	NumMedia            string            `json:"num_media"`
	NumSegments         string            `json:"num_segments"`
	Price               *string           `json:"price"`
	PriceUnit           string            `json:"price_unit"`
	Sid                 string            `json:"sid"`
	Status              string            `json:"status"`
	SubresourceURIs     map[string]string `json:"subresource_uris"`
	To                  string            `json:"to"`
	URI                 string            `json:"uri"`
}

func (e *Engine) jsonLocked(m *Message) messageJSON {
	uri := "/2010-04-01/Accounts/" + e.cfg.Credentials.AccountSid + "/Messages/" + m.Sid
	j := messageJSON{
		AccountSid: e.cfg.Credentials.AccountSid, APIVersion: "2010-04-01", Body: m.Body,
		DateCreated: twilioapi.RFC2822(m.DateCreated), DateUpdated: twilioapi.RFC2822(m.DateUpdated),
		Direction: "outbound-api", From: m.From, NumMedia: "0", NumSegments: strconv.Itoa(segments(m.Body)),
		PriceUnit: "USD", Sid: m.Sid, Status: m.Status, To: m.To, URI: uri + ".json",
		SubresourceURIs: map[string]string{"media": uri + "/Media.json", "feedback": uri + "/Feedback.json"},
	}
	if !m.DateSent.IsZero() {
		s := twilioapi.RFC2822(m.DateSent)
		j.DateSent = &s
	}
	if m.ErrorCode != 0 {
		code := m.ErrorCode
		j.ErrorCode = &code
	}
	return j
}

// segments is how many SMS segments a body takes (GSM-7: 160, or 153 per part; otherwise UCS-2:
// 70, or 67 per part). Only ASCII counts as GSM-7 here.
func segments(body string) int {
	n, per, single := len([]rune(body)), 153, 160
	for _, r := range body {
		if r > 127 {
			per, single = 67, 70
			break
		}
	}
	if n <= single {
		return 1
	}
	return (n + per - 1) / per
}

func (e *Engine) fetch(w http.ResponseWriter, r *http.Request) {
	sid, ok := strings.CutSuffix(r.PathValue("file"), ".json")
	e.mu.Lock()
	defer e.mu.Unlock()
	if ok {
		for _, m := range e.messages {
			if m.Sid == sid {
				twilioapi.WriteJSON(w, http.StatusOK, e.jsonLocked(m))
				return
			}
		}
	}
	twilioapi.WriteError(w, twilioapi.NotFound("Messages", sid))
}

// list answers the messages, newest first, filtered by To and From.
func (e *Engine) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	e.mu.Lock()
	items := []messageJSON{}
	for i := len(e.messages) - 1; i >= 0; i-- {
		m := e.messages[i]
		if (q.Get("To") == "" || q.Get("To") == m.To) && (q.Get("From") == "" || q.Get("From") == m.From) {
			items = append(items, e.jsonLocked(m))
		}
	}
	e.mu.Unlock()
	twilioapi.List2010(w, r, "messages", items)
}
