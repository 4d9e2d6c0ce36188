package testkit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
)

// Twilio is a fake of Twilio's REST APIs on a local HTTP server, reached by the real twilio-go
// client through TWILIO_API_URL. It holds resources generically (see store.go): a POST to a
// collection creates, a POST to an item updates, GET lists or fetches, DELETE deletes. It
// answers with JSON shaped like Twilio's, records every request, and misbehaves on command
// (Fail, FailWith, FailRandom). It decides nothing: the behavioural fake is sandbox/.
type Twilio struct {
	URL string // the base URL: TWILIO_API_URL

	opts   TwilioOptions
	srv    *httptest.Server
	proxy  *httputil.ReverseProxy
	closed chan struct{}
	faults faults

	mu        sync.Mutex
	requests  []*Request
	items     map[string][]map[string]any // collection path → resources, oldest first
	overrides map[string]http.HandlerFunc
}

// TwilioOptions configure a fake Twilio; the zero value serves a test.
type TwilioOptions struct {
	Addr    string // where to listen; default 127.0.0.1:0
	Account string // the account_sid of resources not under /Accounts/; default Account
	// Lean records no request and keeps no call, task or reservation: for load, where memory
	// must stay flat. Observe still sees every request.
	Lean bool
	// Forward, when set, sends each request on to that base URL (a sandbox) instead of the
	// fake's own resources: the fake then only records and injects faults.
	Forward string
	// Observe, when set, is told of each request once answered (on the server's goroutine).
	Observe func(Request)
}

// Request is one REST request the fake received, and how it answered.
type Request struct {
	Op           string // the operation, e.g. "create_call", "update_reservation" (see Op)
	Method, Path string // Path as received, with its .json
	Query, Form  url.Values
	User         string    // the basic-auth user: the account SID or API key
	At           time.Time // when it arrived
	Fault        Fault     // the fault injected, if any
	Status       int       // the status answered; 0 when none was (reset, timeout)
	SID          string    // the "sid" of the resource answered, if any
}

// String is "METHOD /path".
func (r Request) String() string { return r.Method + " " + r.Path }

// NewTwilio starts a fake Twilio closed when the test ends.
func NewTwilio(t TB) *Twilio { t.Helper(); return NewTwilioWith(t, TwilioOptions{}) }

// NewTwilioWith starts a fake Twilio with options, closed when the test ends.
func NewTwilioWith(t TB, o TwilioOptions) *Twilio {
	t.Helper()
	tw, err := StartTwilio(o)
	if err != nil {
		t.Errorf("%v", err)
		t.FailNow()
	}
	t.Cleanup(tw.Close)
	return tw
}

// StartTwilio starts a fake Twilio; the caller closes it (a tool's, not a test's).
func StartTwilio(o TwilioOptions) (*Twilio, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.Account == "" {
		o.Account = Account
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("fake Twilio: %w", err)
	}
	tw := &Twilio{opts: o, closed: make(chan struct{}), items: map[string][]map[string]any{}, overrides: map[string]http.HandlerFunc{}}
	if o.Forward != "" {
		target, err := url.Parse(o.Forward)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("fake Twilio: forward to %q: %w", o.Forward, err)
		}
		tw.proxy = &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) { pr.SetURL(target) }}
	}
	tw.srv = &httptest.Server{Listener: ln, Config: &http.Server{Handler: tw, ReadHeaderTimeout: 5 * time.Second}}
	tw.srv.Start()
	tw.URL = tw.srv.URL
	return tw, nil
}

// Close ends requests held by faults, then stops the server.
func (tw *Twilio) Close() {
	select {
	case <-tw.closed:
		return
	default:
		close(tw.closed)
	}
	tw.srv.Close()
}

// Override answers the operation with h instead of the fake's resources (faults still come
// first): for a behaviour the generic resources cannot give. A nil h removes the override.
func (tw *Twilio) Override(op string, h http.HandlerFunc) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	if h == nil {
		delete(tw.overrides, op)
		return
	}
	tw.overrides[op] = h
}

// ServeHTTP records the request, injects its fault, and answers it.
func (tw *Twilio) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	r.Body = io.NopCloser(bytes.NewReader(body))
	req := &Request{Op: Op(r.Method, r.URL.Path), Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), At: time.Now()}
	req.User, _, _ = r.BasicAuth()
	if r.Method != http.MethodGet {
		req.Form, _ = url.ParseQuery(string(body))
	}
	// The fault is decided before the request is recorded: once recorded, Requests reads it
	// from other goroutines.
	req.Fault = tw.faults.next(*req)
	tw.record(req)
	f := req.Fault
	if !tw.wait(r, f) {
		tw.done(req, 0, nil)
		return
	}
	var answer *httptest.ResponseRecorder
	if f.Applied || (f.Status == 0 && !f.Reset && !f.Hang) {
		answer = tw.answer(r, req)
	}
	switch {
	case f.Hang:
		select {
		case <-r.Context().Done():
		case <-tw.closed:
		}
		tw.done(req, 0, answer)
	case f.Reset:
		resetConn(w)
		tw.done(req, 0, answer)
	case f.Status != 0:
		writeFault(w, f)
		tw.done(req, f.Status, answer)
	default:
		copyAnswer(w, answer)
		tw.done(req, answer.Code, answer)
	}
}

// wait applies the fault's delay and gate; false when the client gave up or the fake closed.
func (tw *Twilio) wait(r *http.Request, f Fault) bool {
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return false
		case <-tw.closed:
			return false
		}
	}
	if f.Wait != nil {
		select {
		case <-f.Wait:
		case <-r.Context().Done():
			return false
		case <-tw.closed:
			return false
		}
	}
	return true
}

// answer is what the fake (or what it forwards to, or an override) answers, buffered.
func (tw *Twilio) answer(r *http.Request, req *Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	tw.mu.Lock()
	h := tw.overrides[req.Op]
	tw.mu.Unlock()
	switch {
	case h != nil:
		h(rec, r)
	case tw.proxy != nil:
		tw.proxy.ServeHTTP(rec, r)
	default:
		tw.serveStore(rec, req)
	}
	return rec
}

func copyAnswer(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(rec.Body.Bytes())
}

// resetConn drops the connection with a TCP reset.
func resetConn(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("testkit: the connection cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// record keeps the request (unless lean); done fills in its answer and tells Observe.
func (tw *Twilio) record(req *Request) {
	if tw.opts.Lean {
		return
	}
	tw.mu.Lock()
	tw.requests = append(tw.requests, req)
	tw.mu.Unlock()
}

func (tw *Twilio) done(req *Request, status int, answer *httptest.ResponseRecorder) {
	var sid string
	if answer != nil {
		var fields struct {
			SID string `json:"sid"`
		}
		if json.Unmarshal(answer.Body.Bytes(), &fields) == nil {
			sid = fields.SID
		}
	}
	tw.mu.Lock()
	req.Status, req.SID = status, sid
	final := *req
	tw.mu.Unlock()
	if tw.opts.Observe != nil {
		tw.opts.Observe(final)
	}
}
