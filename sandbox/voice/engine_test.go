package voice

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/sandbox/internal/twilioapi"
)

// TestScaledClockRunsCallsWithoutManualStepping checks the engine outside the manual clock:
// timers fire on their own and the test polls for the outcome.
func TestScaledClockRunsCallsWithoutManualStepping(t *testing.T) {
	var mu sync.Mutex
	var answeredBy []string
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		if r.URL.Path == "/answer" {
			mu.Lock()
			answeredBy = append(answeredBy, r.PostForm.Get("AnsweredBy"))
			mu.Unlock()
			_, _ = fmt.Fprint(w, `<Response><Say>hello from a fast clock</Say></Response>`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer app.Close()
	e := New(Config{Clock: clock.NewScaled(1000), Credentials: twilioapi.Credentials{AccountSid: sandboxtest.Account, AuthToken: sandboxtest.Token, APIKey: "SK0123456789abcdef0123456789abcdef", APISecret: "secret0123456789"}})
	e.VerifyCallerID(ourNumber)
	srv := httptest.NewServer(e.Handler())
	defer srv.Close()
	api := sandboxtest.ClientVia(sandboxtest.Rewrite(t, srv.URL), "SK0123456789abcdef0123456789abcdef", "secret0123456789", sandboxtest.Account).Api

	resp, err := api.CreateCall((&openapi.CreateCallParams{}).SetTo(agentPhone).SetFrom(ourNumber).
		SetUrl(app.URL + "/answer").SetMachineDetection("Enable").SetStatusCallback(app.URL + "/status"))
	require.NoError(t, err, "an API key authenticates too")
	require.Eventually(t, func() bool {
		info, ok := e.Call(*resp.Sid)
		return ok && info.Status == "completed"
	}, 5*time.Second, 5*time.Millisecond)
	mu.Lock()
	assert.Equal(t, []string{"human"}, answeredBy)
	mu.Unlock()
}

func TestInboundCallStatusCallbackFromTheNumber(t *testing.T) {
	h := newHarness(t)
	sid := h.engine.SeedNumber(ourNumber, "")
	_, err := h.api.UpdateIncomingPhoneNumber(sid, (&openapi.UpdateIncomingPhoneNumberParams{}).
		SetVoiceUrl(h.app.url("/incoming")).SetStatusCallback(h.app.url("/status")))
	require.NoError(t, err)
	h.app.twiml("/incoming", `<Response><Pause length="4"/></Response>`)
	call := placeCaller(t, h)
	h.advance(4 * time.Second)
	cbs := h.app.hitsTo("/status")
	require.Len(t, cbs, 1)
	assert.Equal(t, "completed", cbs[0].Form.Get("CallStatus"))
	assert.Equal(t, "inbound", cbs[0].Form.Get("Direction"))
	assert.Equal(t, "4", cbs[0].Form.Get("CallDuration"))
	assert.Equal(t, call, cbs[0].Form.Get("CallSid"))
}

func TestRedirectWhileQueuedLeavesTheQueue(t *testing.T) {
	h := newHarness(t)
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", enqueueTwiML)
	h.app.twiml("/elsewhere", `<Response><Say>voicemail instead</Say></Response>`)
	sid := placeCaller(t, h)
	_, err := h.api.UpdateCall(sid, (&openapi.UpdateCallParams{}).SetUrl(h.app.url("/elsewhere")))
	require.NoError(t, err)
	h.settle()
	assert.Equal(t, []string{firstTask + ":redirected"}, h.trLog.snapshot().left)
	assert.Equal(t, "redirected", h.call(sid).QueueResult)
	assert.Empty(t, h.app.hitsTo("/queue-done"), "the redirect replaces the action")
	require.Len(t, h.app.hitsTo("/elsewhere"), 1)
}

func TestWaitUrlLeave(t *testing.T) {
	h := newHarness(t)
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", enqueueTwiML)
	h.app.twiml("/wait", `<Response><Say>closed</Say><Leave/></Response>`)
	sid := placeCaller(t, h)
	assert.Empty(t, h.app.hitsTo("/queue-done"), "the Say plays first")
	h.advance(400 * time.Millisecond)
	assert.Contains(t, h.timeline(sid), "wait-url: Say")
	done := h.app.hitsTo("/queue-done")
	require.Len(t, done, 1)
	assert.Equal(t, "leave", done[0].Form.Get("QueueResult"))
	assert.Equal(t, []string{firstTask + ":leave"}, h.trLog.snapshot().left)
	assert.Equal(t, "leave", h.call(sid).QueueResult)
}

func TestEnqueueWhenTaskRouterRefuses(t *testing.T) {
	h := newHarness(t)
	h.tr.EnqueueCallFn = func(context.Context, twilioapi.EnqueueRequest) (string, error) {
		return "", twilioapi.Errorf(http.StatusBadRequest, 20001, "Workflow not found")
	}
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", enqueueTwiML)
	sid := placeCaller(t, h)
	done := h.app.hitsTo("/queue-done")
	require.Len(t, done, 1)
	assert.Equal(t, "system-error", done[0].Form.Get("QueueResult"))
	assert.Equal(t, "system-error", h.call(sid).QueueResult)
}

// TestManyBridgesAtOnce runs ten callers and ten agents together: each agent dequeues its own
// caller; every bridge ends once and every leg completes.
func TestManyBridgesAtOnce(t *testing.T) {
	const n = 10
	h := newHarness(t)
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", enqueueTwiML)
	h.app.twiml("/queue-done", `<Response><Hangup/></Response>`)
	var mu sync.Mutex
	callerByRes := map[string]string{}
	taskByCaller := map[string]string{}
	h.tr.DequeueReservationFn = func(_ context.Context, res, _ string) (twilioapi.DequeuedTask, error) {
		mu.Lock()
		defer mu.Unlock()
		caller := callerByRes[res]
		return twilioapi.DequeuedTask{TaskSid: taskByCaller[caller], CallSid: caller}, nil
	}
	var callers, agents []string
	for i := 0; i < n; i++ {
		from := fmt.Sprintf("+1555100%04d", i)
		h.engine.SetPersona(from, Human(0, time.Duration(10+i)*time.Second))
		sid, err := h.engine.PlaceInboundCall(context.Background(), from, ourNumber)
		require.NoError(t, err)
		callers = append(callers, sid)
	}
	h.settle()
	for i, caller := range callers {
		res := fmt.Sprintf("WR%032d", i)
		mu.Lock()
		callerByRes[res] = caller
		taskByCaller[caller] = h.call(caller).TaskSid
		mu.Unlock()
		path := fmt.Sprintf("/agent%d", i)
		h.app.twiml(path, `<Response><Dial><Queue reservationSid="`+res+`"/></Dial></Response>`)
		to := fmt.Sprintf("+1555200%04d", i)
		h.engine.SetPersona(to, Human(time.Duration(i)*time.Second, time.Minute))
		agents = append(agents, h.createCall(to, func(p *openapi.CreateCallParams) { p.SetUrl(h.app.url(path)) }))
	}
	h.advance(time.Minute)
	for i := range callers {
		assert.Equal(t, agents[i], h.call(callers[i]).BridgedWith)
		assert.Equal(t, "completed", h.call(callers[i]).Status)
		assert.Equal(t, "completed", h.call(agents[i]).Status)
		assert.Equal(t, "bridged", h.call(callers[i]).QueueResult)
	}
	assert.Len(t, h.trLog.snapshot().ended, n, "one BridgeEnded per bridge")
	assert.Equal(t, 0, h.clk.Pending(), "no timer outlives its call")
}

func TestHangUpAllEndsEveryCall(t *testing.T) {
	h := newHarness(t)
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", enqueueTwiML)
	h.app.twiml("/answer", `<Response><Pause length="600"/></Response>`)
	h.engine.SetPersona("+15550005555", NoAnswer())
	caller := placeCaller(t, h)
	live := h.createCall(agentPhone, nil)
	ringing := h.createCall("+15550005555", nil)
	h.advance(5 * time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, h.engine.HangUpAll(ctx))
	assert.Equal(t, "completed", h.call(caller).Status)
	assert.Equal(t, "completed", h.call(live).Status)
	assert.Equal(t, "canceled", h.call(ringing).Status)
	assert.Equal(t, []string{firstTask + ":hangup"}, h.trLog.snapshot().left)
	assert.Equal(t, 0, h.clk.Pending())
}

func TestWrongMethodIsTwilios20004(t *testing.T) {
	h := newHarness(t)
	req, err := http.NewRequest(http.MethodDelete, h.server.URL+"/2010-04-01/Accounts/"+sandboxtest.Account+"/Queues.json", nil)
	require.NoError(t, err)
	req.SetBasicAuth(sandboxtest.Account, sandboxtest.Token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
}

func TestOutboundCallsArePacedAtOnePerSecond(t *testing.T) {
	tests := []struct {
		name      string
		cps       float64
		wantQueue []string // queue_time of each call, ms
	}{
		{"Twilio's default: 1 per second", 1, []string{"0", "1000", "2000"}},
		{"5 per second", 5, []string{"0", "200", "400"}},
		{"unlimited", 0, []string{"0", "0", "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.engine.SetCallsPerSecond(tt.cps)
			h.engine.SetPersona(agentPhone, NoAnswer())
			var sids []string
			for range 3 {
				sids = append(sids, h.createCall(agentPhone, func(p *openapi.CreateCallParams) {
					p.SetStatusCallback(h.app.url("/status")).SetStatusCallbackEvent([]string{"initiated"})
				}))
			}
			assert.Len(t, h.app.hitsTo("/status"), 1+2*btoi(tt.cps == 0), "the first is dialed at once")
			h.advance(3 * time.Second)
			assert.Len(t, h.app.hitsTo("/status"), 3)
			for i, sid := range sids {
				c, err := h.api.FetchCall(sid, nil)
				require.NoError(t, err)
				assert.Equal(t, tt.wantQueue[i], *c.QueueTime)
				assert.Equal(t, "ringing", *c.Status)
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
