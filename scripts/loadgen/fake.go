package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fakeTwilio is a small, fast stand-in for the Twilio REST API: just the operations the bridge
// makes (Calls.create, Calls update, reservation update, task update, and the workflow and
// activity lists it reads at start-up), answered with Twilio-shaped JSON at once. It is not the
// behavioural sandbox (sandbox/): it decides nothing, so that the load tool measures the bridge
// and not a simulation. It tells the traffic generator when the bridge acts on a reservation.
type fakeTwilio struct {
	accountSID string
	srv        *http.Server
	ln         net.Listener
	calls      atomic.Int64
	stats      atomic.Pointer[stats] // where created→CreateCall is recorded

	mu       sync.Mutex
	watching map[string]*watch // by reservation SID
	byTask   map[string]*watch
}

// watch is what the traffic generator waits for on one reservation.
type watch struct {
	createdSent time.Time     // when reservation.created was sent
	call        chan string   // the call SID, on Calls.create
	rejected    chan struct{} // the reservation rejected
	completed   chan struct{} // the task completed
}

func newWatch() *watch {
	return &watch{call: make(chan string, 1), rejected: make(chan struct{}, 1), completed: make(chan struct{}, 1)}
}

func startFakeTwilio(accountSID, addr string) (*fakeTwilio, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fake Twilio: %w", err)
	}
	f := &fakeTwilio{accountSID: accountSID, ln: ln, watching: map[string]*watch{}, byTask: map[string]*watch{}}
	f.srv = &http.Server{Handler: http.HandlerFunc(f.serve), ReadHeaderTimeout: 5 * time.Second}
	go f.srv.Serve(ln)
	return f, nil
}

func (f *fakeTwilio) URL() string { return "http://" + f.ln.Addr().String() }

func (f *fakeTwilio) close() { f.srv.Close() }

// watch registers a reservation before its reservation.created is sent.
func (f *fakeTwilio) watch(reservation, task string, createdSent time.Time) *watch {
	w := newWatch()
	w.createdSent = createdSent
	f.mu.Lock()
	f.watching[reservation] = w
	f.byTask[task] = w
	f.mu.Unlock()
	return w
}

func (f *fakeTwilio) forget(reservation, task string) {
	f.mu.Lock()
	delete(f.watching, reservation)
	delete(f.byTask, task)
	f.mu.Unlock()
}

func (f *fakeTwilio) lookup(m map[string]*watch, sid string) *watch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return m[sid]
}

func (f *fakeTwilio) serve(w http.ResponseWriter, r *http.Request) {
	received := time.Now()
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	form, _ := url.ParseQuery(string(body))
	p := r.URL.Path
	acct := "/2010-04-01/Accounts/" + f.accountSID
	now := received.UTC().Format(time.RFC1123Z)          // the 2010 API's dates
	iso := received.UTC().Format("2006-01-02T15:04:05Z") // TaskRouter's
	switch {
	case r.Method == http.MethodPost && p == acct+"/Calls.json":
		sid := fmt.Sprintf("CA%032x", f.calls.Add(1))
		if u, err := url.Parse(form.Get("Url")); err == nil {
			if wt := f.lookup(f.watching, u.Query().Get("reservation")); wt != nil {
				select {
				case wt.call <- sid:
					if st := f.stats.Load(); st != nil {
						st.observe(createdToCall, received.Sub(wt.createdSent))
					}
				default: // a second call for the reservation: the bridge's tests say it never happens
					if st := f.stats.Load(); st != nil {
						st.fail(createdToCall, fmt.Errorf("a second Calls.create for %s", u.Query().Get("reservation")))
					}
				}
			}
		}
		writeJSON(w, http.StatusCreated, fmt.Sprintf(`{"sid":%q,"account_sid":%q,"to":%q,"from":%q,"status":"queued",`+
			`"direction":"outbound-api","api_version":"2010-04-01","date_created":%q,"date_updated":%q,"uri":"%s/Calls/%s.json"}`,
			sid, f.accountSID, form.Get("To"), form.Get("From"), now, now, acct, sid))
	case r.Method == http.MethodPost && strings.HasPrefix(p, acct+"/Calls/"):
		sid := strings.TrimSuffix(strings.TrimPrefix(p, acct+"/Calls/"), ".json")
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"sid":%q,"account_sid":%q,"status":%q,"date_updated":%q}`,
			sid, f.accountSID, form.Get("Status"), now))
	case r.Method == http.MethodGet && p == acct+"/Calls.json":
		writeJSON(w, http.StatusOK, `{"calls":[],"page":0,"page_size":50,"next_page_uri":null,"uri":"`+p+`"}`)
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/v1/Workspaces/") && strings.Contains(p, "/Reservations/"):
		parts := strings.Split(p, "/")
		sid := parts[len(parts)-1]
		if wt := f.lookup(f.watching, sid); wt != nil && form.Get("ReservationStatus") == "rejected" {
			notify(wt.rejected)
		}
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"sid":%q,"account_sid":%q,"reservation_status":%q,"date_updated":%q}`,
			sid, f.accountSID, form.Get("ReservationStatus"), iso))
	case r.Method == http.MethodPost && strings.HasPrefix(p, "/v1/Workspaces/") && strings.Contains(p, "/Tasks/"):
		parts := strings.Split(p, "/")
		sid := parts[len(parts)-1]
		if wt := f.lookup(f.byTask, sid); wt != nil && form.Get("AssignmentStatus") == "completed" {
			notify(wt.completed)
		}
		writeJSON(w, http.StatusOK, fmt.Sprintf(`{"sid":%q,"account_sid":%q,"assignment_status":%q,"date_updated":%q}`,
			sid, f.accountSID, form.Get("AssignmentStatus"), iso))
	case r.Method == http.MethodGet && strings.HasSuffix(p, "/Workflows"):
		writeJSON(w, http.StatusOK, `{"workflows":[{"sid":"`+workflowSID+`","friendly_name":"loadgen","task_reservation_timeout":120}],`+
			`"meta":{"page":0,"page_size":50,"next_page_url":null,"key":"workflows"}}`)
	case r.Method == http.MethodGet && strings.HasSuffix(p, "/Activities"):
		writeJSON(w, http.StatusOK, `{"activities":[{"sid":"WA00000000000000000000000000000009","friendly_name":`+
			strconv.Quote(r.URL.Query().Get("FriendlyName"))+`}],"meta":{"page":0,"page_size":50,"next_page_url":null,"key":"activities"}}`)
	default:
		writeJSON(w, http.StatusNotFound, `{"code":20404,"message":"The requested resource was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}`)
	}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
