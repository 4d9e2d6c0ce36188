package main

// Issue 4's acceptance against the sandbox: bootstrap's run() provisions a behavioural Twilio
// through TWILIO_API_URL, and every assertion about what it changed is made from the REST
// requests the sandbox received (through a recording front), never from bootstrap's output.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"queuebridge/handlers"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/sandbox"
	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/voice"
	"queuebridge/taskrouter/provision"
)

// created finds the resource a recorded POST to a collection created, by friendly name.
func created(t *testing.T, writes []testkit.Request, collectionSuffix, name string) string {
	t.Helper()
	for _, w := range writes {
		if w.Method == http.MethodPost && strings.HasSuffix(w.Path, collectionSuffix) && w.Form.Get("FriendlyName") == name {
			require.Equal(t, http.StatusCreated, w.Status, "%s creating %q", w, name)
			require.NotEmpty(t, w.SID, "%s creating %q", w, name)
			return w.SID
		}
	}
	t.Fatalf("no POST …%s creating %q among %q", collectionSuffix, name, testkit.Lines(writes))
	return ""
}

type sandboxBootstrap struct {
	*bootstrapTest
	sb    *sandbox.Sandbox
	front *testkit.Twilio // records each request, then forwards it to the sandbox
}

// newSandboxBootstrap starts a sandbox on c and prepares to run bootstrap, with the example
// spec, against it through a recording front. Webhooks go to publicBaseURL.
func newSandboxBootstrap(t *testing.T, c clock.Clock, publicBaseURL string) *sandboxBootstrap {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "queuebridge.yaml"), provision.ExampleSpec, 0o600))
	sb, err := sandbox.New(sandbox.Config{Clock: c})
	require.NoError(t, err)
	require.NoError(t, sb.Start())
	t.Cleanup(func() { assert.NoError(t, sb.Close()) })
	front := testkit.NewTwilioWith(t, testkit.TwilioOptions{Forward: sb.URL()})
	account, token := sb.Credentials()
	return &sandboxBootstrap{
		bootstrapTest: &bootstrapTest{t: t, dir: dir, env: map[string]string{
			"TWILIO_ACCOUNT_SID": account,
			"TWILIO_AUTH_TOKEN":  token,
			"TWILIO_API_URL":     front.URL,
			"PUBLIC_BASE_URL":    publicBaseURL,
		}},
		sb: sb, front: front,
	}
}

// rest sends a request straight to the sandbox (not through the front) and decodes its JSON.
func (s *sandboxBootstrap) rest(method, path string, form url.Values) (int, map[string]any) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.sb.URL()+path, strings.NewReader(form.Encode()))
	require.NoError(s.t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(s.sb.Credentials())
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	var body map[string]any
	if resp.StatusCode != http.StatusNoContent {
		require.NoError(s.t, json.NewDecoder(resp.Body).Decode(&body), "%s %s", method, path)
	}
	return resp.StatusCode, body
}

// list returns the friendly names in a list response's collection.
func friendlyNames(body map[string]any, key string) []string {
	var out []string
	items, _ := body[key].([]any)
	for _, it := range items {
		out = append(out, it.(map[string]any)["friendly_name"].(string))
	}
	return out
}

func (s *sandboxBootstrap) number() map[string]any {
	s.t.Helper()
	account, _ := s.sb.Credentials()
	status, body := s.rest(http.MethodGet, "/2010-04-01/Accounts/"+account+"/IncomingPhoneNumbers.json?PhoneNumber="+url.QueryEscape(sandbox.DefaultNumber), nil)
	require.Equal(s.t, http.StatusOK, status)
	numbers, _ := body["incoming_phone_numbers"].([]any)
	require.Len(s.t, numbers, 1, "the sandbox's number %s", sandbox.DefaultNumber)
	return numbers[0].(map[string]any)
}

func TestSandboxApplyCreatesEverythingThenASecondApplyWritesNothing(t *testing.T) {
	s := newSandboxBootstrap(t, clock.Real{}, "https://bridge.example.com")
	account, _ := s.sb.Credentials()
	numberSID := s.number()["sid"].(string)

	_, _, err := s.run("", "apply", "--yes")
	require.NoError(t, err)
	writes := s.front.Writes()
	ws := created(t, writes, "/v1/Workspaces", "queuebridge")
	wsPath := "/v1/Workspaces/" + ws
	assert.Equal(t, []string{
		"POST /v1/Workspaces",
		"POST " + wsPath + "/Activities", // Missed Call: a new workspace brings Available, Unavailable and Offline
		"POST " + wsPath,                 // its timeout activity, once Missed Call exists
		"POST " + wsPath + "/TaskQueues", "POST " + wsPath + "/TaskQueues", "POST " + wsPath + "/TaskQueues",
		"POST " + wsPath + "/Workers", "POST " + wsPath + "/Workers", "POST " + wsPath + "/Workers",
		"POST " + wsPath + "/Workflows",
		"POST /v2/Flows",
		"POST /2010-04-01/Accounts/" + account + "/IncomingPhoneNumbers/" + numberSID + ".json",
	}, testkit.Lines(writes))
	for _, w := range writes {
		assert.Less(t, w.Status, 300, "%s answered %d", w, w.Status)
	}
	assert.Equal(t, "Missed Call", writes[1].Form.Get("FriendlyName"))
	for i, name := range []string{"Sales", "Support", "Everyone"} {
		assert.Equal(t, name, writes[3+i].Form.Get("FriendlyName"))
	}
	for i, name := range []string{"Alice", "Bob", "Carol"} {
		assert.Equal(t, name, writes[6+i].Form.Get("FriendlyName"))
	}
	assert.Equal(t, "Inbound calls", writes[9].Form.Get("FriendlyName"))
	assert.Equal(t, "queuebridge IVR", writes[10].Form.Get("FriendlyName"))
	assert.Equal(t, "published", writes[10].Form.Get("Status"))

	// What the sandbox now holds, read back from it.
	_, body := s.rest(http.MethodGet, wsPath, nil)
	assert.Equal(t, "https://bridge.example.com/taskrouter/events"+handlers.Overrides, body["event_callback_url"], "with the connection overrides: Twilio retries 5xx and read time-outs too")
	_, body = s.rest(http.MethodGet, wsPath+"/Workers", nil)
	assert.ElementsMatch(t, []string{"Alice", "Bob", "Carol"}, friendlyNames(body, "workers"))
	_, body = s.rest(http.MethodGet, wsPath+"/TaskQueues", nil)
	assert.ElementsMatch(t, []string{"Sales", "Support", "Everyone"}, friendlyNames(body, "task_queues"))
	_, body = s.rest(http.MethodGet, wsPath+"/Activities", nil)
	assert.ElementsMatch(t, []string{"Available", "Unavailable", "Offline", "Missed Call"}, friendlyNames(body, "activities"))
	_, body = s.rest(http.MethodGet, wsPath+"/Workflows", nil)
	assert.Equal(t, []string{"Inbound calls"}, friendlyNames(body, "workflows"))
	flow := writes[10].SID
	_, body = s.rest(http.MethodGet, "/v2/Flows/"+flow, nil)
	assert.Equal(t, "published", body["status"])
	number := s.number()
	assert.Equal(t, body["webhook_url"], number["voice_url"], "the number rings the flow")
	assert.Equal(t, "POST", number["voice_method"])

	s.front.Forget()
	out, _, err := s.run("", "apply", "--yes")
	require.NoError(t, err)
	assert.Empty(t, testkit.Lines(s.front.Writes()), "a second apply makes no write request")
	assert.Contains(t, out, "No changes: the account matches the spec (14 resources).\n")

	s.front.Forget()
	_, _, err = s.run("", "plan", "--detailed-exitcode")
	assert.NoError(t, err, "exit 0: nothing to do")
	assert.Empty(t, testkit.Lines(s.front.Writes()))
}

func TestSandboxChangingOneContactURIUpdatesThatWorkerOnly(t *testing.T) {
	s := newSandboxBootstrap(t, clock.Real{}, "https://bridge.example.com")
	_, _, err := s.run("", "apply", "--yes")
	require.NoError(t, err)
	ws := created(t, s.front.Writes(), "/v1/Workspaces", "queuebridge")
	bob := created(t, s.front.Writes(), "/Workers", "Bob")
	s.front.Forget()

	s.editSpec(`"+15005550102"`, `"+15005550199"`)
	_, _, err = s.run("", "apply", "--yes")
	require.NoError(t, err)
	writes := s.front.Writes()
	require.Equal(t, []string{"POST /v1/Workspaces/" + ws + "/Workers/" + bob}, testkit.Lines(writes), "exactly one write: Bob")
	assert.Equal(t, http.StatusOK, writes[0].Status)
	assert.JSONEq(t, `{"contact_uri":"+15005550199","skills":["support"],"languages":["en","es"]}`, writes[0].Form.Get("Attributes"))

	worker, ok := s.sb.TaskRouter().Worker(bob)
	require.True(t, ok)
	assert.Equal(t, "+15005550199", worker.Attributes["contact_uri"])
	assert.Equal(t, "Available", worker.ActivityName, "an update never moves the agent")

	s.front.Forget()
	_, _, err = s.run("", "apply", "--yes")
	require.NoError(t, err)
	assert.Empty(t, testkit.Lines(s.front.Writes()), "and then nothing is left to do")
}

func TestSandboxTeardownRemovesExactlyWhatApplyCreated(t *testing.T) {
	s := newSandboxBootstrap(t, clock.Real{}, "https://bridge.example.com")
	account, _ := s.sb.Credentials()
	// Someone else's workspace in the same account: not the spec's, so never touched.
	status, other := s.rest(http.MethodPost, "/v1/Workspaces", url.Values{"FriendlyName": {"other team"}})
	require.Equal(t, http.StatusCreated, status)
	numberSID := s.number()["sid"].(string)

	_, _, err := s.run("", "apply", "--yes")
	require.NoError(t, err)
	applied := s.front.Writes()
	ws := created(t, applied, "/v1/Workspaces", "queuebridge")
	flow := created(t, applied, "/v2/Flows", "queuebridge IVR")
	// Everything apply created lives in the workspace or is the flow; the number was updated.
	for _, w := range applied {
		if w.Status == http.StatusCreated {
			assert.True(t, w.SID == ws || w.SID == flow || strings.HasPrefix(w.Path, "/v1/Workspaces/"+ws+"/"), "%s created %s", w, w.SID)
		}
	}
	s.front.Forget()

	_, _, err = s.run("", "teardown", "--yes")
	require.NoError(t, err)
	writes := s.front.Writes()
	assert.Equal(t, []string{
		"POST /2010-04-01/Accounts/" + account + "/IncomingPhoneNumbers/" + numberSID + ".json",
		"DELETE /v2/Flows/" + flow,
		"DELETE /v1/Workspaces/" + ws,
	}, testkit.Lines(writes))
	require.Len(t, writes, 3)
	assert.True(t, writes[0].Form.Has("VoiceUrl"), "the number is detached from the flow")
	assert.Empty(t, writes[0].Form.Get("VoiceUrl"))
	assert.NotContains(t, writes[0].Form, "PhoneNumber", "and nothing else about it changes")
	for _, w := range writes[1:] {
		assert.Equal(t, http.StatusNoContent, w.Status, "%s", w)
	}

	// Read back: everything apply created is gone, the rest stays.
	for _, w := range applied {
		if w.Status == http.StatusCreated {
			status, _ := s.rest(http.MethodGet, w.Path+"/"+w.SID, nil)
			assert.Equal(t, http.StatusNotFound, status, "%s/%s after teardown", w.Path, w.SID)
		}
	}
	status, _ = s.rest(http.MethodGet, "/v1/Workspaces/"+ws, nil)
	assert.Equal(t, http.StatusNotFound, status)
	status, _ = s.rest(http.MethodGet, "/v2/Flows/"+flow, nil)
	assert.Equal(t, http.StatusNotFound, status)
	_, body := s.rest(http.MethodGet, "/v1/Workspaces", nil)
	assert.Equal(t, []string{"other team"}, friendlyNames(body, "workspaces"))
	status, _ = s.rest(http.MethodGet, "/v1/Workspaces/"+other["sid"].(string), nil)
	assert.Equal(t, http.StatusOK, status)
	number := s.number()
	assert.Equal(t, numberSID, number["sid"], "numbers are never released")
	assert.Empty(t, number["voice_url"])

	s.front.Forget()
	_, _, err = s.run("", "teardown", "--yes")
	require.NoError(t, err)
	assert.Empty(t, testkit.Lines(s.front.Writes()), "nothing left to tear down")
}

// eventSink is the bridge's event callback URL for a call test: it records TaskRouter's events.
type eventSink struct {
	mu     sync.Mutex
	events []url.Values
	srv    *httptest.Server
}

func newEventSink(t *testing.T) *eventSink {
	s := &eventSink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/taskrouter/events" && r.ParseForm() == nil {
			s.mu.Lock()
			s.events = append(s.events, r.PostForm)
			s.mu.Unlock()
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *eventSink) first(eventType, taskSid string) url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ev := range s.events {
		if ev.Get("EventType") == eventType && ev.Get("TaskSid") == taskSid {
			return ev
		}
	}
	return nil
}

func TestSandboxCallRunsTheDeployedFlowIntoTheProvisionedWorkflow(t *testing.T) {
	tests := []struct {
		name, digits, department, queue string
	}{
		{name: "support", digits: "2", department: "support", queue: "Support"},
		{name: "sales", digits: "1", department: "sales", queue: "Sales"},
		{name: "no key", digits: "", department: "general", queue: "Everyone"},
		{name: "a key not in the menu", digits: "7", department: "general", queue: "Everyone"},
		// # is the menu's finish_on_key: it submits an empty input (why the spec refuses it as an option).
		{name: "#", digits: "#", department: "general", queue: "Everyone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			events := newEventSink(t)
			s := newSandboxBootstrap(t, clock.NewScaled(50), events.srv.URL)
			_, _, err := s.run("", "apply", "--yes")
			require.NoError(t, err)
			writes := s.front.Writes()
			workflow := created(t, writes, "/Workflows", "Inbound calls")
			queue := created(t, writes, "/TaskQueues", tt.queue)
			flow := created(t, writes, "/v2/Flows", "queuebridge IVR")

			const caller = "+15551230002"
			s.sb.SetPersona(caller, voice.Human(0, 0).WithDigits(tt.digits))
			callSid, err := s.sb.PlaceCall(context.Background(), caller, sandbox.DefaultNumber)
			require.NoError(t, err)

			var taskSid string
			require.Eventually(t, func() bool {
				c, ok := s.sb.Voice().Call(callSid)
				taskSid = c.TaskSid
				return ok && taskSid != ""
			}, 10*time.Second, 2*time.Millisecond, "the caller is enqueued")
			task, ok := s.sb.TaskRouter().Task(taskSid)
			require.True(t, ok)
			assert.Equal(t, workflow, task.WorkflowSid, "the provisioned workflow")
			assert.Equal(t, queue, task.TaskQueueSid, "the %s queue", tt.queue)
			assert.Equal(t, tt.department, task.Attributes["department"])
			assert.Equal(t, strings.TrimSuffix(tt.digits, "#"), task.Attributes["digits"])
			assert.Equal(t, caller, task.Attributes["from"])
			assert.Equal(t, sandbox.DefaultNumber, task.Attributes["to"])
			assert.Equal(t, callSid, task.Attributes["call_sid"])

			// What TaskRouter told the bridge: the task entered the department's queue, and a
			// reservation was offered from there.
			require.Eventually(t, func() bool { return events.first("reservation.created", taskSid) != nil },
				10*time.Second, 2*time.Millisecond, "a reservation for the task")
			ev := events.first("reservation.created", taskSid)
			assert.Equal(t, queue, ev.Get("TaskQueueSid"), "reserved from the %s queue", tt.queue)
			assert.Equal(t, workflow, ev.Get("WorkflowSid"))

			// The flow that ran is the deployed one.
			assert.True(t, flowStarted(s.sb.Timeline(""), flow, callSid), "flow %s ran for call %s", flow, callSid)
			c, _ := s.sb.Voice().Call(callSid)
			assert.Equal(t, "in-progress", c.Status, "the caller waits in the queue")
		})
	}
}

func flowStarted(entries []sandbox.Entry, flow, callSid string) bool {
	for _, e := range entries {
		if e.Kind == "flow" && e.What == "execution started" && e.Detail["flow"] == flow && e.Detail["call"] == callSid {
			return true
		}
	}
	return false
}
