package sandbox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go"
	twclient "github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"queuebridge/sandbox"
	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/taskrouter"
	qbprov "queuebridge/taskrouter/provision"
	"queuebridge/twiliogo"
)

// The tests in this file drive whole calls across the three engines with no bridge involved:
// the workspace and the IVR flow are provisioned by the real bootstrap code through twilio-go,
// and a tiny application plays the bridge's part (agent leg with AMD, <Dial><Queue>, reject on
// a machine, complete on wrapup).

// speed is how much faster than real time the sandbox's clock runs in these tests.
const speed = 100

// startSandbox starts a sandbox on a scaled clock, closed when the test ends.
func startSandbox(t *testing.T) *sandbox.Sandbox {
	t.Helper()
	sb, err := sandbox.New(sandbox.Config{Clock: clock.NewScaled(speed)})
	require.NoError(t, err)
	require.NoError(t, sb.Start())
	t.Cleanup(func() { _ = sb.Close() })
	return sb
}

// restClient is the real twilio-go client pointed at the sandbox, as TWILIO_API_URL does it.
func restClient(t *testing.T, sb *sandbox.Sandbox) *twilio.RestClient {
	t.Helper()
	ac, token := sb.Credentials()
	rc, err := twiliogo.New(twiliogo.Credentials{AccountSID: ac, AuthToken: token}, sb.URL(), 10*time.Second)
	require.NoError(t, err)
	return rc
}

// app is a minimal TaskRouter application: on reservation.created it rings the worker's
// contact_uri with AMD; a human gets <Dial><Queue reservationSid>, anything else <Hangup/> and
// the reservation rejected; an agent leg that does not answer rejects too; a canceled
// reservation hangs up its leg; wrapup completes the task.
type app struct {
	srv   *httptest.Server
	rc    *twilio.RestClient
	token string
	from  string // caller ID of agent legs

	mu        sync.Mutex
	workspace string
	events    []string          // event types received, in order
	legs      map[string]string // reservation → agent call
	errs      []string
	wg        sync.WaitGroup
}

func newApp(t *testing.T, sb *sandbox.Sandbox) *app {
	t.Helper()
	_, token := sb.Credentials()
	a := &app{rc: restClient(t, sb), token: token, from: sandbox.DefaultNumber, legs: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /taskrouter/events", a.signed(a.handleEvent))
	mux.HandleFunc("POST /answer", a.signed(a.handleAnswer))
	mux.HandleFunc("POST /status", a.signed(a.handleStatus))
	a.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		a.wg.Wait()
		a.srv.Close()
		a.mu.Lock()
		defer a.mu.Unlock()
		for _, e := range a.errs {
			t.Error(e)
		}
	})
	return a
}

func (a *app) failf(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.errs = append(a.errs, fmt.Sprintf(format, args...))
}

// signed refuses requests whose X-Twilio-Signature twilio-go's validator does not accept.
func (a *app) signed(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		params := map[string]string{}
		for k, v := range r.PostForm {
			params[k] = v[0]
		}
		rv := twclient.NewRequestValidator(a.token)
		if !rv.Validate(a.srv.URL+r.URL.RequestURI(), params, r.Header.Get("X-Twilio-Signature")) {
			a.failf("bad signature on %s", r.URL.RequestURI())
			http.Error(w, "bad signature", http.StatusForbidden)
			return
		}
		next(w, r)
	}
}

func (a *app) eventTypes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.events...)
}

func (a *app) leg(reservation string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.legs[reservation]
}

// async runs f outside the webhook, as a real application answers TaskRouter at once.
func (a *app) async(f func()) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		f()
	}()
}

func (a *app) handleEvent(w http.ResponseWriter, r *http.Request) {
	typ := r.PostForm.Get("EventType")
	res, task := r.PostForm.Get("ReservationSid"), r.PostForm.Get("TaskSid")
	a.mu.Lock()
	a.events = append(a.events, typ)
	a.workspace = r.PostForm.Get("WorkspaceSid")
	a.mu.Unlock()
	switch typ {
	case "reservation.created":
		var worker struct {
			ContactURI string `json:"contact_uri"`
		}
		if err := json.Unmarshal([]byte(r.PostForm.Get("WorkerAttributes")), &worker); err != nil {
			a.failf("reservation.created %s: worker attributes: %v", res, err)
			break
		}
		a.async(func() { a.ringAgent(res, task, worker.ContactURI) })
	case "reservation.canceled", "reservation.rescinded", "reservation.timeout":
		if leg := a.leg(res); leg != "" {
			a.async(func() { a.hangUp(leg) })
		}
	case "reservation.wrapup":
		a.async(func() {
			p := &trapi.UpdateTaskParams{}
			p.SetAssignmentStatus("completed").SetReason("call ended")
			if _, err := a.rc.TaskrouterV1.UpdateTask(a.ws(), task, p); err != nil {
				a.failf("complete task %s: %v", task, err)
			}
		})
	}
	w.WriteHeader(http.StatusOK)
}

func (a *app) ws() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.workspace
}

func (a *app) ringAgent(res, task, contact string) {
	q := "?reservation=" + res + "&task=" + task
	p := &api.CreateCallParams{}
	p.SetTo(contact).SetFrom(a.from).SetUrl(a.srv.URL + "/answer" + q).SetMachineDetection("Enable").
		SetStatusCallback(a.srv.URL + "/status" + q).SetStatusCallbackEvent([]string{"completed"}).SetTimeout(20)
	c, err := a.rc.Api.CreateCall(p)
	if err != nil {
		a.failf("ring %s for %s: %v", contact, res, err)
		return
	}
	a.mu.Lock()
	a.legs[res] = *c.Sid
	a.mu.Unlock()
}

func (a *app) hangUp(call string) {
	for _, status := range []string{"canceled", "completed"} {
		if _, err := a.rc.Api.UpdateCall(call, (&api.UpdateCallParams{}).SetStatus(status)); err == nil {
			return
		}
	}
}

func (a *app) reject(task, res string) {
	p := &trapi.UpdateTaskReservationParams{}
	p.SetReservationStatus("rejected")
	// A reservation that is no longer pending cannot be rejected: that is fine here.
	_, _ = a.rc.TaskrouterV1.UpdateTaskReservation(a.ws(), task, res, p)
}

func (a *app) handleAnswer(w http.ResponseWriter, r *http.Request) {
	res, task := r.URL.Query().Get("reservation"), r.URL.Query().Get("task")
	w.Header().Set("Content-Type", "text/xml")
	if r.PostForm.Get("AnsweredBy") == "human" {
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Dial><Queue reservationSid="%s"/></Dial></Response>`, res)
		return
	}
	a.reject(task, res)
	fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>`)
}

func (a *app) handleStatus(w http.ResponseWriter, r *http.Request) {
	switch r.PostForm.Get("CallStatus") {
	case "no-answer", "busy", "failed":
		a.reject(r.URL.Query().Get("task"), r.URL.Query().Get("reservation"))
	}
	w.WriteHeader(http.StatusNoContent)
}

// provision applies the bootstrap spec (the example one unless edit changes it) to the sandbox
// with the app as the bridge, and returns the SIDs.
func provision(t *testing.T, sb *sandbox.Sandbox, a *app, edit func(*qbprov.Spec)) qbprov.ProvisionOutputs {
	t.Helper()
	spec, err := qbprov.LoadSpec(qbprov.ExampleSpec)
	require.NoError(t, err)
	if edit != nil {
		edit(spec)
	}
	settings := qbprov.SpecSettings{PublicBaseURL: a.srv.URL, RingTimeout: taskrouter.DefaultRingTimeout, AMDTimeout: taskrouter.DefaultAMDTimeout}
	p := qbprov.NewProvisioner(qbprov.NewTwilioProvisionAPI(a.rc), settings)
	plan, err := p.ApplySpec(context.Background(), spec)
	require.NoError(t, err)
	a.mu.Lock()
	a.workspace = plan.Outputs.WorkspaceSID
	a.mu.Unlock()
	return plan.Outputs
}

// waitForTask waits for the task of the call to reach status and returns its SID.
func waitForTask(t *testing.T, sb *sandbox.Sandbox, callSid, status string) (taskSid string) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, _ := sb.Voice().Call(callSid)
		taskSid = c.TaskSid
		task, ok := sb.TaskRouter().Task(taskSid)
		return ok && task.AssignmentStatus == status
	}, sandboxtest.Wait, sandboxtest.Tick, "waiting for the task of %s to be %s", callSid, status)
	return taskSid
}

func waitForCallEnd(t *testing.T, sb *sandbox.Sandbox, callSid string) {
	t.Helper()
	require.Eventually(t, func() bool {
		c, _ := sb.Voice().Call(callSid)
		return c.Status == "completed"
	}, sandboxtest.Wait, sandboxtest.Tick, "waiting for %s to end", callSid)
}

// waitForEvent waits until the last event the application received is of type typ.
func (a *app) waitForEvent(t *testing.T, typ string) {
	t.Helper()
	require.Eventually(t, func() bool {
		ev := a.eventTypes()
		return len(ev) > 0 && ev[len(ev)-1] == typ
	}, sandboxtest.Wait, sandboxtest.Tick, "waiting for %s to reach the application", typ)
}

// whats lists the What of entries of one kind.
func whats(entries []sandbox.Entry, kind string) []string {
	var out []string
	for _, e := range entries {
		if e.Kind == kind {
			out = append(out, e.What)
		}
	}
	return out
}

func hasWhat(entries []sandbox.Entry, sid, prefix string) bool {
	for _, e := range entries {
		if e.Sid == sid && strings.HasPrefix(e.What, prefix) {
			return true
		}
	}
	return false
}
