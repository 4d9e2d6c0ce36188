package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"queuebridge/internal/testkit"
)

// fakeTwilio is the kit's fake Twilio (internal/testkit) in its lean mode: it answers the
// operations the bridge makes (Calls.create, Calls update, reservation update, task update, and
// the workflow and activity lists it reads at start-up) with Twilio-shaped JSON at once, and
// keeps neither the requests nor the calls, so that memory stays flat under load. It is not the
// behavioural sandbox (sandbox/): it decides nothing, so that the load tool measures the bridge
// and not a simulation. It tells the traffic generator when the bridge acts on a reservation.
type fakeTwilio struct {
	tw    *testkit.Twilio
	stats atomic.Pointer[stats] // where created→CreateCall is recorded

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
	f := &fakeTwilio{watching: map[string]*watch{}, byTask: map[string]*watch{}}
	tw, err := testkit.StartTwilio(testkit.TwilioOptions{Addr: addr, Account: accountSID, Lean: true, Observe: f.observe})
	if err != nil {
		return nil, err
	}
	tw.Add("/v1/Workspaces/"+workspaceSID+"/Workflows", map[string]any{"sid": workflowSID, "friendly_name": "loadgen", "task_reservation_timeout": 120})
	tw.Override("list_activities", anyActivity)
	f.tw = tw
	return f, nil
}

// anyActivity answers an activity list as if the workspace held the activity asked for by name,
// whatever the bridge is configured with.
func anyActivity(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"activities": []map[string]any{{"sid": "WA00000000000000000000000000000009", "friendly_name": r.URL.Query().Get("FriendlyName"), "available": false}},
		"meta":       map[string]any{"page": 0, "page_size": 50, "next_page_url": nil, "key": "activities"},
	})
}

func (f *fakeTwilio) URL() string { return f.tw.URL }

func (f *fakeTwilio) close() { f.tw.Close() }

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

// observe tells the watch of the reservation the bridge acted on: its call placed, the
// reservation rejected, the task completed.
func (f *fakeTwilio) observe(r testkit.Request) {
	switch r.Op {
	case "create_call":
		u, err := url.Parse(r.Form.Get("Url"))
		if err != nil {
			return
		}
		if wt := f.lookup(f.watching, u.Query().Get("reservation")); wt != nil {
			st := f.stats.Load()
			select {
			case wt.call <- r.SID:
				if st != nil {
					st.observe(createdToCall, r.At.Sub(wt.createdSent))
				}
			default: // a second call for the reservation: the bridge's tests say it never happens
				if st != nil {
					st.fail(createdToCall, fmt.Errorf("a second Calls.create for %s", u.Query().Get("reservation")))
				}
			}
		}
	case "update_reservation":
		if wt := f.lookup(f.watching, path.Base(r.Path)); wt != nil && r.Form.Get("ReservationStatus") == "rejected" {
			notify(wt.rejected)
		}
	case "update_task":
		if wt := f.lookup(f.byTask, path.Base(r.Path)); wt != nil && r.Form.Get("AssignmentStatus") == "completed" {
			notify(wt.completed)
		}
	}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
