package handlers_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/handlers"
	"queuebridge/internal/app"
	"queuebridge/internal/config"
	"queuebridge/internal/testkit"
	"queuebridge/taskrouter"
	"queuebridge/twiliogo"
)

// publicBase is deliberately not the test server's address: signatures are checked over
// PUBLIC_BASE_URL, as behind a proxy.
const publicBase = "https://bridge.example.com"

const (
	accountSID   = testkit.Account
	authToken    = testkit.Token
	workspaceSID = "WS00000000000000000000000000000001"
	workflowSID  = "WW00000000000000000000000000000001"
	agentNumber  = "+15005550101"
	callerNumber = "+15005550199"
	// ourNumber is the number the caller dialed: the account owns it, so it is the agent leg's From.
	ourNumber = "+15005550006"
)

type harness struct {
	t      *testing.T
	tw     *testkit.Twilio
	hooks  testkit.Webhooks
	dbPath string
	db     app.Store
	bridge *taskrouter.Bridge
	srv    *httptest.Server
	opts   taskrouter.Options
	stop   context.CancelFunc
	done   chan struct{}
	log    io.Writer
	// operatorToken is OPERATOR_TOKEN.
	operatorToken string
}

type harnessOption func(*harness)

// withOptions adjusts the bridge's options.
func withOptions(f func(*taskrouter.Options)) harnessOption {
	return func(h *harness) { f(&h.opts) }
}

// withoutDispatcher leaves jobs queued until startDispatcher.
func withoutDispatcher() harnessOption { return func(h *harness) { h.done = nil } }

// withTwilio and withDB let a test restart the bridge on the same Twilio and database.
func withTwilio(tw *testkit.Twilio) harnessOption { return func(h *harness) { h.tw = tw } }
func withDB(path string) harnessOption            { return func(h *harness) { h.dbPath = path } }

// withOperatorToken sets OPERATOR_TOKEN.
func withOperatorToken(token string) harnessOption {
	return func(h *harness) { h.operatorToken = token }
}

// withLog sends the bridge's log to w.
func withLog(w io.Writer) harnessOption { return func(h *harness) { h.log = w } }

func newHarness(t *testing.T, options ...harnessOption) *harness {
	t.Helper()
	h := &harness{t: t, done: make(chan struct{}), log: io.Discard}
	h.opts = taskrouter.Options{RetryBase: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond, LegReportWait: 20 * time.Millisecond}
	for _, o := range options {
		o(h)
	}
	if h.tw == nil {
		h.tw = testkit.NewTwilio(t)
	}
	if h.dbPath == "" {
		h.dbPath = filepath.Join(t.TempDir(), "qb.db")
	}
	a, err := app.New(context.Background(), app.Config{
		Twilio: config.Twilio{
			Credentials: twiliogo.Credentials{AccountSID: accountSID, AuthToken: authToken}, APIURL: h.tw.URL,
		},
		PublicBaseURL: publicBase, DatabaseURL: h.dbPath, Options: h.opts, WorkspaceSID: workspaceSID,
		Operator: app.OperatorConfig{Token: h.operatorToken},
	}, app.WithoutStartupChecks(), app.WithTwilioTimeout(300*time.Millisecond),
		app.WithLogger(slog.New(slog.NewTextHandler(h.log, nil))))
	require.NoError(t, err)
	h.db, h.bridge = a.Store, a.Bridge
	h.srv = httptest.NewServer(a.Handler)
	h.hooks = testkit.Webhooks{Token: authToken, Base: publicBase, URL: h.srv.URL}
	startNow := h.done != nil
	h.done = make(chan struct{})
	if startNow {
		h.startDispatcher()
	}
	t.Cleanup(h.close)
	return h
}

func (h *harness) startDispatcher() {
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	go func() {
		defer close(h.done)
		_ = h.bridge.Run(ctx)
	}()
}

// close stops the dispatcher (waiting for jobs in flight), the server and the store: what a
// crash leaves behind is whatever was committed.
func (h *harness) close() {
	if h.srv == nil {
		return
	}
	h.srv.Close()
	if h.stop != nil {
		h.stop()
		<-h.done
	}
	h.db.Close()
	h.srv = nil
}

// post sends a form POST signed as Twilio would sign it for publicBase+target.
func (h *harness) post(target string, form url.Values) (int, string) {
	h.t.Helper()
	return h.hooks.Post(h.t, target, form)
}

// res is one reservation of a test: its SIDs.
type res struct {
	SID, Task, Worker string
}

func newRes() res {
	return res{SID: testkit.SID("WR"), Task: testkit.SID("WT"), Worker: testkit.SID("WK")}
}

// event builds a TaskRouter event callback form for r.
func event(typ string, r res, extra ...string) url.Values {
	taskAttrs, _ := json.Marshal(map[string]any{"from": callerNumber, "to": ourNumber, "call_sid": testkit.SID("CA")})
	workerAttrs, _ := json.Marshal(map[string]any{"contact_uri": agentNumber})
	f := url.Values{
		"EventType": {typ}, "Sid": {testkit.SID("EV")}, "AccountSid": {accountSID}, "WorkspaceSid": {workspaceSID},
		"ResourceType": {strings.SplitN(typ, ".", 2)[0]}, "TaskSid": {r.Task}, "ReservationSid": {r.SID},
		"WorkerSid": {r.Worker}, "WorkerName": {"alice"}, "WorkflowSid": {workflowSID},
		"TaskAttributes": {string(taskAttrs)}, "WorkerAttributes": {string(workerAttrs)},
		"TimestampMs": {fmt.Sprint(time.Now().UnixMilli())},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		f.Set(extra[i], extra[i+1])
	}
	return f
}

func (h *harness) sendEvent(typ string, r res, extra ...string) {
	h.t.Helper()
	status, body := h.post("/taskrouter/events", event(typ, r, extra...))
	require.Equal(h.t, http.StatusOK, status, body)
}

// waitCall waits for the agent leg of r to be placed and returns its SID.
func (h *harness) waitCall(r res) string {
	h.t.Helper()
	var call string
	require.Eventually(h.t, func() bool {
		got, err := h.db.Reservation(context.Background(), r.SID)
		call = got.CallSID
		return err == nil && call != ""
	}, 5*time.Second, 2*time.Millisecond, "the agent leg of %s was not placed", r.SID)
	return call
}

// connected runs r to the bridge: created, its agent leg placed, a human answers and the TwiML
// connects the caller. It returns the leg's SID.
func (h *harness) connected(r res) string {
	h.t.Helper()
	h.sendEvent("reservation.created", r)
	call := h.waitCall(r)
	assertConnects(h.t, h.answer(r, call, "human"), r)
	return call
}

// metrics returns the /metrics exposition.
func (h *harness) metrics() string {
	h.t.Helper()
	resp, err := http.Get(h.srv.URL + "/metrics")
	require.NoError(h.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(h.t, err)
	return string(body)
}

// waitIdle waits until the outbox is empty.
func (h *harness) waitIdle() {
	h.t.Helper()
	require.Eventually(h.t, func() bool {
		n, err := h.db.PendingJobs(context.Background())
		return err == nil && n == 0
	}, 5*time.Second, 2*time.Millisecond, "jobs still queued")
}

func (h *harness) reservation(r res) taskrouter.Reservation {
	h.t.Helper()
	got, err := h.db.Reservation(context.Background(), r.SID)
	require.NoError(h.t, err)
	return got
}

// answer posts the agent leg's TwiML request with the AMD verdict and parses the TwiML.
func (h *harness) answer(r res, call string, answeredBy string) twimlResponse {
	h.t.Helper()
	form := url.Values{"CallSid": {call}, "AccountSid": {accountSID}, "CallStatus": {"in-progress"}, "Direction": {"outbound-api"}}
	if answeredBy != "" {
		form.Set("AnsweredBy", answeredBy)
		form.Set("MachineDetectionDuration", "1800")
	}
	status, body := h.post(dialQueuePath(r), form)
	require.Equal(h.t, http.StatusOK, status, body)
	return parseTwiML(h.t, body)
}

func dialQueuePath(r res) string {
	return "/dial-queue?" + url.Values{"reservation": {r.SID}, "task": {r.Task}}.Encode()
}

// statusPath is the agent leg's status callback URL as the bridge gives it (handlers.URLs).
func statusPath(r res) string {
	return "/status-callback?" + url.Values{"reservation": {r.SID}, "task": {r.Task}}.Encode()
}

func (h *harness) callStatus(r res, call, status string) {
	h.t.Helper()
	code, body := h.post(statusPath(r), url.Values{"CallSid": {call}, "CallStatus": {status}, "AccountSid": {accountSID}})
	require.Equal(h.t, http.StatusNoContent, code, body)
}

// twimlResponse is TwiML parsed back: tests never compare XML strings (attribute order varies).
type twimlResponse struct {
	XMLName xml.Name `xml:"Response"`
	Verbs   []struct {
		XMLName xml.Name
		Action  string `xml:"action,attr"`
		Text    string `xml:",chardata"`
		Queue   []struct {
			ReservationSid      string `xml:"reservationSid,attr"`
			PostWorkActivitySid string `xml:"postWorkActivitySid,attr"`
		} `xml:"Queue"`
	} `xml:",any"`
}

func parseTwiML(t *testing.T, body string) twimlResponse {
	t.Helper()
	var r twimlResponse
	require.NoError(t, xml.Unmarshal([]byte(body), &r), body)
	return r
}

// verbs lists the verb names in order.
func (r twimlResponse) verbs() []string {
	out := make([]string, len(r.Verbs))
	for i, v := range r.Verbs {
		out[i] = v.XMLName.Local
	}
	return out
}

// assertConnects checks the TwiML dequeues the caller through the reservation, nothing after it.
func assertConnects(t *testing.T, tw twimlResponse, r res) {
	t.Helper()
	require.Equal(t, []string{"Dial"}, tw.verbs())
	require.Len(t, tw.Verbs[0].Queue, 1)
	assert.Equal(t, r.SID, tw.Verbs[0].Queue[0].ReservationSid)
	assert.Equal(t, publicBase+dialQueuePath(r)+handlers.Overrides, tw.Verbs[0].Action, "the Dial action carries the connection overrides")
}
