package handlers_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	accountSID = "AC00000000000000000000000000000001"
	authToken  = "0123456789abcdef0123456789abcdef"
)

// twilioRequest is one REST request the bridge made.
type twilioRequest struct {
	Method string
	Path   string
	Form   url.Values
}

// fakeTwilio answers the few REST operations the bridge uses with Twilio-shaped JSON and
// records every request, for tests of one decision at a time. Whole calls are tested against
// the sandbox instead.
type fakeTwilio struct {
	srv *httptest.Server

	mu       sync.Mutex
	requests []twilioRequest
	// createFailures are statuses answered to the next Calls.create requests, in order.
	createFailures []int
	// createGate, when set, holds Calls.create until it is closed.
	createGate chan struct{}
	// hangFirstCreate makes the first Calls.create create the call but answer too late.
	hangFirstCreate time.Duration
	// listedCalls are answered to Calls list.
	listedCalls []map[string]any
	// workflowTimeout is each listed workflow's TaskReservationTimeout.
	workflowTimeout int
	created         int
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	f := &fakeTwilio{workflowTimeout: 120}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	form, _ := url.ParseQuery(string(body))
	f.mu.Lock()
	f.requests = append(f.requests, twilioRequest{Method: r.Method, Path: r.URL.Path, Form: form})
	f.mu.Unlock()
	path := r.URL.Path
	switch {
	case r.Method == http.MethodPost && path == "/2010-04-01/Accounts/"+accountSID+"/Calls.json":
		f.createCall(w)
	case r.Method == http.MethodPost && strings.HasPrefix(path, "/2010-04-01/Accounts/"+accountSID+"/Calls/"):
		sid := strings.TrimSuffix(strings.TrimPrefix(path, "/2010-04-01/Accounts/"+accountSID+"/Calls/"), ".json")
		writeJSON(w, 200, map[string]any{"sid": sid, "status": form.Get("Status")})
	case r.Method == http.MethodGet && path == "/2010-04-01/Accounts/"+accountSID+"/Calls.json":
		f.mu.Lock()
		calls := f.listedCalls
		f.mu.Unlock()
		if calls == nil {
			calls = []map[string]any{}
		}
		writeJSON(w, 200, map[string]any{"calls": calls, "page": 0, "page_size": 50, "next_page_uri": nil})
	case r.Method == http.MethodPost && strings.Contains(path, "/Reservations/"):
		parts := strings.Split(path, "/")
		writeJSON(w, 200, map[string]any{"sid": parts[len(parts)-1], "reservation_status": form.Get("ReservationStatus")})
	case r.Method == http.MethodPost && strings.Contains(path, "/Tasks/"):
		parts := strings.Split(path, "/")
		writeJSON(w, 200, map[string]any{"sid": parts[len(parts)-1], "assignment_status": form.Get("AssignmentStatus")})
	case r.Method == http.MethodGet && strings.HasSuffix(path, "/Workflows"):
		f.mu.Lock()
		timeout := f.workflowTimeout
		f.mu.Unlock()
		writeJSON(w, 200, map[string]any{
			"workflows": []map[string]any{{"sid": "WW00000000000000000000000000000001", "friendly_name": "main", "task_reservation_timeout": timeout}},
			"meta":      map[string]any{"page": 0, "page_size": 50, "next_page_url": nil, "key": "workflows"},
		})
	case r.Method == http.MethodGet && strings.HasSuffix(path, "/Activities"):
		writeJSON(w, 200, map[string]any{
			"activities": []map[string]any{{"sid": "WA00000000000000000000000000000009", "friendly_name": r.URL.Query().Get("FriendlyName")}},
			"meta":       map[string]any{"page": 0, "page_size": 50, "next_page_url": nil, "key": "activities"},
		})
	default:
		writeJSON(w, 404, map[string]any{"code": 20404, "message": "not found", "more_info": "", "status": 404})
	}
}

func (f *fakeTwilio) createCall(w http.ResponseWriter) {
	f.mu.Lock()
	gate := f.createGate
	var fail int
	if len(f.createFailures) > 0 {
		fail, f.createFailures = f.createFailures[0], f.createFailures[1:]
	}
	hang := f.hangFirstCreate
	f.hangFirstCreate = 0
	f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail != 0 {
		code := map[int]int{400: 21211, 429: 20429, 500: 20500, 503: 20503}[fail]
		writeJSON(w, fail, map[string]any{"code": code, "message": "refused by the test", "more_info": "", "status": fail})
		return
	}
	f.mu.Lock()
	f.created++
	sid := fmt.Sprintf("CA%032x", f.created)
	if hang > 0 {
		f.listedCalls = append(f.listedCalls, map[string]any{"sid": sid, "status": "ringing",
			"to": "", "from": "", "date_created": time.Now().UTC().Format(time.RFC1123Z)})
	}
	f.mu.Unlock()
	if hang > 0 {
		time.Sleep(hang) // the client gives up first: Twilio created the call, the bridge does not know
	}
	writeJSON(w, 201, map[string]any{"sid": sid, "status": "queued"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// requestsTo returns the recorded requests whose method and path match (path may end in *).
func (f *fakeTwilio) requestsTo(method, path string) []twilioRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []twilioRequest
	for _, r := range f.requests {
		if r.Method != method {
			continue
		}
		if strings.HasSuffix(path, "*") && strings.HasPrefix(r.Path, strings.TrimSuffix(path, "*")) || r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeTwilio) callCreates() []twilioRequest {
	return f.requestsTo(http.MethodPost, "/2010-04-01/Accounts/"+accountSID+"/Calls.json")
}

func (f *fakeTwilio) callUpdates() []twilioRequest {
	return f.requestsTo(http.MethodPost, "/2010-04-01/Accounts/"+accountSID+"/Calls/*")
}

func (f *fakeTwilio) reservationUpdates() []twilioRequest {
	var out []twilioRequest
	for _, r := range f.requestsTo(http.MethodPost, "/v1/Workspaces/*") {
		if strings.Contains(r.Path, "/Reservations/") {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakeTwilio) taskUpdates() []twilioRequest {
	var out []twilioRequest
	for _, r := range f.requestsTo(http.MethodPost, "/v1/Workspaces/*") {
		if !strings.Contains(r.Path, "/Reservations/") {
			out = append(out, r)
		}
	}
	return out
}
