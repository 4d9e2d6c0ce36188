package voice

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/oaicheck"
	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/sandbox/internal/twilioapi"
)

const (
	agentPhone  = "+15550001111"
	callerPhone = "+15550002222"
	ourNumber   = "+15559990000"
)

// fakeTaskRouter is a twilioapi.TaskRouter made of function fields.
type fakeTaskRouter struct {
	EnqueueCallFn        func(ctx context.Context, req twilioapi.EnqueueRequest) (string, error)
	CallerLeftQueueFn    func(ctx context.Context, taskSid, reason string) error
	DequeueReservationFn func(ctx context.Context, reservationSid, postWorkActivitySid string) (twilioapi.DequeuedTask, error)
	BridgeEndedFn        func(ctx context.Context, taskSid string) error
}

var _ twilioapi.TaskRouter = (*fakeTaskRouter)(nil)

func (f *fakeTaskRouter) EnqueueCall(ctx context.Context, req twilioapi.EnqueueRequest) (string, error) {
	return f.EnqueueCallFn(ctx, req)
}
func (f *fakeTaskRouter) CallerLeftQueue(ctx context.Context, taskSid, reason string) error {
	return f.CallerLeftQueueFn(ctx, taskSid, reason)
}
func (f *fakeTaskRouter) DequeueReservation(ctx context.Context, res, post string) (twilioapi.DequeuedTask, error) {
	return f.DequeueReservationFn(ctx, res, post)
}
func (f *fakeTaskRouter) BridgeEnded(ctx context.Context, taskSid string) error {
	return f.BridgeEndedFn(ctx, taskSid)
}

// trLog records what the engine asked of TaskRouter.
type trLog struct {
	mu       sync.Mutex
	enqueued []twilioapi.EnqueueRequest
	left     []string // taskSid:reason
	dequeued []string // reservation SIDs
	ended    []string // task SIDs
}

func (l *trLog) snapshot() trLog {
	l.mu.Lock()
	defer l.mu.Unlock()
	return trLog{enqueued: append([]twilioapi.EnqueueRequest(nil), l.enqueued...), left: append([]string(nil), l.left...),
		dequeued: append([]string(nil), l.dequeued...), ended: append([]string(nil), l.ended...)}
}

// hit is one request the application received from the sandbox.
type hit struct {
	Path     string
	Form     url.Values
	SigValid bool
}

// app plays the customer's application: it answers TwiML by path and records every hit.
type app struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	routes map[string]func(form url.Values) string
	fails  map[string]int
	// failFirst answers the next n requests to a path with a status, then the route.
	failFirst map[string][2]int
	hits      []hit
}

func (a *app) handle(path string, f func(form url.Values) string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.routes[path] = f
}

func (a *app) twiml(path, body string) {
	a.handle(path, func(url.Values) string { return body })
}

func (a *app) url(path string) string { return a.srv.URL + path }

func (a *app) hitsTo(path string) []hit {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []hit
	for _, h := range a.hits {
		if h.Path == path {
			out = append(out, h)
		}
	}
	return out
}

func (a *app) allHits() []hit {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]hit(nil), a.hits...)
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	form, valid := sandboxtest.SignedForm(r, "http://"+r.Host, sandboxtest.Token)
	a.mu.Lock()
	a.hits = append(a.hits, hit{Path: r.URL.Path, Form: form, SigValid: valid})
	f := a.routes[r.URL.Path]
	status := a.fails[r.URL.Path]
	if ff := a.failFirst[r.URL.Path]; ff[0] > 0 {
		status = ff[1]
		a.failFirst[r.URL.Path] = [2]int{ff[0] - 1, ff[1]}
	}
	a.mu.Unlock()
	if status != 0 {
		w.WriteHeader(status)
		return
	}
	if f == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	_, _ = io.WriteString(w, f(form))
}

type harness struct {
	t      *testing.T
	clk    *clock.Manual
	rec    *twilioapi.Recorder
	engine *Engine
	tr     *fakeTaskRouter
	trLog  *trLog
	app    *app
	api    *openapi.ApiService
	check  *oaicheck.Transport
	server *httptest.Server
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, clk: clock.NewManual(time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)), rec: &twilioapi.Recorder{}, trLog: &trLog{}}
	h.tr = &fakeTaskRouter{
		EnqueueCallFn: func(_ context.Context, req twilioapi.EnqueueRequest) (string, error) {
			h.trLog.mu.Lock()
			defer h.trLog.mu.Unlock()
			h.trLog.enqueued = append(h.trLog.enqueued, req)
			return sandboxtest.SID("WT", len(h.trLog.enqueued)), nil
		},
		CallerLeftQueueFn: func(_ context.Context, taskSid, reason string) error {
			h.trLog.mu.Lock()
			defer h.trLog.mu.Unlock()
			h.trLog.left = append(h.trLog.left, taskSid+":"+reason)
			return nil
		},
		DequeueReservationFn: func(context.Context, string, string) (twilioapi.DequeuedTask, error) {
			return twilioapi.DequeuedTask{}, twilioapi.Errorf(http.StatusBadRequest, 14215, "Reservation is not pending")
		},
		BridgeEndedFn: func(_ context.Context, taskSid string) error {
			h.trLog.mu.Lock()
			defer h.trLog.mu.Unlock()
			h.trLog.ended = append(h.trLog.ended, taskSid)
			return nil
		},
	}
	h.app = &app{t: t, routes: map[string]func(url.Values) string{}, fails: map[string]int{}, failFirst: map[string][2]int{}}
	h.app.srv = httptest.NewServer(h.app)
	t.Cleanup(h.app.srv.Close)
	h.engine = New(Config{
		Clock:       h.clk,
		Credentials: twilioapi.Credentials{AccountSid: sandboxtest.Account, AuthToken: sandboxtest.Token},
		Webhooks:    &twilioapi.Webhooks{AuthToken: sandboxtest.Token, Client: h.app.srv.Client()},
		Recorder:    h.rec,
		TaskRouter:  h.tr,
	})
	// Calls the tests create come from ourNumber: a caller ID the account has verified (it
	// stays out of IncomingPhoneNumbers, which tests seed themselves).
	h.engine.VerifyCallerID(ourNumber)
	h.server = httptest.NewServer(h.engine.Handler())
	t.Cleanup(h.server.Close)
	rc, check := sandboxtest.Client(t, h.server.URL)
	h.api, h.check = rc.Api, check
	t.Cleanup(func() {
		for _, hit := range h.app.allHits() {
			assert.True(t, hit.SigValid, "webhook to %s must carry a valid X-Twilio-Signature", hit.Path)
		}
		assert.Empty(t, h.check.Failures(), "responses must match Twilio's OpenAPI schemas")
	})
	return h
}

// settle waits for the engine to finish what it is doing (REST requests start work without a timer).
func (h *harness) settle() {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(h.t, h.engine.Settle(ctx))
}

// advance moves the manual clock; every timer that falls due settles before the next.
func (h *harness) advance(d time.Duration) {
	h.t.Helper()
	h.settle()
	h.clk.Advance(d)
	h.settle()
}

func (h *harness) call(sid string) CallInfo {
	h.t.Helper()
	info, ok := h.engine.Call(sid)
	require.True(h.t, ok, "call %s", sid)
	return info
}

// createCall places an outbound call through twilio-go.
func (h *harness) createCall(to string, set func(p *openapi.CreateCallParams)) string {
	h.t.Helper()
	p := &openapi.CreateCallParams{}
	p.SetTo(to).SetFrom(ourNumber).SetUrl(h.app.url("/answer"))
	if set != nil {
		set(p)
	}
	resp, err := h.api.CreateCall(p)
	require.NoError(h.t, err)
	require.NotNil(h.t, resp.Sid)
	h.settle()
	return *resp.Sid
}

func (h *harness) timeline(sid string) []string {
	var out []string
	for _, e := range h.rec.Entries(sid) {
		if e.Sid == sid {
			out = append(out, e.What)
		}
	}
	return out
}

// failWith makes the app answer status (and no TwiML) on path.
func (a *app) failWith(path string, status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fails[path] = status
}

// failNext makes the app answer status to the next n requests on path.
func (a *app) failNext(path string, n, status int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failFirst[path] = [2]int{n, status}
}
