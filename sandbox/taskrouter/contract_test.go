package taskrouter

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/sandbox/internal/twilioapi"
)

// restError asserts err is Twilio's error with that HTTP status and code.
func restError(t *testing.T, err error, status, code int) {
	t.Helper()
	var te *client.TwilioRestError
	require.True(t, errors.As(err, &te), "a Twilio REST error, got %v", err)
	assert.Equal(t, status, te.Status)
	assert.Equal(t, code, te.Code)
	assert.NotEmpty(t, te.Message)
}

func TestContractWorkspacesActivitiesQueuesWorkersWorkflows(t *testing.T) {
	h := newHarness(t)

	// Workspaces: create, fetch, list with paging, update, delete.
	var wsSids []string
	for _, name := range []string{"one", "two", "three"} {
		ws, err := h.tr.CreateWorkspace((&trapi.CreateWorkspaceParams{}).SetFriendlyName(name))
		require.NoError(t, err)
		assert.Equal(t, name, *ws.FriendlyName)
		assert.Equal(t, "Offline", *ws.DefaultActivityName)
		assert.Equal(t, "Offline", *ws.TimeoutActivityName)
		assert.True(t, *ws.MultiTaskEnabled)
		assert.Nil(t, ws.EventCallbackUrl)
		assert.True(t, twilioapi.HasSIDShape(*ws.Sid, "WS"))
		wsSids = append(wsSids, *ws.Sid)
	}
	all, err := h.tr.ListWorkspace((&trapi.ListWorkspaceParams{}).SetPageSize(2).SetLimit(10))
	require.NoError(t, err)
	require.Len(t, all, 3, "twilio-go follows next_page_url across pages")
	assert.Equal(t, "three", *all[2].FriendlyName)
	page, err := h.tr.ListWorkspace((&trapi.ListWorkspaceParams{}).SetPageSize(2).SetLimit(2))
	require.NoError(t, err)
	assert.Len(t, page, 2)
	byName, err := h.tr.ListWorkspace((&trapi.ListWorkspaceParams{}).SetFriendlyName("two"))
	require.NoError(t, err)
	require.Len(t, byName, 1)
	assert.Equal(t, wsSids[1], *byName[0].Sid)

	h.ws = wsSids[0]
	acts, err := h.tr.ListActivity(h.ws, nil)
	require.NoError(t, err)
	require.Len(t, acts, 3)
	names := map[string]bool{}
	for _, a := range acts {
		names[*a.FriendlyName] = *a.Available
	}
	assert.Equal(t, map[string]bool{"Offline": false, "Available": true, "Unavailable": false}, names)
	avail, err := h.tr.ListActivity(h.ws, (&trapi.ListActivityParams{}).SetAvailable("true"))
	require.NoError(t, err)
	require.Len(t, avail, 1)
	h.available = *avail[0].Sid

	ws, err := h.tr.UpdateWorkspace(h.ws, (&trapi.UpdateWorkspaceParams{}).SetEventCallbackUrl("https://example.com/events").
		SetEventsFilter("task.created,task.canceled").SetTimeoutActivitySid(h.available).SetFriendlyName("renamed"))
	require.NoError(t, err)
	assert.Equal(t, "https://example.com/events", *ws.EventCallbackUrl)
	assert.Equal(t, "task.created,task.canceled", *ws.EventsFilter)
	assert.Equal(t, "Available", *ws.TimeoutActivityName)
	ws, err = h.tr.FetchWorkspace(h.ws)
	require.NoError(t, err)
	assert.Equal(t, "renamed", *ws.FriendlyName)
	require.NoError(t, h.tr.DeleteWorkspace(wsSids[2]))
	_, err = h.tr.FetchWorkspace(wsSids[2])
	restError(t, err, http.StatusNotFound, 20404)

	// Activities.
	act, err := h.tr.CreateActivity(h.ws, (&trapi.CreateActivityParams{}).SetFriendlyName("Break").SetAvailable(false))
	require.NoError(t, err)
	assert.False(t, *act.Available)
	act, err = h.tr.UpdateActivity(h.ws, *act.Sid, (&trapi.UpdateActivityParams{}).SetFriendlyName("Lunch"))
	require.NoError(t, err)
	act, err = h.tr.FetchActivity(h.ws, *act.Sid)
	require.NoError(t, err)
	assert.Equal(t, "Lunch", *act.FriendlyName)
	_, err = h.tr.CreateActivity(h.ws, (&trapi.CreateActivityParams{}).SetFriendlyName("Lunch"))
	restError(t, err, http.StatusBadRequest, 20001)
	require.NoError(t, h.tr.DeleteActivity(h.ws, *act.Sid))
	_, err = h.tr.CreateActivity(h.ws, &trapi.CreateActivityParams{})
	restError(t, err, http.StatusBadRequest, 20001)

	// TaskQueues.
	q, err := h.tr.CreateTaskQueue(h.ws, (&trapi.CreateTaskQueueParams{}).SetFriendlyName("sales").SetTargetWorkers(`skills HAS "sales"`))
	require.NoError(t, err)
	assert.Equal(t, 1, q.MaxReservedWorkers)
	assert.Equal(t, `skills HAS "sales"`, *q.TargetWorkers)
	q, err = h.tr.UpdateTaskQueue(h.ws, *q.Sid, (&trapi.UpdateTaskQueueParams{}).SetMaxReservedWorkers(3).SetReservationActivitySid(h.available))
	require.NoError(t, err)
	assert.Equal(t, 3, q.MaxReservedWorkers)
	assert.Equal(t, "Available", *q.ReservationActivityName)
	_, err = h.tr.FetchTaskQueue(h.ws, *q.Sid)
	require.NoError(t, err)
	other, err := h.tr.CreateTaskQueue(h.ws, (&trapi.CreateTaskQueueParams{}).SetFriendlyName("everyone"))
	require.NoError(t, err)
	assert.Equal(t, "1==1", *other.TargetWorkers)
	_, err = h.tr.CreateTaskQueue(h.ws, (&trapi.CreateTaskQueueParams{}).SetFriendlyName("bad").SetTargetWorkers(`skills HAS`))
	restError(t, err, http.StatusBadRequest, 20001)
	_, err = h.tr.CreateTaskQueue(h.ws, (&trapi.CreateTaskQueueParams{}).SetFriendlyName("bad").SetMaxReservedWorkers(51))
	restError(t, err, http.StatusBadRequest, 20001)

	// Workers.
	w, err := h.tr.CreateWorker(h.ws, (&trapi.CreateWorkerParams{}).SetFriendlyName("alice").SetAttributes(`{"skills":["sales"]}`))
	require.NoError(t, err)
	assert.Equal(t, "Offline", *w.ActivityName, "the workspace's default activity")
	assert.False(t, *w.Available)
	w, err = h.tr.UpdateWorker(h.ws, *w.Sid, (&trapi.UpdateWorkerParams{}).SetActivitySid(h.available))
	require.NoError(t, err)
	assert.True(t, *w.Available)
	bob, err := h.tr.CreateWorker(h.ws, (&trapi.CreateWorkerParams{}).SetFriendlyName("bob"))
	require.NoError(t, err)
	assert.Equal(t, "{}", *bob.Attributes)
	_, err = h.tr.CreateWorker(h.ws, (&trapi.CreateWorkerParams{}).SetFriendlyName("carol").SetAttributes(`{not json`))
	restError(t, err, http.StatusBadRequest, 20001)
	_, err = h.tr.CreateWorker(h.ws, (&trapi.CreateWorkerParams{}).SetFriendlyName("carol").SetActivitySid("WA00000000000000000000000000000000"))
	restError(t, err, http.StatusBadRequest, 20001)
	inQueue, err := h.tr.ListWorker(h.ws, (&trapi.ListWorkerParams{}).SetTaskQueueSid(*q.Sid))
	require.NoError(t, err)
	require.Len(t, inQueue, 1)
	assert.Equal(t, "alice", *inQueue[0].FriendlyName)
	availWorkers, err := h.tr.ListWorker(h.ws, (&trapi.ListWorkerParams{}).SetAvailable("true"))
	require.NoError(t, err)
	assert.Len(t, availWorkers, 1)
	queuesOfAlice, err := h.tr.ListTaskQueue(h.ws, (&trapi.ListTaskQueueParams{}).SetWorkerSid(*w.Sid))
	require.NoError(t, err)
	assert.Len(t, queuesOfAlice, 2)
	_, err = h.tr.FetchWorker(h.ws, *bob.Sid)
	require.NoError(t, err)
	require.NoError(t, h.tr.DeleteWorker(h.ws, *bob.Sid, nil))
	_, err = h.tr.FetchWorker(h.ws, *bob.Sid)
	restError(t, err, http.StatusNotFound, 20404)

	// Workflows.
	config := `{"task_routing":{"filters":[{"filter_friendly_name":"sales","expression":"type == \"sales\"","targets":[{"queue":"` + *q.Sid + `","timeout":30}]}],"default_filter":{"queue":"` + *other.Sid + `"}}}`
	wf, err := h.tr.CreateWorkflow(h.ws, (&trapi.CreateWorkflowParams{}).SetFriendlyName("main").SetConfiguration(config))
	require.NoError(t, err)
	assert.Equal(t, 120, wf.TaskReservationTimeout, "Twilio's default")
	assert.Nil(t, wf.AssignmentCallbackUrl)
	assert.JSONEq(t, config, *wf.Configuration)
	wf, err = h.tr.UpdateWorkflow(h.ws, *wf.Sid, (&trapi.UpdateWorkflowParams{}).SetTaskReservationTimeout(45).
		SetAssignmentCallbackUrl("https://example.com/assign"))
	require.NoError(t, err)
	assert.Equal(t, 45, wf.TaskReservationTimeout)
	wfs, err := h.tr.ListWorkflow(h.ws, nil)
	require.NoError(t, err)
	assert.Len(t, wfs, 1)
	_, err = h.tr.FetchWorkflow(h.ws, *wf.Sid)
	require.NoError(t, err)

	bad := []struct{ name, config string }{
		{"unparsable expression", `{"task_routing":{"filters":[{"expression":"type ==","targets":[{"queue":"` + *q.Sid + `"}]}]}}`},
		{"unparsable target expression", `{"task_routing":{"filters":[{"expression":"1==1","targets":[{"queue":"` + *q.Sid + `","expression":"(a == 1"}]}]}}`},
		{"unknown queue", `{"task_routing":{"filters":[{"expression":"1==1","targets":[{"queue":"WQ00000000000000000000000000000000"}]}]}}`},
		{"not JSON", `{"task_routing":`},
		{"no task_routing", `{}`},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			_, err := h.tr.CreateWorkflow(h.ws, (&trapi.CreateWorkflowParams{}).SetFriendlyName("bad").SetConfiguration(c.config))
			restError(t, err, http.StatusBadRequest, 20001)
		})
	}
	_, err = h.tr.CreateWorkflow(h.ws, (&trapi.CreateWorkflowParams{}).SetFriendlyName("x").SetConfiguration(config).SetTaskReservationTimeout(0))
	restError(t, err, http.StatusBadRequest, 20001)
	_, err = h.tr.CreateWorkflow(h.ws, (&trapi.CreateWorkflowParams{}).SetFriendlyName("x"))
	restError(t, err, http.StatusBadRequest, 20001)

	// Deleting what is in use is refused; once free it works.
	err = h.tr.DeleteTaskQueue(h.ws, *q.Sid)
	restError(t, err, http.StatusBadRequest, 20001)
	require.NoError(t, h.tr.DeleteWorkflow(h.ws, *wf.Sid))
	require.NoError(t, h.tr.DeleteTaskQueue(h.ws, *q.Sid))
	_, err = h.tr.FetchTaskQueue(h.ws, *q.Sid)
	restError(t, err, http.StatusNotFound, 20404)
	_, err = h.tr.FetchWorkflow(h.ws, *wf.Sid)
	restError(t, err, http.StatusNotFound, 20404)

	assert.Greater(t, h.oai.Checked(), 30)
}

func TestContractTasksAndReservations(t *testing.T) {
	h := newHarness(t)
	q, alice, wf := h.aliceQueue("")

	tk, err := h.tr.CreateTask(h.ws, (&trapi.CreateTaskParams{}).SetWorkflowSid(wf).SetAttributes(`{"type":"support"}`).
		SetPriority(7).SetTaskChannel("voice"))
	require.NoError(t, err)
	assert.Equal(t, "reserved", *tk.AssignmentStatus)
	assert.Equal(t, 7, tk.Priority)
	assert.Equal(t, 86400, tk.Timeout, "Twilio's default TTL")
	assert.Equal(t, "voice", *tk.TaskChannelUniqueName)
	assert.Equal(t, q, *tk.TaskQueueSid)
	assert.Equal(t, "wf", *tk.WorkflowFriendlyName)
	assert.Equal(t, 0, tk.Age)
	_, err = h.tr.CreateTask(h.ws, (&trapi.CreateTaskParams{}).SetWorkflowSid(wf).SetAttributes(`[1,2]`))
	restError(t, err, http.StatusBadRequest, 20001)
	_, err = h.tr.CreateTask(h.ws, (&trapi.CreateTaskParams{}).SetWorkflowSid("WW00000000000000000000000000000000"))
	restError(t, err, http.StatusBadRequest, 20001)
	_, err = h.tr.CreateTask(h.ws, (&trapi.CreateTaskParams{}).SetWorkflowSid(wf).SetTimeout(0))
	restError(t, err, http.StatusBadRequest, 20001)

	// Without WorkflowSid, the workspace's only workflow is used.
	second, err := h.tr.CreateTask(h.ws, (&trapi.CreateTaskParams{}).SetAttributes(`{"type":"sales"}`))
	require.NoError(t, err)
	assert.Equal(t, wf, *second.WorkflowSid)
	assert.Equal(t, "pending", *second.AssignmentStatus, "alice is busy with the first task")
	assert.Equal(t, "default", *second.TaskChannelUniqueName)

	pending, err := h.tr.ListTask(h.ws, (&trapi.ListTaskParams{}).SetAssignmentStatus([]string{"pending"}))
	require.NoError(t, err)
	require.Len(t, pending, 1)
	assert.Equal(t, *second.Sid, *pending[0].Sid)
	both, err := h.tr.ListTask(h.ws, (&trapi.ListTaskParams{}).SetAssignmentStatus([]string{"pending", "reserved"}).SetPageSize(1))
	require.NoError(t, err)
	assert.Len(t, both, 2)
	sales, err := h.tr.ListTask(h.ws, (&trapi.ListTaskParams{}).SetEvaluateTaskAttributes(`type == "sales"`))
	require.NoError(t, err)
	assert.Len(t, sales, 1)

	// Attributes and priority updates, with If-Match.
	meta, err := h.tr.FetchTaskWithMetadata(h.ws, *second.Sid)
	require.NoError(t, err)
	etag := meta.GetHeader("ETag")
	require.NotEmpty(t, etag)
	_, err = h.tr.UpdateTask(h.ws, *second.Sid, (&trapi.UpdateTaskParams{}).SetAttributes(`{"type":"x"}`).SetIfMatch("stale"))
	restError(t, err, http.StatusPreconditionFailed, 20412)
	upd, err := h.tr.UpdateTask(h.ws, *second.Sid, (&trapi.UpdateTaskParams{}).SetAttributes(`{"type":"vip"}`).SetPriority(3).SetIfMatch(etag))
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"vip"}`, *upd.Attributes)
	assert.Equal(t, 3, upd.Priority)
	_, err = h.tr.UpdateTask(h.ws, *second.Sid, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("completed").SetReason("x"))
	restError(t, err, http.StatusBadRequest, 20001)
	_, err = h.tr.UpdateTask(h.ws, *second.Sid, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("canceled"))
	restError(t, err, http.StatusBadRequest, 20001)
	_, err = h.tr.UpdateTask(h.ws, *second.Sid, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("bogus").SetReason("x"))
	restError(t, err, http.StatusBadRequest, 20001)

	// Reservations under the task and under the worker.
	rs, err := h.tr.ListTaskReservation(h.ws, *tk.Sid, (&trapi.ListTaskReservationParams{}).SetReservationStatus("pending"))
	require.NoError(t, err)
	require.Len(t, rs, 1)
	res := rs[0]
	assert.Equal(t, "alice", *res.WorkerName)
	none, err := h.tr.ListTaskReservation(h.ws, *tk.Sid, (&trapi.ListTaskReservationParams{}).SetReservationStatus("accepted"))
	require.NoError(t, err)
	assert.Empty(t, none)
	wres, err := h.tr.FetchWorkerReservation(h.ws, alice, *res.Sid)
	require.NoError(t, err)
	assert.Equal(t, "pending", *wres.ReservationStatus)
	wlist, err := h.tr.ListWorkerReservation(h.ws, alice, (&trapi.ListWorkerReservationParams{}).SetReservationStatus("pending"))
	require.NoError(t, err)
	require.Len(t, wlist, 1)
	_, err = h.tr.UpdateTaskReservation(h.ws, *tk.Sid, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("accepted").SetIfMatch("99"))
	restError(t, err, http.StatusPreconditionFailed, 20412)
	_, err = h.tr.UpdateTaskReservation(h.ws, *tk.Sid, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("maybe"))
	restError(t, err, http.StatusBadRequest, 20001)
	_, err = h.tr.UpdateTaskReservation(h.ws, *tk.Sid, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("completed"))
	restError(t, err, http.StatusBadRequest, 20001)
	_, err = h.tr.UpdateTaskReservation(h.ws, *tk.Sid, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected").
		SetWorkerActivitySid("WA00000000000000000000000000000000"))
	restError(t, err, http.StatusBadRequest, 20001)
	acc, err := h.tr.UpdateWorkerReservation(h.ws, alice, *res.Sid, (&trapi.UpdateWorkerReservationParams{}).SetInstruction("dequeue").
		SetDequeuePostWorkActivitySid(h.available))
	require.NoError(t, err)
	assert.Equal(t, "accepted", *acc.ReservationStatus)
	// Instructions on a reservation that is no longer pending fail with their own codes.
	for instruction, code := range map[string]int{"dequeue": 40135, "call": 40114, "redirect": 40123, "conference": 40136} {
		_, err = h.tr.UpdateTaskReservation(h.ws, *tk.Sid, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetInstruction(instruction))
		restError(t, err, http.StatusBadRequest, code)
	}
	_, err = h.tr.UpdateTaskReservation(h.ws, *tk.Sid, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected"))
	restError(t, err, http.StatusBadRequest, 20001)
	_, err = h.tr.UpdateTask(h.ws, *tk.Sid, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("canceled").SetReason("x"))
	restError(t, err, http.StatusBadRequest, 20001)
	wrap, err := h.tr.UpdateTaskReservation(h.ws, *tk.Sid, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("wrapping"))
	require.NoError(t, err)
	assert.Equal(t, "wrapping", *wrap.ReservationStatus)
	done, err := h.tr.UpdateTaskReservation(h.ws, *tk.Sid, *res.Sid, (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("completed"))
	require.NoError(t, err)
	assert.Equal(t, "completed", *done.ReservationStatus)
	got := h.fetchTask(*tk.Sid)
	assert.Equal(t, "completed", *got.AssignmentStatus)

	// The freed worker got the second task; delete it with a stale If-Match, then for real.
	assert.Equal(t, "reserved", *h.fetchTask(*second.Sid).AssignmentStatus)
	err = h.tr.DeleteTask(h.ws, *second.Sid, (&trapi.DeleteTaskParams{}).SetIfMatch("0"))
	restError(t, err, http.StatusPreconditionFailed, 20412)
	require.NoError(t, h.tr.DeleteTask(h.ws, *second.Sid, nil))
	_, err = h.tr.FetchTask(h.ws, *second.Sid)
	restError(t, err, http.StatusNotFound, 20404)
	_, err = h.tr.FetchTaskReservation(h.ws, *tk.Sid, "WR00000000000000000000000000000000")
	restError(t, err, http.StatusNotFound, 20404)
	_, err = h.tr.ListTask("WS00000000000000000000000000000000", nil)
	restError(t, err, http.StatusNotFound, 20404)
	assert.Greater(t, h.oai.Checked(), 20)
}

func TestAuthenticationRequired(t *testing.T) {
	eng := New(Config{Credentials: twilioapi.Credentials{AccountSid: sandboxtest.Account, AuthToken: sandboxtest.Token}})
	t.Cleanup(eng.Close)
	srv := httptest.NewServer(eng.Handler())
	t.Cleanup(srv.Close)
	for _, c := range []struct {
		name  string
		token string
		ok    bool
	}{{"right token", sandboxtest.Token, true}, {"wrong token", "ffffffffffffffffffffffffffffffff", false}} {
		t.Run(c.name, func(t *testing.T) {
			tr := sandboxtest.ClientVia(sandboxtest.Rewrite(t, srv.URL), sandboxtest.Account, c.token, sandboxtest.Account).TaskrouterV1
			_, err := tr.ListWorkspace(nil)
			if c.ok {
				require.NoError(t, err)
				return
			}
			restError(t, err, http.StatusUnauthorized, 20003)
		})
	}
}

func TestContractTaskChannels(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	chans, err := h.tr.ListTaskChannel(h.ws, nil)
	require.NoError(t, err)
	var names []string
	for _, c := range chans {
		names = append(names, *c.UniqueName)
	}
	assert.Equal(t, []string{"default", "voice", "chat", "sms", "video"}, names)
	voice, err := h.tr.FetchTaskChannel(h.ws, "voice")
	require.NoError(t, err)
	assert.Equal(t, *chans[1].Sid, *voice.Sid)
	bySid, err := h.tr.FetchTaskChannel(h.ws, *voice.Sid)
	require.NoError(t, err)
	assert.Equal(t, "Voice", *bySid.FriendlyName)
	_, err = h.tr.FetchTaskChannel(h.ws, "fax")
	restError(t, err, http.StatusNotFound, 20404)
	q := h.queue("q", "")
	wf := h.simpleWorkflow(q)
	tk, err := h.tr.CreateTask(h.ws, (&trapi.CreateTaskParams{}).SetWorkflowSid(wf).SetTaskChannel(*voice.Sid))
	require.NoError(t, err)
	assert.Equal(t, "voice", *tk.TaskChannelUniqueName)
	assert.Equal(t, *voice.Sid, *tk.TaskChannelSid)
}
