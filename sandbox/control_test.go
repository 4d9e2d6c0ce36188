package sandbox_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"queuebridge/sandbox"
	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/sandbox/voice"
)

// control sends a request to the control surface with the sandbox's credentials (unless auth
// is false) and decodes the JSON answer.
func control(t *testing.T, sb *sandbox.Sandbox, method, path, body string, auth bool) (int, map[string]any) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, sb.URL()+path, r)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth {
		req.SetBasicAuth(sb.Credentials())
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), "%s %s", method, path)
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out), "%s %s", method, path)
	return resp.StatusCode, out
}

func TestControlSurfaceRefusesRequestsWithoutTheSandboxCredentials(t *testing.T) {
	sb := startSandbox(t)
	status, body := control(t, sb, "GET", "/sandbox/calls", "", false)
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Contains(t, body["error"], "Basic auth")

	req, _ := http.NewRequest("GET", sb.URL()+"/sandbox/events", nil)
	req.SetBasicAuth(sandbox.DefaultAccountSID, "wrong")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("WWW-Authenticate"))
}

func TestControlSurfaceRoutes(t *testing.T) {
	sb := startSandbox(t)
	sb.SeedNumber("+15005550007", "second")

	t.Run("index lists the routes", func(t *testing.T) {
		status, body := control(t, sb, "GET", "/sandbox/", "", true)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, sandbox.DefaultNumber, body["default_number"])
		assert.NotEmpty(t, body["routes"])
	})

	cases := []struct {
		name, method, path, body string
		status                   int
		errContains              string
	}{
		{"persona", "PUT", "/sandbox/personas/+15550001111", `{"kind":"voicemail","answer_after":"3s","greeting":"12s","beep":true}`, http.StatusOK, ""},
		{"persona of an unknown kind", "PUT", "/sandbox/personas/+15550001111", `{"kind":"robot"}`, http.StatusBadRequest, `unknown kind "robot"`},
		{"persona with a bad duration", "PUT", "/sandbox/personas/+15550001111", `{"kind":"human","answer_after":"soon"}`, http.StatusBadRequest, "not a duration"},
		{"persona with an unknown field", "PUT", "/sandbox/personas/+15550001111", `{"kind":"human","answer":"2s"}`, http.StatusBadRequest, "unknown field"},
		{"persona of a non-number", "PUT", "/sandbox/personas/alice", `{"kind":"human"}`, http.StatusBadRequest, "not an E.164 number"},
		{"persona without a body", "PUT", "/sandbox/personas/+15550001111", ``, http.StatusBadRequest, "empty body"},
		{"call from a bad number", "POST", "/sandbox/calls", `{"from":"555","to":"+15005550006"}`, http.StatusBadRequest, "from \"555\""},
		{"call to a number the sandbox does not have", "POST", "/sandbox/calls", `{"from":"+15551230001","to":"+15005559999"}`, http.StatusNotFound, "not one of the sandbox's numbers"},
		{"call with malformed JSON", "POST", "/sandbox/calls", `{"from":`, http.StatusBadRequest, "invalid JSON"},
		{"seed a number", "POST", "/sandbox/numbers", `{"phone_number":"+15005550008","friendly_name":"third"}`, http.StatusCreated, ""},
		{"verify a caller ID", "POST", "/sandbox/caller-ids", `{"phone_number":"+15551230009"}`, http.StatusCreated, ""},
		{"verify a non-number", "POST", "/sandbox/caller-ids", `{"phone_number":"9"}`, http.StatusBadRequest, "not an E.164 number"},
		{"voice webhook faults", "PUT", "/sandbox/voice/webhook-faults", `{"seed":7,"drop":0.25,"duplicate":true,"delay":"10ms","reorder":true,"kinds":["status-callback","twiml"]}`, http.StatusOK, ""},
		{"voice webhook faults off", "PUT", "/sandbox/voice/webhook-faults", `{}`, http.StatusOK, ""},
		{"voice webhook faults: bad drop", "PUT", "/sandbox/voice/webhook-faults", `{"drop":2}`, http.StatusBadRequest, "fraction"},
		{"voice webhook faults: bad delay", "PUT", "/sandbox/voice/webhook-faults", `{"delay":"soon"}`, http.StatusBadRequest, "Go duration"},
		{"voice webhook faults: unknown kind", "PUT", "/sandbox/voice/webhook-faults", `{"kinds":["sms"]}`, http.StatusBadRequest, "unknown kind"},
		{"voice options", "PUT", "/sandbox/voice/options", `{"refuse_cancel_in_progress":false}`, http.StatusOK, ""},
		{"voice options: unknown field", "PUT", "/sandbox/voice/options", `{"cancel":true}`, http.StatusBadRequest, "unknown field"},
		{"taskrouter options: unknown field", "PUT", "/sandbox/taskrouter/options", `{"retries":1}`, http.StatusBadRequest, "unknown field"},
		{"taskrouter options: bad redeliveries", "PUT", "/sandbox/taskrouter/options", `{"event_redeliveries":-1}`, http.StatusBadRequest, "0 to 10"},
		{"taskrouter options: wrong method", "GET", "/sandbox/taskrouter/options", "", http.StatusMethodNotAllowed, "use PUT"},
		{"seed a non-number", "POST", "/sandbox/numbers", `{"phone_number":"8"}`, http.StatusBadRequest, "not an E.164 number"},
		{"unknown call", "GET", "/sandbox/calls/CA00000000000000000000000000000000", "", http.StatusNotFound, "no call"},
		{"unknown task", "GET", "/sandbox/tasks/WT00000000000000000000000000000000", "", http.StatusNotFound, "no task"},
		{"timeline of a non-SID", "GET", "/sandbox/timeline/hello", "", http.StatusBadRequest, "not a call"},
		{"timeline with a bad after", "GET", "/sandbox/timeline/CA00000000000000000000000000000000?after=-1", "", http.StatusBadRequest, "after"},
		{"unknown route", "GET", "/sandbox/nothing", "", http.StatusNotFound, "no such sandbox route"},
		{"wrong method", "DELETE", "/sandbox/calls", "", http.StatusMethodNotAllowed, "use GET, POST"},
		{"wrong method on a SID", "POST", "/sandbox/timeline/CA00000000000000000000000000000000", "", http.StatusMethodNotAllowed, "use GET"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := control(t, sb, tc.method, tc.path, tc.body, true)
			assert.Equal(t, tc.status, status, "%v", body)
			if tc.errContains != "" {
				assert.Contains(t, body["error"], tc.errContains)
			} else {
				assert.Nil(t, body["error"])
			}
		})
	}

	t.Run("webhook faults reach the Voice engine", func(t *testing.T) {
		status, body := control(t, sb, "PUT", "/sandbox/voice/webhook-faults", `{"seed":7,"drop":0.25,"delay":"10ms","kinds":["dial-action"]}`, true)
		require.Equal(t, http.StatusOK, status, "%v", body)
		assert.Equal(t, voice.WebhookFaults{Seed: 7, Drop: 0.25, Delay: 10 * time.Millisecond, Kinds: []string{"dial-action"}}, sb.Voice().WebhookFaults())
		status, _ = control(t, sb, "PUT", "/sandbox/voice/webhook-faults", `{}`, true)
		require.Equal(t, http.StatusOK, status)
		assert.Equal(t, voice.WebhookFaults{}, sb.Voice().WebhookFaults())
	})

	t.Run("taskrouter options reach the TaskRouter engine, only the fields named", func(t *testing.T) {
		before := sb.TaskRouter().Options()
		status, body := control(t, sb, "PUT", "/sandbox/taskrouter/options", `{"event_redeliveries":2,"empty_target_workers_wait":true}`, true)
		require.Equal(t, http.StatusOK, status, "%v", body)
		got := sb.TaskRouter().Options()
		assert.Equal(t, 2, got.EventRedeliveries)
		assert.True(t, got.EmptyTargetWorkersWait)
		assert.Equal(t, before.NoReoffer, got.NoReoffer, "reoffer_rejected not named: unchanged")
		assert.Equal(t, !got.NoReoffer, body["reoffer_rejected"])
		assert.Equal(t, 2.0, body["event_redeliveries"])
		status, _ = control(t, sb, "PUT", "/sandbox/taskrouter/options", `{"reoffer_rejected":false,"timeouts_count_as_rejections":true,"event_redeliveries":0,"empty_target_workers_wait":false}`, true)
		require.Equal(t, http.StatusOK, status)
		got = sb.TaskRouter().Options()
		assert.True(t, got.NoReoffer)
		assert.True(t, got.TimeoutsCountAsRejections)
		assert.Zero(t, got.EventRedeliveries)
		assert.False(t, got.EmptyTargetWorkersWait)
	})

	t.Run("a placed call shows in the list, on its own and in the event log", func(t *testing.T) {
		status, body := control(t, sb, "POST", "/sandbox/calls", `{"from":"+15551230001"}`, true)
		require.Equal(t, http.StatusCreated, status, "%v", body)
		sid, _ := body["sid"].(string)
		require.True(t, strings.HasPrefix(sid, "CA"))
		assert.Equal(t, sandbox.DefaultNumber, body["to"], "to defaults to the sandbox's number")

		// The default number has no VoiceUrl yet: the call ends at once.
		require.Eventually(t, func() bool {
			_, call := control(t, sb, "GET", "/sandbox/calls/"+sid, "", true)
			return call["status"] != "ringing" && call["status"] != "queued"
		}, sandboxtest.Wait, sandboxtest.Tick, "waiting for %s", "the call to end")
		_, list := control(t, sb, "GET", "/sandbox/calls", "", true)
		calls, _ := list["calls"].([]any)
		require.Len(t, calls, 1)
		assert.Equal(t, sid, calls[0].(map[string]any)["sid"])

		_, call := control(t, sb, "GET", "/sandbox/calls/"+sid, "", true)
		assert.NotEmpty(t, call["timeline"])

		_, tl := control(t, sb, "GET", "/sandbox/timeline/"+sid, "", true)
		entries, _ := tl["entries"].([]any)
		require.NotEmpty(t, entries)
		next := int(tl["next"].(float64))
		assert.Equal(t, len(entries), next)
		_, rest := control(t, sb, "GET", "/sandbox/timeline/"+sid+"?after="+itoa(next), "", true)
		assert.Empty(t, rest["entries"], "nothing new since")

		_, ev := control(t, sb, "GET", "/sandbox/events?kind=call", "", true)
		for _, e := range ev["entries"].([]any) {
			assert.Equal(t, "call", e.(map[string]any)["kind"])
		}
	})

	t.Run("a seeded number takes calls", func(t *testing.T) {
		status, body := control(t, sb, "POST", "/sandbox/calls", `{"from":"+15551230002","to":"+15005550008"}`, true)
		assert.Equal(t, http.StatusCreated, status, "%v", body)
	})
}

func TestControlSurfaceShowsTasksAndWorkersOfAWholeCall(t *testing.T) {
	sb := startSandbox(t)
	// The test app rejects without moving the agent to an unavailable activity: under Twilio's
	// documented re-offer the same busy agents would be offered the task again and again. This
	// test is about what the control surface shows of one pass through the three.
	sb.TaskRouter().SetReofferRejected(false)
	a := newApp(t, sb)
	provision(t, sb, a, nil)
	for _, n := range []string{alice, bob, carol} {
		status, body := control(t, sb, "PUT", "/sandbox/personas/"+n, `{"kind":"busy"}`, true)
		require.Equal(t, http.StatusOK, status, "%v", body)
	}
	status, body := control(t, sb, "PUT", "/sandbox/personas/"+caller, `{"kind":"human","patience":"2m"}`, true)
	require.Equal(t, http.StatusOK, status, "%v", body)
	status, body = control(t, sb, "POST", "/sandbox/calls", `{"from":"`+caller+`","to":"+15005550006"}`, true)
	require.Equal(t, http.StatusCreated, status, "%v", body)
	callSid := body["sid"].(string)

	var task map[string]any
	require.Eventually(t, func() bool {
		_, list := control(t, sb, "GET", "/sandbox/tasks", "", true)
		tasks, _ := list["tasks"].([]any)
		if len(tasks) != 1 {
			return false
		}
		task = tasks[0].(map[string]any)
		rs, _ := task["reservations"].([]any)
		return len(rs) == 3 && rs[2].(map[string]any)["reservation_status"] == "rejected"
	}, sandboxtest.Wait, sandboxtest.Tick, "waiting for %s", "three busy agents rejected")
	assert.Equal(t, callSid, task["attributes"].(map[string]any)["call_sid"])
	assert.Equal(t, "pending", task["assignment_status"], "nobody left to try: the task waits")

	_, one := control(t, sb, "GET", "/sandbox/tasks/"+task["sid"].(string), "", true)
	assert.Equal(t, task["sid"], one["sid"])

	_, ws := control(t, sb, "GET", "/sandbox/workers", "", true)
	workers, _ := ws["workers"].([]any)
	require.Len(t, workers, 3)
	for _, w := range workers {
		assert.Equal(t, "Available", w.(map[string]any)["activity_name"])
	}

	// The caller's timeline holds the three busy agent legs.
	_, tl := control(t, sb, "GET", "/sandbox/timeline/"+callSid, "", true)
	busy := 0
	for _, e := range tl["entries"].([]any) {
		if e.(map[string]any)["what"] == "status: busy" {
			busy++
		}
	}
	assert.Equal(t, 3, busy)
}

func TestTwilioPathsReachTheirEngines(t *testing.T) {
	sb := startSandbox(t)
	ac, token := sb.Credentials()
	get := func(path string) int {
		req, _ := http.NewRequest("GET", sb.URL()+path, nil)
		req.SetBasicAuth(ac, token)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	assert.Equal(t, http.StatusOK, get("/2010-04-01/Accounts/"+ac+"/IncomingPhoneNumbers.json"))
	assert.Equal(t, http.StatusOK, get("/v1/Workspaces"))
	assert.Equal(t, http.StatusOK, get("/v2/Flows"))
	assert.Equal(t, http.StatusNotFound, get("/v3/Nothing"))

	rc := restClient(t, sb)
	numbers, err := rc.Api.ListIncomingPhoneNumber(nil)
	require.NoError(t, err)
	require.Len(t, numbers, 1)
	assert.Equal(t, sandbox.DefaultNumber, *numbers[0].PhoneNumber)
	assert.Equal(t, sandbox.DefaultNumberFriendlyName, *numbers[0].FriendlyName)

	// Calls.create accepts a From the account owns or has verified, and no other (21210).
	create := func(from string) error {
		p := (&openapi.CreateCallParams{}).SetTo("+15550001111").SetFrom(from).SetTwiml("<Response><Hangup/></Response>")
		_, err := rc.Api.CreateCall(p)
		return err
	}
	require.NoError(t, create(sandbox.DefaultNumber))
	var te *client.TwilioRestError
	require.ErrorAs(t, create("+15551230007"), &te)
	assert.Equal(t, 21210, te.Code)
	status, body := control(t, sb, "POST", "/sandbox/caller-ids", `{"phone_number":"+15551230007"}`, true)
	require.Equal(t, http.StatusCreated, status, "%v", body)
	require.NoError(t, create("+15551230007"))
	ids, err := rc.Api.ListOutgoingCallerId((&openapi.ListOutgoingCallerIdParams{}).SetPhoneNumber("+15551230007"))
	require.NoError(t, err)
	require.Len(t, ids, 1)
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
