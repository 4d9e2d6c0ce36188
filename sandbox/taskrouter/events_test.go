package taskrouter

import (
	"net/http"
	"queuebridge/sandbox/internal/sandboxtest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

func TestEventsFilterHonoured(t *testing.T) {
	h := newHarness(t)
	_, _, wf := h.aliceQueue("reservation.created,task.canceled")
	task := h.task(wf, nil)
	_, err := h.tr.UpdateTask(h.ws, task, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("canceled").SetReason("r"))
	require.NoError(t, err)
	assert.Equal(t, []string{"reservation.created", "task.canceled"}, h.next(1))

	// Every event is in the timeline, the filtered ones marked as not sent.
	var recorded, unsent []string
	for _, e := range h.rec.Entries(task) {
		if e.Kind == "event" {
			recorded = append(recorded, e.What)
			if e.Detail["sent"] == "false" {
				unsent = append(unsent, e.What)
			}
		}
	}
	assert.Equal(t, []string{"task.created", "workflow.target-matched", "task-queue.entered", "reservation.created", "task.canceled", "reservation.canceled"}, recorded)
	assert.Equal(t, []string{"task.created", "workflow.target-matched", "task-queue.entered", "reservation.canceled"}, unsent)
}

func TestEventsAreSignedAndCarryTwilioFields(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	q := h.queue("q", "")
	alice := h.worker("alice", map[string]any{"contact_uri": "+15550001"}, h.available)
	wf := h.simpleWorkflow(q)
	task := h.task(wf, map[string]any{"call_sid": "CA1"})
	h.next(1)

	// The sink verified every signature with RequestValidator; check one by hand too, and
	// that another token does not verify it.
	ev := h.lastEvent("reservation.created")
	flat := map[string]string{}
	for k := range ev {
		flat[k] = ev.Get(k)
	}
	assert.Zero(t, h.sink.badSigs)
	other := client.NewRequestValidator("ffffffffffffffffffffffffffffffff")
	assert.False(t, other.Validate(h.sink.srv.URL+"/events", flat, "bogus"))

	for field, want := range map[string]string{
		"EventType": "reservation.created", "AccountSid": sandboxtest.Account, "WorkspaceSid": h.ws, "WorkspaceName": "ws",
		"ResourceType": "reservation", "TaskSid": task, "TaskAssignmentStatus": "reserved", "TaskPriority": "0",
		"TaskAge": "0", "TaskQueueSid": q, "TaskQueueName": "q", "WorkflowSid": wf, "WorkflowName": "wf",
		"TaskChannelUniqueName": "default", "WorkerSid": alice, "WorkerName": "alice", "WorkerActivitySid": h.available,
		"WorkerActivityName": "Available", "Timestamp": "1767323045", "TimestampMs": "1767323045000",
	} {
		assert.Equal(t, want, ev.Get(field), field)
	}
	assert.Equal(t, ev.Get("ReservationSid"), ev.Get("ResourceSid"))
	assert.JSONEq(t, `{"call_sid":"CA1"}`, ev.Get("TaskAttributes"))
	assert.JSONEq(t, `{"contact_uri":"+15550001"}`, ev.Get("WorkerAttributes"))
	assert.NotEmpty(t, ev.Get("EventDescription"))

	// worker.activity.update says where the worker came from.
	_, err := h.tr.UpdateWorker(h.ws, alice, (&trapi.UpdateWorkerParams{}).SetActivitySid(h.unavail).SetRejectPendingReservations(true))
	require.NoError(t, err)
	assert.Equal(t, []string{"reservation.rejected", "worker.activity.update"}, h.next(1))
	up := h.lastEvent("worker.activity.update")
	assert.Equal(t, h.available, up.Get("WorkerPreviousActivitySid"))
	assert.Equal(t, "Available", up.Get("WorkerPreviousActivityName"))
	assert.Equal(t, "Unavailable", up.Get("WorkerActivityName"))
	assert.Equal(t, "pending", *h.fetchTask(task).AssignmentStatus)
}

func TestDeliveryFaultDuplicate(t *testing.T) {
	h := newHarness(t)
	_, _, wf := h.aliceQueue("")
	h.engine.SetDeliveryFaults(DeliveryFaults{Duplicate: true})
	h.task(wf, nil)
	assert.Equal(t, []string{"task.created", "task.created", "workflow.target-matched", "workflow.target-matched",
		"task-queue.entered", "task-queue.entered", "reservation.created", "reservation.created"}, h.next(2))
	all := h.sink.all()
	assert.Equal(t, all[len(all)-1].Get("Sid"), all[len(all)-2].Get("Sid"), "a duplicate is the same event, same Sid")
}

func TestDeliveryFaultReorder(t *testing.T) {
	h := newHarness(t)
	_, _, wf := h.aliceQueue("")
	h.engine.SetDeliveryFaults(DeliveryFaults{Reorder: true})
	h.task(wf, nil)
	assert.Equal(t, []string{"workflow.target-matched", "task.created", "reservation.created", "task-queue.entered"}, h.next(1))
}

// workspaceAt creates a workspace whose events go to the sink at the given URL suffix (a
// fragment carries connection overrides) and sets up queue "q" and its workflow.
func (h *harness) workspaceAt(suffix string) (workflow string) {
	ws, err := h.tr.CreateWorkspace((&trapi.CreateWorkspaceParams{}).SetFriendlyName("ws").SetEventCallbackUrl(h.sink.srv.URL + "/events" + suffix))
	require.NoError(h.t, err)
	h.ws = *ws.Sid
	return h.simpleWorkflow(h.queue("q", ""))
}

// dropped waits for the record of task's first event dropped and returns its error.
func (h *harness) dropped(task, typ string) string {
	h.t.Helper()
	var got string
	require.Eventually(h.t, func() bool {
		for _, e := range h.rec.Entries(task) {
			if e.Kind == "webhook" && e.What == "event dropped: "+typ {
				got = e.Detail["error"]
				return true
			}
		}
		return false
	}, 5*time.Second, 2*time.Millisecond)
	return got
}

// Twilio's webhook connection defaults (https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides):
// one retry, on a connection failure only. TaskRouter documents no retry policy of its own
// (Event reference: answer within 15 s), so a 5xx answer to an event is not retried: the event
// is lost, and the next one goes through.
func TestEventAnswered5xxIsNotRetriedByDefault(t *testing.T) {
	h := newHarness(t)
	wf := h.workspaceAt("")
	h.sink.fail(1)
	task := h.task(wf, nil)
	assert.Equal(t, "HTTP 500", h.dropped(task, "task.created"))
	require.Eventually(t, func() bool { return len(h.sink.all()) == 2 }, 5*time.Second, 2*time.Millisecond)
	var types []string
	for _, ev := range h.sink.all() {
		types = append(types, ev.Get("EventType"))
	}
	assert.Equal(t, []string{"workflow.target-matched", "task-queue.entered"}, types)
	assert.Equal(t, 3, h.sink.tries(), "one attempt per event, none repeated")
}

// The EventCallbackUrl's fragment decides the retries (#rc=2&rp=5xx: three attempts on a 5xx),
// and the engine adds no deliveries of its own on top.
func TestEventRetriesFollowTheURLFragmentOnly(t *testing.T) {
	h := newHarness(t)
	wf := h.workspaceAt("#rc=2&rp=5xx")
	h.sink.fail(2)
	h.task(wf, nil)
	assert.Equal(t, []string{"task.created", "workflow.target-matched", "task-queue.entered"}, h.next(1))
	assert.Equal(t, 5, h.sink.tries(), "task.created on its third attempt, then one each")

	// Three failures use up rc=2: the event is dropped (a fourth attempt would have succeeded).
	h.sink.fail(3)
	task := h.task(wf, nil)
	assert.Equal(t, "HTTP 500", h.dropped(task, "task.created"))
	require.Eventually(t, func() bool { return len(h.sink.all()) == 5 }, 5*time.Second, 2*time.Millisecond)
	assert.Equal(t, 5+3+2, h.sink.tries())
}

// Docs silent on any TaskRouter redelivery beyond the connection overrides: SetEventRedeliveries
// makes the engine post a failed event again, each time with the URL's own retries.
func TestEventRedeliveriesOption(t *testing.T) {
	h := newHarness(t)
	h.engine.SetEventRedeliveries(3)
	wf := h.workspaceAt("")
	h.sink.fail(3)
	h.task(wf, nil)
	assert.Equal(t, []string{"task.created", "workflow.target-matched", "task-queue.entered"}, h.next(1))
	assert.Equal(t, 6, h.sink.tries(), "task.created delivered on the fourth delivery")

	h.sink.fail(4)
	task := h.task(wf, nil)
	assert.Equal(t, "HTTP 500", h.dropped(task, "task.created"))
	require.Eventually(t, func() bool { return len(h.sink.all()) == 5 }, 5*time.Second, 2*time.Millisecond)
	all := h.sink.all()
	assert.Equal(t, "workflow.target-matched", all[3].Get("EventType"))
	assert.Equal(t, task, all[3].Get("TaskSid"))
}

func TestSenderNeverBlocksTheEngine(t *testing.T) {
	// A slow event receiver must not hold up REST calls: delivery is asynchronous.
	h := newHarness(t)
	release := make(chan struct{})
	slow := newSink(t)
	slow.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.WriteHeader(http.StatusNoContent)
	})
	defer close(release)
	ws, err := h.tr.CreateWorkspace((&trapi.CreateWorkspaceParams{}).SetFriendlyName("slow").SetEventCallbackUrl(slow.srv.URL))
	require.NoError(t, err)
	h.ws = *ws.Sid
	q := h.queue("q", "")
	wf := h.simpleWorkflow(q)
	errs := make(chan error, 5)
	go func() {
		for range 5 {
			_, err := h.tr.CreateTask(h.ws, (&trapi.CreateTaskParams{}).SetWorkflowSid(wf))
			errs <- err
		}
	}()
	for range 5 {
		select {
		case err := <-errs:
			require.NoError(t, err)
		case <-time.After(5 * time.Second):
			t.Fatal("REST calls blocked behind event delivery")
		}
	}
	tasks, err := h.tr.ListTask(h.ws, nil)
	require.NoError(t, err)
	assert.Len(t, tasks, 5)
}
