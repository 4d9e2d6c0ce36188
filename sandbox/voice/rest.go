package voice

import (
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"queuebridge/sandbox/internal/twilioapi"
)

const apiPrefix = "/2010-04-01/Accounts/{ac}/"

// Handler serves the 2010-04-01 API: Calls, IncomingPhoneNumbers and Queues.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+apiPrefix+"Calls.json", e.auth(e.createCall))
	mux.HandleFunc("GET "+apiPrefix+"Calls.json", e.auth(e.listCalls))
	mux.HandleFunc("GET "+apiPrefix+"Calls/{file}", e.auth(withSid("CA", e.fetchCall)))
	mux.HandleFunc("POST "+apiPrefix+"Calls/{file}", e.auth(withSid("CA", e.updateCall)))
	mux.HandleFunc("GET "+apiPrefix+"IncomingPhoneNumbers.json", e.auth(e.listNumbers))
	mux.HandleFunc("GET "+apiPrefix+"IncomingPhoneNumbers/{file}", e.auth(withSid("PN", e.fetchNumber)))
	mux.HandleFunc("POST "+apiPrefix+"IncomingPhoneNumbers/{file}", e.auth(withSid("PN", e.updateNumber)))
	mux.HandleFunc("GET "+apiPrefix+"OutgoingCallerIds.json", e.auth(e.listCallerIDs))
	mux.HandleFunc("GET "+apiPrefix+"Queues.json", e.auth(e.listQueues))
	mux.HandleFunc("GET "+apiPrefix+"Queues/{file}", e.auth(withSid("QU", e.fetchQueue)))
	// Known paths with another method: Twilio's 20004 rather than net/http's plain-text 405.
	for _, path := range []string{"Calls.json", "Calls/{file}", "IncomingPhoneNumbers.json", "IncomingPhoneNumbers/{file}", "OutgoingCallerIds.json", "Queues.json", "Queues/{file}"} {
		mux.HandleFunc(apiPrefix+path, func(w http.ResponseWriter, r *http.Request) {
			twilioapi.WriteError(w, twilioapi.Errorf(http.StatusMethodNotAllowed, 20004, "Method not allowed"))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		twilioapi.WriteError(w, twilioapi.Errorf(http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path))
	})
	return mux
}

// auth checks Basic auth and that the account in the path is the sandbox's account.
func (e *Engine) auth(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := e.creds.Authenticate(r); err != nil {
			twilioapi.WriteError(w, err)
			return
		}
		if r.PathValue("ac") != e.creds.AccountSid {
			twilioapi.WriteError(w, twilioapi.Errorf(http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path))
			return
		}
		next(w, r)
	}
}

// withSid takes the {file} segment ("CA….json"), checks it names a resource of the prefix
// and hands the SID on.
func withSid(prefix string, next func(http.ResponseWriter, *http.Request, string)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sid, ok := strings.CutSuffix(r.PathValue("file"), ".json")
		if !ok || !strings.HasPrefix(sid, prefix) {
			twilioapi.WriteError(w, twilioapi.Errorf(http.StatusNotFound, 20404, "The requested resource %s was not found", r.URL.Path))
			return
		}
		next(w, r, sid)
	}
}

func parseForm(r *http.Request) (url.Values, error) {
	if err := r.ParseForm(); err != nil {
		return nil, twilioapi.Errorf(http.StatusBadRequest, 20001, "Invalid form body: %v", err)
	}
	return r.PostForm, nil
}

// phoneRe is E.164; the sandbox also lets sip: and client: addresses ring.
var phoneRe = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func validAddress(s string) bool {
	return phoneRe.MatchString(s) || strings.HasPrefix(s, "sip:") || strings.HasPrefix(s, "client:")
}

func validURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func validMethod(m string) bool { m = strings.ToUpper(m); return m == "" || m == "GET" || m == "POST" }

func upperOr(m, def string) string {
	if m == "" {
		return def
	}
	return strings.ToUpper(m)
}

func (e *Engine) createCall(w http.ResponseWriter, r *http.Request) {
	form, err := parseForm(r)
	if err != nil {
		twilioapi.WriteError(w, err)
		return
	}
	opts, err := e.parseCreate(form)
	if err != nil {
		twilioapi.WriteError(w, err)
		return
	}
	to, from := form.Get("To"), form.Get("From")
	e.mu.Lock()
	if !e.mayCallFromLocked(from) {
		e.mu.Unlock()
		twilioapi.WriteError(w, errUnverifiedFrom(from))
		return
	}
	c := e.newCallLocked(from, to, "outbound-api", e.personaLocked(to))
	c.opts = opts
	// The dialing slot is taken now, under the lock: calls are dialed in the order the API
	// accepted them, and the answer already says how long this one waits (queue_time).
	c.queueTime = e.dialSlotLocked()
	c.dialAt = e.clock.Now().Add(c.queueTime)
	body := c.jsonLocked()
	e.mu.Unlock()
	e.record(c.sid, "created", map[string]string{"to": to, "from": from, "url": opts.url, "machine_detection": opts.amd.mode})
	e.start(c, c.runOutbound)
	twilioapi.WriteJSON(w, http.StatusCreated, body)
}

// parseCreate validates a Calls create request with Twilio's error codes.
func (e *Engine) parseCreate(form url.Values) (callOpts, error) {
	var o callOpts
	to, from := form.Get("To"), form.Get("From")
	switch {
	case to == "":
		return o, twilioapi.Errorf(http.StatusBadRequest, 21201, "No 'To' number is specified")
	case from == "":
		return o, twilioapi.Errorf(http.StatusBadRequest, 21213, "No 'From' number is specified")
	case !validAddress(to):
		return o, twilioapi.Errorf(http.StatusBadRequest, 21211, "Invalid 'To' Phone Number: %s", to)
	case !phoneRe.MatchString(from) && !strings.HasPrefix(from, "client:"):
		return o, twilioapi.Errorf(http.StatusBadRequest, 21212, "Invalid 'From' Phone Number: %s", from)
	}
	o.url, o.twiml = form.Get("Url"), form.Get("Twiml")
	if o.url == "" && o.twiml == "" {
		if form.Get("ApplicationSid") != "" {
			return o, twilioapi.Errorf(http.StatusBadRequest, 21205, "ApplicationSid is not supported by the sandbox: give Url or Twiml")
		}
		return o, twilioapi.Errorf(http.StatusBadRequest, 21205, "Url parameter is required")
	}
	if o.url != "" && !validURL(o.url) {
		return o, twilioapi.Errorf(http.StatusBadRequest, 21205, "Url is not a valid URL: %s", o.url)
	}
	for _, name := range []string{"Method", "FallbackMethod", "StatusCallbackMethod", "AsyncAmdStatusCallbackMethod"} {
		if !validMethod(form.Get(name)) {
			return o, twilioapi.InvalidParam(name, form.Get(name))
		}
	}
	for _, name := range []string{"FallbackUrl", "StatusCallback", "AsyncAmdStatusCallback"} {
		if v := form.Get(name); v != "" && !validURL(v) {
			return o, twilioapi.InvalidParam(name, v)
		}
	}
	o.method = upperOr(form.Get("Method"), "POST")
	o.fallbackURL, o.fallbackMethod = form.Get("FallbackUrl"), upperOr(form.Get("FallbackMethod"), "POST")
	o.statusCallback, o.statusCallbackMethod = form.Get("StatusCallback"), upperOr(form.Get("StatusCallbackMethod"), "POST")
	o.events = map[string]bool{}
	for _, ev := range form["StatusCallbackEvent"] {
		// twilio-go sends each value separately; other clients send "initiated ringing".
		for _, one := range strings.Fields(ev) {
			switch one {
			case "initiated", "ringing", "answered", "completed":
				o.events[one] = true
			default:
				return o, twilioapi.InvalidParam("StatusCallbackEvent", one)
			}
		}
	}
	if len(o.events) == 0 {
		o.events["completed"] = true
	}
	o.timeout = 60 * time.Second
	if v := form.Get("Timeout"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 600 {
			return o, twilioapi.InvalidParam("Timeout", v)
		}
		o.timeout = time.Duration(n) * time.Second
	}
	amd, err := parseAMD(form)
	if err != nil {
		return o, err
	}
	o.amd = amd
	o.sendDigits = form.Get("SendDigits")
	return o, nil
}

func (e *Engine) fetchCall(w http.ResponseWriter, _ *http.Request, sid string) {
	e.mu.Lock()
	c := e.calls[sid]
	var body callJSON
	if c != nil {
		body = c.jsonLocked()
	}
	e.mu.Unlock()
	if c == nil {
		twilioapi.WriteError(w, twilioapi.NotFound("Calls", sid))
		return
	}
	twilioapi.WriteJSON(w, http.StatusOK, body)
}

// updateCall: Status=canceled (queued or ringing only; on an in-progress call 200 and nothing
// changes, or 21220 with SetCancelInProgress(true)), Status=completed (ends the call
// whatever its state), Url/Method or Twiml (new instructions for a live call; for one not yet
// answered, the instructions it will get).
func (e *Engine) updateCall(w http.ResponseWriter, r *http.Request, sid string) {
	form, err := parseForm(r)
	if err != nil {
		twilioapi.WriteError(w, err)
		return
	}
	status, newURL, twiml := form.Get("Status"), form.Get("Url"), form.Get("Twiml")
	if status != "" && status != "canceled" && status != "completed" {
		twilioapi.WriteError(w, twilioapi.InvalidParam("Status", status))
		return
	}
	if newURL != "" && !validURL(newURL) {
		twilioapi.WriteError(w, twilioapi.Errorf(http.StatusBadRequest, 21205, "Url is not a valid URL: %s", newURL))
		return
	}
	if !validMethod(form.Get("Method")) {
		twilioapi.WriteError(w, twilioapi.InvalidParam("Method", form.Get("Method")))
		return
	}
	e.mu.Lock()
	c := e.calls[sid]
	if c == nil {
		e.mu.Unlock()
		twilioapi.WriteError(w, twilioapi.NotFound("Calls", sid))
		return
	}
	notLive := c.status == "queued" || c.status == "ringing"
	detail := map[string]string{"status": status, "url": newURL}
	var ev *event
	switch {
	case isTerminal(c.status) && (status != "" || newURL != "" || twiml != ""):
		e.mu.Unlock()
		twilioapi.WriteError(w, twilioapi.Errorf(http.StatusBadRequest, 21220, "Call is not in-progress. Cannot redirect or end it."))
		return
	case status == "canceled" && !notLive && e.cancelInProgress:
		e.mu.Unlock()
		twilioapi.WriteError(w, twilioapi.Errorf(http.StatusBadRequest, 21220, "Call is in-progress: it cannot be canceled, end it with Status=completed"))
		return
	case status == "canceled" && !notLive:
		// "it will not affect calls already in progress": 200 with the call as it is.
		detail["ignored"] = "canceled does not affect a call in progress"
	case status != "":
		// Ending a call the API's way: the status changes now, the call goroutine unwinds.
		final := "completed"
		if notLive {
			final = "canceled"
		}
		c.setStatusLocked(final)
		ev = &event{kind: evHangup}
		if status == "canceled" {
			ev.kind = evCancel
		}
	case newURL != "" || twiml != "":
		m := upperOr(form.Get("Method"), "POST")
		if notLive && c.direction == "outbound-api" {
			// Not answered yet: these are the instructions it will fetch on answer.
			c.opts.url, c.opts.method, c.opts.twiml = newURL, m, twiml
		} else {
			ev = &event{kind: evRedirect, url: newURL, method: m, twiml: twiml}
		}
	}
	body := c.jsonLocked()
	e.mu.Unlock()
	e.record(sid, "updated through the API", detail)
	if ev != nil {
		c.mb.push(*ev)
	}
	twilioapi.WriteJSON(w, http.StatusOK, body)
}

// timeFilter parses a StartTime/EndTime filter: a date (YYYY-MM-DD, as Twilio documents) or
// an RFC 3339 time (as twilio-go sends it).
func timeFilter(v string) (time.Time, bool, error) {
	if t, err := time.Parse("2006-01-02", v); err == nil {
		return t, true, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	return t, false, err
}

type timeCond struct {
	on, after, before *time.Time
}

func parseTimeConds(q url.Values, name string) (timeCond, error) {
	var tc timeCond
	for suffix, into := range map[string]**time.Time{"": &tc.on, ">": &tc.after, "<": &tc.before} {
		v := q.Get(name + suffix)
		if v == "" {
			continue
		}
		t, isDate, err := timeFilter(v)
		if err != nil {
			return tc, twilioapi.InvalidParam(name+suffix, v)
		}
		if isDate && suffix == "<" {
			t = t.Add(24*time.Hour - time.Nanosecond)
		}
		*into = &t
	}
	return tc, nil
}

func (tc timeCond) match(t time.Time) bool {
	if tc.on == nil && tc.after == nil && tc.before == nil {
		return true
	}
	if t.IsZero() {
		return false
	}
	t = t.UTC()
	if tc.on != nil && t.Format("2006-01-02") != tc.on.UTC().Format("2006-01-02") {
		return false
	}
	if tc.after != nil && t.Before(*tc.after) {
		return false
	}
	if tc.before != nil && t.After(*tc.before) {
		return false
	}
	return true
}

func (e *Engine) listCalls(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := q.Get("Status")
	if status != "" && !isTerminal(status) && status != "queued" && status != "ringing" && status != "in-progress" {
		twilioapi.WriteError(w, twilioapi.InvalidParam("Status", status))
		return
	}
	startCond, err := parseTimeConds(q, "StartTime")
	if err != nil {
		twilioapi.WriteError(w, err)
		return
	}
	endCond, err := parseTimeConds(q, "EndTime")
	if err != nil {
		twilioapi.WriteError(w, err)
		return
	}
	e.mu.Lock()
	items := []callJSON{}
	for _, c := range e.callsNewestFirstLocked() {
		if (q.Get("To") != "" && c.to != q.Get("To")) || (q.Get("From") != "" && c.from != q.Get("From")) ||
			(status != "" && c.status != status) || (q.Get("ParentCallSid") != "" && c.parentSid != q.Get("ParentCallSid")) ||
			!startCond.match(c.started) || !endCond.match(c.ended) {
			continue
		}
		items = append(items, c.jsonLocked())
	}
	e.mu.Unlock()
	twilioapi.List2010(w, r, "calls", items)
}

// callJSON is Twilio's Call resource.
type callJSON struct {
	Sid             string            `json:"sid"`
	DateCreated     string            `json:"date_created"`
	DateUpdated     string            `json:"date_updated"`
	ParentCallSid   *string           `json:"parent_call_sid"`
	AccountSid      string            `json:"account_sid"`
	To              string            `json:"to"`
	ToFormatted     string            `json:"to_formatted"`
	From            string            `json:"from"`
	FromFormatted   string            `json:"from_formatted"`
	PhoneNumberSid  *string           `json:"phone_number_sid"`
	Status          string            `json:"status"`
	StartTime       *string           `json:"start_time"`
	EndTime         *string           `json:"end_time"`
	Duration        *string           `json:"duration"`
	Price           *string           `json:"price"`
	PriceUnit       string            `json:"price_unit"`
	Direction       string            `json:"direction"`
	AnsweredBy      *string           `json:"answered_by"`
	APIVersion      string            `json:"api_version"`
	ForwardedFrom   *string           `json:"forwarded_from"`
	GroupSid        *string           `json:"group_sid"`
	CallerName      *string           `json:"caller_name"`
	QueueTime       string            `json:"queue_time"`
	TrunkSid        *string           `json:"trunk_sid"`
	URI             string            `json:"uri"`
	SubresourceURIs map[string]string `json:"subresource_uris"`
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func timePtr(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	s := twilioapi.RFC2822(t)
	return &s
}

func (c *call) jsonLocked() callJSON {
	base := "/2010-04-01/Accounts/" + c.e.creds.AccountSid + "/Calls/" + c.sid
	j := callJSON{
		Sid: c.sid, DateCreated: twilioapi.RFC2822(c.created), DateUpdated: twilioapi.RFC2822(c.updated),
		ParentCallSid: strPtr(c.parentSid), AccountSid: c.e.creds.AccountSid,
		To: c.to, ToFormatted: c.to, From: c.from, FromFormatted: c.from,
		PhoneNumberSid: strPtr(c.phoneNumberSid), Status: c.status,
		StartTime: timePtr(c.started), EndTime: timePtr(c.ended),
		PriceUnit: "USD", Direction: c.direction, APIVersion: "2010-04-01", QueueTime: "0",
		URI: base + ".json",
		SubresourceURIs: map[string]string{
			"notifications":  base + "/Notifications.json",
			"recordings":     base + "/Recordings.json",
			"events":         base + "/Events.json",
			"streams":        base + "/Streams.json",
			"payments":       base + "/Payments.json",
			"siprec":         base + "/Siprec.json",
			"transcriptions": base + "/Transcriptions.json",
		},
	}
	if c.amdRan {
		j.AnsweredBy = strPtr(c.answeredBy)
	}
	j.QueueTime = strconv.Itoa(int(c.queueTime / time.Millisecond))
	if isTerminal(c.status) {
		d := strconv.Itoa(int(c.durationLocked() / time.Second))
		j.Duration = &d
	}
	return j
}

func (c *call) infoLocked() CallInfo {
	return CallInfo{
		Sid: c.sid, ParentCallSid: c.parentSid, From: c.from, To: c.to, Direction: c.direction,
		Status: c.status, AnsweredBy: c.answeredBy, MachineDetectionDuration: c.amdDuration,
		BridgedWith: c.bridgedWith, TaskSid: c.taskSid, QueueResult: c.queueResult,
		SipResponseCode: c.sip, StartTime: c.started, EndTime: c.ended, Duration: c.durationLocked(),
	}
}

// numberJSON is Twilio's IncomingPhoneNumber resource.
type numberJSON struct {
	AccountSid             string          `json:"account_sid"`
	AddressSid             *string         `json:"address_sid"`
	AddressRequirements    string          `json:"address_requirements"`
	APIVersion             string          `json:"api_version"`
	Beta                   bool            `json:"beta"`
	Capabilities           map[string]bool `json:"capabilities"`
	DateCreated            string          `json:"date_created"`
	DateUpdated            string          `json:"date_updated"`
	FriendlyName           string          `json:"friendly_name"`
	IdentitySid            *string         `json:"identity_sid"`
	PhoneNumber            string          `json:"phone_number"`
	Origin                 string          `json:"origin"`
	Sid                    string          `json:"sid"`
	SmsApplicationSid      *string         `json:"sms_application_sid"`
	SmsFallbackMethod      string          `json:"sms_fallback_method"`
	SmsFallbackURL         string          `json:"sms_fallback_url"`
	SmsMethod              string          `json:"sms_method"`
	SmsURL                 string          `json:"sms_url"`
	StatusCallback         string          `json:"status_callback"`
	StatusCallbackMethod   string          `json:"status_callback_method"`
	TrunkSid               *string         `json:"trunk_sid"`
	URI                    string          `json:"uri"`
	VoiceReceiveMode       string          `json:"voice_receive_mode"`
	VoiceApplicationSid    *string         `json:"voice_application_sid"`
	VoiceCallerIDLookup    bool            `json:"voice_caller_id_lookup"`
	VoiceFallbackMethod    string          `json:"voice_fallback_method"`
	VoiceFallbackURL       string          `json:"voice_fallback_url"`
	VoiceMethod            string          `json:"voice_method"`
	VoiceURL               string          `json:"voice_url"`
	EmergencyStatus        string          `json:"emergency_status"`
	EmergencyAddressSid    *string         `json:"emergency_address_sid"`
	EmergencyAddressStatus string          `json:"emergency_address_status"`
	BundleSid              *string         `json:"bundle_sid"`
	Status                 string          `json:"status"`
	Type                   string          `json:"type"`
}

func (e *Engine) numberJSONLocked(n *number) numberJSON {
	return numberJSON{
		AccountSid: e.creds.AccountSid, AddressRequirements: "none", APIVersion: "2010-04-01",
		Capabilities: map[string]bool{"voice": true, "sms": true, "mms": true, "fax": false},
		DateCreated:  twilioapi.RFC2822(n.created), DateUpdated: twilioapi.RFC2822(n.updated),
		FriendlyName: n.friendlyName, PhoneNumber: n.phone, Origin: "twilio", Sid: n.sid,
		SmsFallbackMethod: "POST", SmsMethod: "POST",
		StatusCallback: n.statusCallback, StatusCallbackMethod: n.statusCallbackMeth,
		URI:              "/2010-04-01/Accounts/" + e.creds.AccountSid + "/IncomingPhoneNumbers/" + n.sid + ".json",
		VoiceReceiveMode: "voice", VoiceFallbackMethod: n.voiceFallbackMeth, VoiceFallbackURL: n.voiceFallbackURL,
		VoiceMethod: n.voiceMethod, VoiceURL: n.voiceURL,
		EmergencyStatus: "Inactive", EmergencyAddressStatus: "unregistered", Status: "in-use", Type: "local",
	}
}

func (e *Engine) listNumbers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	phone, friendly := q.Get("PhoneNumber"), q.Get("FriendlyName")
	e.mu.Lock()
	items := []numberJSON{}
	for _, n := range e.numbers {
		// Twilio matches PhoneNumber as a pattern: any part of the number.
		if (phone != "" && !strings.Contains(n.phone, phone)) || (friendly != "" && n.friendlyName != friendly) {
			continue
		}
		items = append(items, e.numberJSONLocked(n))
	}
	e.mu.Unlock()
	twilioapi.List2010(w, r, "incoming_phone_numbers", items)
}

func (e *Engine) numberBySidLocked(sid string) *number {
	for _, n := range e.numbers {
		if n.sid == sid {
			return n
		}
	}
	return nil
}

func (e *Engine) fetchNumber(w http.ResponseWriter, _ *http.Request, sid string) {
	e.mu.Lock()
	n := e.numberBySidLocked(sid)
	var body numberJSON
	if n != nil {
		body = e.numberJSONLocked(n)
	}
	e.mu.Unlock()
	if n == nil {
		twilioapi.WriteError(w, twilioapi.NotFound("IncomingPhoneNumbers", sid))
		return
	}
	twilioapi.WriteJSON(w, http.StatusOK, body)
}

func (e *Engine) updateNumber(w http.ResponseWriter, r *http.Request, sid string) {
	form, err := parseForm(r)
	if err != nil {
		twilioapi.WriteError(w, err)
		return
	}
	for _, name := range []string{"VoiceUrl", "VoiceFallbackUrl", "StatusCallback"} {
		if v := form.Get(name); v != "" && !validURL(v) {
			twilioapi.WriteError(w, twilioapi.InvalidParam(name, v))
			return
		}
	}
	for _, name := range []string{"VoiceMethod", "VoiceFallbackMethod", "StatusCallbackMethod"} {
		if !validMethod(form.Get(name)) {
			twilioapi.WriteError(w, twilioapi.InvalidParam(name, form.Get(name)))
			return
		}
	}
	e.mu.Lock()
	n := e.numberBySidLocked(sid)
	if n == nil {
		e.mu.Unlock()
		twilioapi.WriteError(w, twilioapi.NotFound("IncomingPhoneNumbers", sid))
		return
	}
	set := func(name string, into *string, upper bool) {
		if _, ok := form[name]; ok {
			v := form.Get(name)
			if upper {
				v = strings.ToUpper(v)
			}
			*into = v
		}
	}
	set("FriendlyName", &n.friendlyName, false)
	set("VoiceUrl", &n.voiceURL, false)
	set("VoiceMethod", &n.voiceMethod, true)
	set("VoiceFallbackUrl", &n.voiceFallbackURL, false)
	set("VoiceFallbackMethod", &n.voiceFallbackMeth, true)
	set("StatusCallback", &n.statusCallback, false)
	set("StatusCallbackMethod", &n.statusCallbackMeth, true)
	n.updated = e.clock.Now()
	body := e.numberJSONLocked(n)
	e.mu.Unlock()
	twilioapi.WriteJSON(w, http.StatusOK, body)
}

// queueJSON is Twilio's Queue resource.
type queueJSON struct {
	DateUpdated     string `json:"date_updated"`
	CurrentSize     int    `json:"current_size"`
	FriendlyName    string `json:"friendly_name"`
	URI             string `json:"uri"`
	AccountSid      string `json:"account_sid"`
	AverageWaitTime int    `json:"average_wait_time"`
	Sid             string `json:"sid"`
	DateCreated     string `json:"date_created"`
	MaxSize         int    `json:"max_size"`
}

func (e *Engine) queueJSONLocked(q *queue) queueJSON {
	avg := q.avgWaitSeconds()
	return queueJSON{
		DateUpdated: twilioapi.RFC2822(q.updated), CurrentSize: len(q.members), FriendlyName: q.name,
		URI:        "/2010-04-01/Accounts/" + e.creds.AccountSid + "/Queues/" + q.sid + ".json",
		AccountSid: e.creds.AccountSid, AverageWaitTime: avg, Sid: q.sid,
		DateCreated: twilioapi.RFC2822(q.created), MaxSize: maxQueueLength,
	}
}

func (e *Engine) listQueues(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	items := []queueJSON{}
	for _, q := range e.queues {
		if !q.hidden {
			items = append(items, e.queueJSONLocked(q))
		}
	}
	e.mu.Unlock()
	twilioapi.List2010(w, r, "queues", items)
}

func (e *Engine) fetchQueue(w http.ResponseWriter, _ *http.Request, sid string) {
	e.mu.Lock()
	var body *queueJSON
	for _, q := range e.queues {
		if q.sid == sid && !q.hidden {
			j := e.queueJSONLocked(q)
			body = &j
		}
	}
	e.mu.Unlock()
	if body == nil {
		twilioapi.WriteError(w, twilioapi.NotFound("Queues", sid))
		return
	}
	twilioapi.WriteJSON(w, http.StatusOK, body)
}

// CreateQueue adds a named queue (what <Enqueue>name</Enqueue> would create) and returns its SID.
func (e *Engine) CreateQueue(name string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.queueByNameLocked(name).sid
}
