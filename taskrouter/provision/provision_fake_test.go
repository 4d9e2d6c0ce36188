package provision

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/twilio/twilio-go/client"

	"queuebridge/studio"
)

// fakeTwilio is an in-memory ProvisionAPI: a map-backed account that records every call as
// "op kind name", so tests assert on the requests made and on the state left behind.
type fakeTwilio struct {
	mu         sync.Mutex
	seq        int
	workspaces []*fakeWorkspace
	flows      []studio.FlowInfo
	numbers    []ProvisionedNumber
	calls      []string
	// failOn makes the call with this description fail with a Twilio error.
	failOn string
}

type fakeWorkspace struct {
	ProvisionedWorkspace
	activities []ProvisionedActivity
	queues     []ProvisionedQueue
	workers    []ProvisionedWorker
	workflows  []ProvisionedWorkflow
}

var _ ProvisionAPI = (*fakeTwilio)(nil)

const fakeAccount = "AC0123456789abcdef0123456789abcdef"

func newFakeTwilio() *fakeTwilio {
	return &fakeTwilio{numbers: []ProvisionedNumber{{SID: "PN00000000000000000000000000000001", PhoneNumber: "+15005550006"}}}
}

func (f *fakeTwilio) sid(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s%032d", prefix, f.seq)
}

func (f *fakeTwilio) call(op, kind, name string) error {
	c := strings.TrimSpace(op + " " + kind + " " + name)
	f.calls = append(f.calls, c)
	if c == f.failOn {
		return &client.TwilioRestError{Code: 20001, Message: "Invalid parameter", Status: 400, MoreInfo: "https://www.twilio.com/docs/errors/20001"}
	}
	return nil
}

// writes are the calls that change something.
func (f *fakeTwilio) writes() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if !strings.HasPrefix(c, "list ") {
			out = append(out, c)
		}
	}
	return out
}

func (f *fakeTwilio) resetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

func (f *fakeTwilio) ws(sid string) (*fakeWorkspace, error) {
	for _, w := range f.workspaces {
		if w.SID == sid {
			return w, nil
		}
	}
	return nil, &client.TwilioRestError{Code: 20404, Message: "The requested resource was not found", Status: 404}
}

func (f *fakeTwilio) ListWorkspaces(_ context.Context, name string) ([]ProvisionedWorkspace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("list", "workspaces", ""); err != nil {
		return nil, err
	}
	var out []ProvisionedWorkspace
	for _, w := range f.workspaces {
		if w.Name == name {
			out = append(out, w.ProvisionedWorkspace)
		}
	}
	return out, nil
}

func (f *fakeTwilio) CreateWorkspace(_ context.Context, ws ProvisionedWorkspace) (ProvisionedWorkspace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("create", "workspace", ws.Name); err != nil {
		return ProvisionedWorkspace{}, err
	}
	ws.SID = f.sid("WS")
	w := &fakeWorkspace{ProvisionedWorkspace: ws}
	// Twilio gives a new workspace these activities, Offline being the default.
	for _, a := range []ProvisionedActivity{{Name: "Offline"}, {Name: "Available", Available: true}, {Name: "Unavailable"}} {
		a.SID = f.sid("WA")
		w.activities = append(w.activities, a)
	}
	w.DefaultActivitySID, w.TimeoutActivitySID = w.activities[0].SID, w.activities[0].SID
	f.workspaces = append(f.workspaces, w)
	return w.ProvisionedWorkspace, nil
}

func (f *fakeTwilio) UpdateWorkspace(_ context.Context, ws ProvisionedWorkspace) (ProvisionedWorkspace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("update", "workspace", ws.Name); err != nil {
		return ProvisionedWorkspace{}, err
	}
	w, err := f.ws(ws.SID)
	if err != nil {
		return ProvisionedWorkspace{}, err
	}
	w.EventCallbackURL, w.EventsFilter = ws.EventCallbackURL, ws.EventsFilter
	if ws.TimeoutActivitySID != "" {
		w.TimeoutActivitySID = ws.TimeoutActivitySID
	}
	if ws.DefaultActivitySID != "" {
		w.DefaultActivitySID = ws.DefaultActivitySID
	}
	return w.ProvisionedWorkspace, nil
}

func (f *fakeTwilio) DeleteWorkspace(_ context.Context, sid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, err := f.ws(sid)
	if err != nil {
		return err
	}
	if err := f.call("delete", "workspace", w.Name); err != nil {
		return err
	}
	for i, x := range f.workspaces {
		if x == w {
			f.workspaces = append(f.workspaces[:i], f.workspaces[i+1:]...)
		}
	}
	return nil
}

func (f *fakeTwilio) ListActivities(_ context.Context, wsSID string) ([]ProvisionedActivity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "list activities")
	w, err := f.ws(wsSID)
	if err != nil {
		return nil, err
	}
	return append([]ProvisionedActivity(nil), w.activities...), nil
}

func (f *fakeTwilio) CreateActivity(_ context.Context, wsSID string, a ProvisionedActivity) (ProvisionedActivity, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("create", "activity", a.Name); err != nil {
		return ProvisionedActivity{}, err
	}
	w, err := f.ws(wsSID)
	if err != nil {
		return ProvisionedActivity{}, err
	}
	a.SID = f.sid("WA")
	w.activities = append(w.activities, a)
	return a, nil
}

func (f *fakeTwilio) ListQueues(_ context.Context, wsSID string) ([]ProvisionedQueue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "list queues")
	w, err := f.ws(wsSID)
	if err != nil {
		return nil, err
	}
	return append([]ProvisionedQueue(nil), w.queues...), nil
}

func (f *fakeTwilio) CreateQueue(_ context.Context, wsSID string, q ProvisionedQueue) (ProvisionedQueue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("create", "queue", q.Name); err != nil {
		return ProvisionedQueue{}, err
	}
	w, err := f.ws(wsSID)
	if err != nil {
		return ProvisionedQueue{}, err
	}
	q.SID = f.sid("WQ")
	w.queues = append(w.queues, q)
	return q, nil
}

func (f *fakeTwilio) UpdateQueue(_ context.Context, wsSID string, q ProvisionedQueue) (ProvisionedQueue, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("update", "queue", q.Name); err != nil {
		return ProvisionedQueue{}, err
	}
	w, err := f.ws(wsSID)
	if err != nil {
		return ProvisionedQueue{}, err
	}
	for i := range w.queues {
		if w.queues[i].SID == q.SID {
			w.queues[i].TargetWorkers, w.queues[i].MaxReservedWorkers = q.TargetWorkers, q.MaxReservedWorkers
			return w.queues[i], nil
		}
	}
	return ProvisionedQueue{}, fmt.Errorf("no queue %s", q.SID)
}

func (f *fakeTwilio) DeleteQueue(_ context.Context, wsSID, sid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, err := f.ws(wsSID)
	if err != nil {
		return err
	}
	for i, q := range w.queues {
		if q.SID == sid {
			if err := f.call("delete", "queue", q.Name); err != nil {
				return err
			}
			w.queues = append(w.queues[:i], w.queues[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("no queue %s", sid)
}

func (f *fakeTwilio) ListWorkers(_ context.Context, wsSID string) ([]ProvisionedWorker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "list workers")
	w, err := f.ws(wsSID)
	if err != nil {
		return nil, err
	}
	return append([]ProvisionedWorker(nil), w.workers...), nil
}

func (f *fakeTwilio) CreateWorker(_ context.Context, wsSID string, wk ProvisionedWorker) (ProvisionedWorker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("create", "worker", wk.Name); err != nil {
		return ProvisionedWorker{}, err
	}
	w, err := f.ws(wsSID)
	if err != nil {
		return ProvisionedWorker{}, err
	}
	wk.SID = f.sid("WK")
	if wk.ActivitySID == "" {
		wk.ActivitySID = w.DefaultActivitySID
	}
	w.workers = append(w.workers, wk)
	return wk, nil
}

func (f *fakeTwilio) UpdateWorker(_ context.Context, wsSID string, wk ProvisionedWorker) (ProvisionedWorker, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("update", "worker", wk.Name); err != nil {
		return ProvisionedWorker{}, err
	}
	w, err := f.ws(wsSID)
	if err != nil {
		return ProvisionedWorker{}, err
	}
	for i := range w.workers {
		if w.workers[i].SID == wk.SID {
			w.workers[i].Attributes = wk.Attributes
			return w.workers[i], nil
		}
	}
	return ProvisionedWorker{}, fmt.Errorf("no worker %s", wk.SID)
}

func (f *fakeTwilio) DeleteWorker(_ context.Context, wsSID, sid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, err := f.ws(wsSID)
	if err != nil {
		return err
	}
	for i, wk := range w.workers {
		if wk.SID == sid {
			if err := f.call("delete", "worker", wk.Name); err != nil {
				return err
			}
			w.workers = append(w.workers[:i], w.workers[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("no worker %s", sid)
}

func (f *fakeTwilio) ListWorkflows(_ context.Context, wsSID string) ([]ProvisionedWorkflow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "list workflows")
	w, err := f.ws(wsSID)
	if err != nil {
		return nil, err
	}
	return append([]ProvisionedWorkflow(nil), w.workflows...), nil
}

func (f *fakeTwilio) CreateWorkflow(_ context.Context, wsSID string, wf ProvisionedWorkflow) (ProvisionedWorkflow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("create", "workflow", wf.Name); err != nil {
		return ProvisionedWorkflow{}, err
	}
	w, err := f.ws(wsSID)
	if err != nil {
		return ProvisionedWorkflow{}, err
	}
	wf.SID = f.sid("WW")
	w.workflows = append(w.workflows, wf)
	return wf, nil
}

func (f *fakeTwilio) UpdateWorkflow(_ context.Context, wsSID string, wf ProvisionedWorkflow) (ProvisionedWorkflow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("update", "workflow", wf.Name); err != nil {
		return ProvisionedWorkflow{}, err
	}
	w, err := f.ws(wsSID)
	if err != nil {
		return ProvisionedWorkflow{}, err
	}
	for i := range w.workflows {
		if w.workflows[i].SID == wf.SID {
			w.workflows[i].Configuration, w.workflows[i].TaskReservationTimeout = wf.Configuration, wf.TaskReservationTimeout
			return w.workflows[i], nil
		}
	}
	return ProvisionedWorkflow{}, fmt.Errorf("no workflow %s", wf.SID)
}

func (f *fakeTwilio) DeleteWorkflow(_ context.Context, wsSID, sid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, err := f.ws(wsSID)
	if err != nil {
		return err
	}
	for i, wf := range w.workflows {
		if wf.SID == sid {
			if err := f.call("delete", "workflow", wf.Name); err != nil {
				return err
			}
			w.workflows = append(w.workflows[:i], w.workflows[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("no workflow %s", sid)
}

func (f *fakeTwilio) ListFlows(context.Context) ([]studio.FlowInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "list flows")
	return append([]studio.FlowInfo(nil), f.flows...), nil
}

func (f *fakeTwilio) CreateFlow(_ context.Context, name string, def json.RawMessage, msg string) (studio.FlowInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("create", "flow", name); err != nil {
		return studio.FlowInfo{}, err
	}
	if err := studio.Validate(def); err != nil {
		return studio.FlowInfo{}, err
	}
	sid := f.sid("FW")
	fl := studio.FlowInfo{SID: sid, FriendlyName: name, Status: studio.StatusPublished, CommitMessage: msg, Revision: 1,
		WebhookURL: "https://webhooks.twilio.com/v1/Accounts/" + fakeAccount + "/Flows/" + sid}
	f.flows = append(f.flows, fl)
	return fl, nil
}

func (f *fakeTwilio) UpdateFlow(_ context.Context, sid, name string, def json.RawMessage, msg string) (studio.FlowInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("update", "flow", name); err != nil {
		return studio.FlowInfo{}, err
	}
	if err := studio.Validate(def); err != nil {
		return studio.FlowInfo{}, err
	}
	for i := range f.flows {
		if f.flows[i].SID == sid {
			f.flows[i].CommitMessage, f.flows[i].Status = msg, studio.StatusPublished
			f.flows[i].Revision++
			return f.flows[i], nil
		}
	}
	return studio.FlowInfo{}, fmt.Errorf("no flow %s", sid)
}

func (f *fakeTwilio) DeleteFlow(_ context.Context, sid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, fl := range f.flows {
		if fl.SID == sid {
			if err := f.call("delete", "flow", fl.FriendlyName); err != nil {
				return err
			}
			f.flows = append(f.flows[:i], f.flows[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("no flow %s", sid)
}

func (f *fakeTwilio) ListNumbers(_ context.Context, phone string) ([]ProvisionedNumber, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "list numbers")
	var out []ProvisionedNumber
	for _, n := range f.numbers {
		if n.PhoneNumber == phone {
			out = append(out, n)
		}
	}
	return out, nil
}

func (f *fakeTwilio) UpdateNumber(_ context.Context, n ProvisionedNumber) (ProvisionedNumber, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("update", "number", n.PhoneNumber); err != nil {
		return ProvisionedNumber{}, err
	}
	for i := range f.numbers {
		if f.numbers[i].SID == n.SID {
			f.numbers[i].VoiceURL, f.numbers[i].VoiceMethod, f.numbers[i].VoiceApplicationSID = n.VoiceURL, n.VoiceMethod, n.VoiceApplicationSID
			return f.numbers[i], nil
		}
	}
	return ProvisionedNumber{}, fmt.Errorf("no number %s", n.SID)
}
