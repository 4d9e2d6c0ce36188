package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/app"
	"queuebridge/internal/config"
	"queuebridge/internal/testkit"
	"queuebridge/twiliogo"
)

const (
	workspace  = "WS00000000000000000000000000000001"
	publicBase = "https://bridge.example.com"
	missedCall = "WA00000000000000000000000000000007"
	wrapUp     = "WA00000000000000000000000000000008"
)

// fakeAccount is the kit's fake Twilio holding what New reads at start-up: the workspace (its
// events sent here), a workflow whose reservations fit the leg, and two activities.
func fakeAccount(t *testing.T) *testkit.Twilio {
	tw := testkit.NewTwilio(t)
	tw.Add("/v1/Workspaces", map[string]any{"sid": workspace, "friendly_name": "queuebridge",
		"event_callback_url": publicBase + "/taskrouter/events"})
	ws := "/v1/Workspaces/" + workspace
	tw.Add(ws+"/Workflows", map[string]any{"sid": "WW00000000000000000000000000000001", "friendly_name": "Support", "task_reservation_timeout": 120})
	tw.Add(ws+"/Activities", map[string]any{"sid": missedCall, "friendly_name": "Missed Call"})
	tw.Add(ws+"/Activities", map[string]any{"sid": wrapUp, "friendly_name": "Wrap Up"})
	return tw
}

// The activities NOANSWER_ACTIVITY and POSTWORK_ACTIVITY name are resolved at start-up and reach
// the bridge: a reservation whose agent did not answer is rejected with the worker moved to
// NOANSWER_ACTIVITY, and the caller is connected with POSTWORK_ACTIVITY as the worker's activity
// after the call.
func TestResolvedActivitiesReachTheBridge(t *testing.T) {
	tw := fakeAccount(t)
	a, err := app.New(context.Background(), app.Config{
		Twilio: config.Twilio{
			Credentials: twiliogo.Credentials{AccountSID: testkit.Account, AuthToken: testkit.Token}, APIURL: tw.URL,
		},
		WorkspaceSID: workspace, PublicBaseURL: publicBase, DatabaseURL: filepath.Join(t.TempDir(), "q.db"),
		NoAnswerActivity: "Missed Call", PostWorkActivity: "Wrap Up",
	}, app.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	t.Cleanup(func() { a.Close() })
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(srv.Close)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Bridge.Run(ctx) }()
	t.Cleanup(func() { stop(); <-done })
	hooks := testkit.Webhooks{Token: testkit.Token, Base: publicBase, URL: srv.URL}

	for _, tc := range []struct{ name, answeredBy string }{{"no answer", ""}, {"a human answers", "human"}} {
		t.Run(tc.name, func(t *testing.T) {
			tw.Forget()
			res, task := testkit.SID("WR"), testkit.SID("WT")
			status, body := hooks.Post(t, "/taskrouter/events", url.Values{
				"EventType": {"reservation.created"}, "Sid": {testkit.SID("EV")}, "AccountSid": {testkit.Account},
				"WorkspaceSid": {workspace}, "TaskSid": {task}, "ReservationSid": {res}, "WorkerSid": {testkit.SID("WK")},
				"TaskAttributes":   {`{"from":"+15005550199","to":"+15005550006"}`},
				"WorkerAttributes": {`{"contact_uri":"+15005550101"}`},
			})
			require.Equal(t, http.StatusOK, status, body)
			var call string
			require.Eventually(t, func() bool {
				calls := tw.Requests("create_call")
				if len(calls) == 1 {
					call = calls[0].SID
				}
				return call != ""
			}, 5*time.Second, time.Millisecond, "the agent leg is placed")

			if tc.answeredBy == "" {
				status, body = hooks.Post(t, "/status-callback?reservation="+res,
					url.Values{"CallSid": {call}, "AccountSid": {testkit.Account}, "CallStatus": {"no-answer"}})
				require.Equal(t, http.StatusNoContent, status, body)
				require.Eventually(t, func() bool { return len(tw.Requests("update_reservation")) == 1 }, 5*time.Second, time.Millisecond,
					"the reservation is rejected")
				reject := tw.Requests("update_reservation")[0].Form
				assert.Equal(t, "rejected", reject.Get("ReservationStatus"))
				assert.Equal(t, missedCall, reject.Get("WorkerActivitySid"), "the worker moves to NOANSWER_ACTIVITY")
				return
			}
			status, body = hooks.Post(t, "/dial-queue?"+url.Values{"reservation": {res}, "task": {task}}.Encode(),
				url.Values{"CallSid": {call}, "AccountSid": {testkit.Account}, "CallStatus": {"in-progress"}, "AnsweredBy": {"human"}})
			require.Equal(t, http.StatusOK, status, body)
			assert.Contains(t, body, `postWorkActivitySid="`+wrapUp+`"`, "the worker moves to POSTWORK_ACTIVITY after the call")
		})
	}
}
