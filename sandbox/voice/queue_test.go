package voice

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/sandbox/internal/twilioapi"
)

const (
	workflowSid    = "WW0123456789abcdef0123456789abcdef"
	reservationSid = "WR0123456789abcdef0123456789abcdef"
	postWorkSid    = "WA0123456789abcdef0123456789abcdef"
	firstTask      = "WT00000000000000000000000000000001"
)

const enqueueTwiML = `<?xml version="1.0" encoding="UTF-8"?>
<Response>
  <Enqueue workflowSid="` + workflowSid + `" action="/queue-done" waitUrl="/wait">
    <Task priority="5" timeout="3600">{"selected_product":"sales","from":"+15550000000"}</Task>
  </Enqueue>
  <Say>you left the queue</Say>
</Response>`

// pointNumber seeds our number and points its VoiceUrl at the app through the REST API.
func pointNumber(t *testing.T, h *harness, path string) {
	t.Helper()
	sid := h.engine.SeedNumber(ourNumber, "support line")
	_, err := h.api.UpdateIncomingPhoneNumber(sid, (&openapi.UpdateIncomingPhoneNumberParams{}).
		SetVoiceUrl(h.app.url(path)).SetVoiceMethod("POST"))
	require.NoError(t, err)
}

func placeCaller(t *testing.T, h *harness) string {
	t.Helper()
	sid, err := h.engine.PlaceInboundCall(context.Background(), callerPhone, ourNumber)
	require.NoError(t, err)
	h.settle()
	return sid
}

func TestInboundCallFetchesVoiceUrl(t *testing.T) {
	h := newHarness(t)
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", `<Response><Say>hello</Say></Response>`)
	sid := placeCaller(t, h)
	hits := h.app.hitsTo("/incoming")
	require.Len(t, hits, 1)
	f := hits[0].Form
	assert.Equal(t, sid, f.Get("CallSid"))
	assert.Equal(t, sandboxtest.Account, f.Get("AccountSid"))
	assert.Equal(t, callerPhone, f.Get("From"))
	assert.Equal(t, callerPhone, f.Get("Caller"))
	assert.Equal(t, ourNumber, f.Get("To"))
	assert.Equal(t, ourNumber, f.Get("Called"))
	assert.Equal(t, "ringing", f.Get("CallStatus"))
	assert.Equal(t, "inbound", f.Get("Direction"))
	assert.Equal(t, "2010-04-01", f.Get("ApiVersion"))
	assert.Equal(t, "in-progress", h.call(sid).Status)
	h.advance(time.Second)
	assert.Equal(t, "completed", h.call(sid).Status)

	_, err := h.engine.PlaceInboundCall(context.Background(), callerPhone, "+15551234567")
	assert.Error(t, err, "only seeded numbers can be called")
}

func TestEnqueueCreatesTaskWithMergedAttributes(t *testing.T) {
	h := newHarness(t)
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", enqueueTwiML)
	sid := placeCaller(t, h)

	log := h.trLog.snapshot()
	require.Len(t, log.enqueued, 1)
	req := log.enqueued[0]
	assert.Equal(t, sid, req.CallSid)
	assert.Equal(t, workflowSid, req.WorkflowSid)
	assert.Equal(t, sid, req.Attributes["call_sid"])
	assert.Equal(t, sandboxtest.Account, req.Attributes["account_sid"])
	assert.Equal(t, ourNumber, req.Attributes["to"])
	assert.Equal(t, callerPhone, req.Attributes["caller"])
	assert.Equal(t, "inbound", req.Attributes["direction"])
	assert.Equal(t, "sales", req.Attributes["selected_product"])
	assert.Equal(t, "+15550000000", req.Attributes["from"], "the <Task> JSON wins over the call's attributes")
	require.NotNil(t, req.Priority)
	assert.Equal(t, 5, *req.Priority)
	require.NotNil(t, req.Timeout)
	assert.Equal(t, 3600, *req.Timeout)
	require.Len(t, h.app.hitsTo("/wait"), 1, "the waitUrl is fetched")
	assert.Equal(t, firstTask, h.call(sid).TaskSid)
	assert.Equal(t, "in-progress", h.call(sid).Status)
}

func TestCallerLeavingTheQueue(t *testing.T) {
	tests := []struct {
		name       string
		patience   time.Duration
		act        func(h *harness, sid string)
		wantResult string
		wantLeft   []string
		wantStatus string
		wantSay    bool
	}{
		{
			name: "caller hangs up after its patience", patience: 45 * time.Second,
			act:        func(h *harness, _ string) { h.advance(45 * time.Second) },
			wantResult: "hangup", wantLeft: []string{firstTask + ":hangup"}, wantStatus: "completed",
		},
		{
			name: "API hangs the caller up",
			act: func(h *harness, sid string) {
				_, err := h.api.UpdateCall(sid, (&openapi.UpdateCallParams{}).SetStatus("completed"))
				require.NoError(h.t, err)
				h.settle()
			},
			wantResult: "hangup", wantLeft: []string{firstTask + ":hangup"}, wantStatus: "completed",
		},
		{
			name: "TaskRouter cancels the task",
			act: func(h *harness, sid string) {
				h.advance(20 * time.Second)
				h.engine.TaskCanceled(context.Background(), firstTask, sid, "Workflow timeout")
				h.settle()
			},
			wantResult: "leave", wantStatus: "in-progress", wantSay: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.engine.SetPersona(callerPhone, Human(0, time.Minute).WithPatience(tt.patience))
			pointNumber(t, h, "/incoming")
			h.app.twiml("/incoming", enqueueTwiML)
			h.app.twiml("/queue-done", `<Response><Say>sorry, nobody is available</Say></Response>`)
			sid := placeCaller(t, h)
			h.advance(time.Second)
			require.Equal(t, "in-progress", h.call(sid).Status, "waiting in the queue")

			tt.act(h, sid)

			done := h.app.hitsTo("/queue-done")
			require.Len(t, done, 1)
			assert.Equal(t, tt.wantResult, done[0].Form.Get("QueueResult"))
			assert.NotEmpty(t, done[0].Form.Get("QueueTime"))
			assert.Equal(t, tt.wantLeft, h.trLog.snapshot().left)
			info := h.call(sid)
			assert.Equal(t, tt.wantResult, info.QueueResult)
			assert.Equal(t, tt.wantStatus, info.Status)
			if tt.wantSay {
				assert.Equal(t, "21", done[0].Form.Get("QueueTime"), "entered the queue at 0 s, canceled at 21 s")
				h.advance(5 * time.Second)
				assert.Equal(t, "completed", h.call(sid).Status, "the action's TwiML ran and ended")
			}
		})
	}
}

// bridgeSetup enqueues a caller and returns an agent call whose TwiML dequeues it.
func bridgeSetup(t *testing.T, h *harness, agentTwiML string) (callerSid, agentSid string) {
	t.Helper()
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", enqueueTwiML)
	h.app.twiml("/queue-done", `<Response><Hangup/></Response>`)
	h.app.twiml("/agent", agentTwiML)
	callerSid = placeCaller(t, h)
	h.tr.DequeueReservationFn = func(_ context.Context, res, post string) (twilioapi.DequeuedTask, error) {
		h.trLog.mu.Lock()
		h.trLog.dequeued = append(h.trLog.dequeued, res+"/"+post)
		h.trLog.mu.Unlock()
		return twilioapi.DequeuedTask{TaskSid: firstTask, CallSid: callerSid, WorkerSid: "WK1"}, nil
	}
	agentSid = h.createCall(agentPhone, func(p *openapi.CreateCallParams) {
		p.SetUrl(h.app.url("/agent")).SetMachineDetection("Enable")
	})
	return callerSid, agentSid
}

const dialQueueTwiML = `<Response><Dial action="/dial-done"><Queue reservationSid="` + reservationSid +
	`" postWorkActivitySid="` + postWorkSid + `"/></Dial></Response>`

func TestDialQueueBridgesUntilAgentHangsUp(t *testing.T) {
	h := newHarness(t)
	h.engine.SetPersona(callerPhone, Human(0, 0))
	h.engine.SetPersona(agentPhone, Human(2*time.Second, 20*time.Second))
	callerSid, agentSid := bridgeSetup(t, h, dialQueueTwiML)

	h.advance(2*time.Second + 2200*time.Millisecond) // answer, then AMD says human
	assert.Equal(t, []string{reservationSid + "/" + postWorkSid}, h.trLog.snapshot().dequeued)
	agent, caller := h.call(agentSid), h.call(callerSid)
	assert.Equal(t, callerSid, agent.BridgedWith)
	assert.Equal(t, agentSid, caller.BridgedWith)
	assert.Empty(t, h.trLog.snapshot().ended)

	h.advance(20 * time.Second)
	assert.Equal(t, []string{firstTask}, h.trLog.snapshot().ended, "BridgeEnded once")
	assert.Equal(t, "completed", h.call(agentSid).Status, "the agent hung up")
	dial := h.app.hitsTo("/dial-done")
	require.Len(t, dial, 1, "the agent's Dial ends with its call: the action is still requested")
	assert.Equal(t, "completed", dial[0].Form.Get("DialCallStatus"))
	assert.Equal(t, "completed", dial[0].Form.Get("CallStatus"))
	assert.Equal(t, "20", dial[0].Form.Get("DialCallDuration"))
	done := h.app.hitsTo("/queue-done")
	require.Len(t, done, 1)
	assert.Equal(t, "bridged", done[0].Form.Get("QueueResult"))
	assert.Equal(t, "completed", h.call(callerSid).Status, "the caller's action said Hangup")
	assert.Equal(t, "bridged", h.call(callerSid).QueueResult)
	assert.Empty(t, h.trLog.snapshot().left, "a bridged caller did not leave the queue")
}

func TestDialQueueBridgeEndsWhenCallerHangsUp(t *testing.T) {
	h := newHarness(t)
	h.engine.SetPersona(callerPhone, Human(0, 10*time.Second))
	h.engine.SetPersona(agentPhone, Human(2*time.Second, time.Minute))
	callerSid, agentSid := bridgeSetup(t, h, dialQueueTwiML)
	h.app.twiml("/dial-done", `<Response><Say>wrap up</Say><Hangup/></Response>`)

	h.advance(2*time.Second + 2200*time.Millisecond)
	require.Equal(t, callerSid, h.call(agentSid).BridgedWith)
	h.advance(10 * time.Second)

	assert.Equal(t, "completed", h.call(callerSid).Status)
	dial := h.app.hitsTo("/dial-done")
	require.Len(t, dial, 1)
	assert.Equal(t, "completed", dial[0].Form.Get("DialCallStatus"))
	assert.Equal(t, "10", dial[0].Form.Get("DialCallDuration"))
	assert.Equal(t, callerSid, dial[0].Form.Get("DialCallSid"))
	assert.Equal(t, "human", dial[0].Form.Get("AnsweredBy"))
	assert.Equal(t, []string{firstTask}, h.trLog.snapshot().ended)
	done := h.app.hitsTo("/queue-done")
	require.Len(t, done, 1, "Twilio still requests the Enqueue action of a caller who hung up")
	assert.Equal(t, "bridged", done[0].Form.Get("QueueResult"))
	h.advance(5 * time.Second)
	assert.Equal(t, "completed", h.call(agentSid).Status)
}

func TestDialQueueFailsWith14215(t *testing.T) {
	tests := []struct {
		name      string
		twiml     string
		wantDial  bool
		wantAfter string
	}{
		{"action gets DialCallStatus=failed", dialQueueTwiML, true, ""},
		{"without action the next verb runs", `<Response><Dial><Queue reservationSid="` + reservationSid + `"/></Dial><Say>next verb</Say></Response>`, false, "twiml: Say"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.app.twiml("/agent", tt.twiml)
			sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) { p.SetUrl(h.app.url("/agent")) })
			h.advance(2 * time.Second)
			if tt.wantDial {
				dial := h.app.hitsTo("/dial-done")
				require.Len(t, dial, 1)
				assert.Equal(t, "failed", dial[0].Form.Get("DialCallStatus"))
				assert.Equal(t, "0", dial[0].Form.Get("DialCallDuration"))
			}
			tl := h.timeline(sid)
			assert.Contains(t, tl, "dial: failed")
			if tt.wantAfter != "" {
				assert.Contains(t, tl, tt.wantAfter)
			}
			var code string
			for _, e := range h.rec.Entries(sid) {
				if e.What == "dial queue: dequeue failed" {
					code = e.Detail["error_code"]
				}
			}
			assert.Equal(t, "14215", code)
			assert.Empty(t, h.trLog.snapshot().ended)
			h.advance(5 * time.Second)
			assert.Equal(t, "completed", h.call(sid).Status)
		})
	}
}

func TestNamedQueueEnqueueAndDial(t *testing.T) {
	h := newHarness(t)
	pointNumber(t, h, "/incoming")
	h.engine.SetPersona(callerPhone, Human(0, 15*time.Second))
	h.app.twiml("/incoming", `<Response><Enqueue action="/queue-done">support</Enqueue></Response>`)
	callerSid := placeCaller(t, h)

	queues, err := h.api.ListQueue(nil)
	require.NoError(t, err)
	require.Len(t, queues, 1)
	assert.Equal(t, "support", *queues[0].FriendlyName)
	assert.Equal(t, 1, queues[0].CurrentSize)
	q, err := h.api.FetchQueue(*queues[0].Sid, nil)
	require.NoError(t, err)
	assert.Equal(t, 1000, q.MaxSize, "Twilio's default max size (Enqueue and Queue resource docs)")

	h.app.twiml("/agent", `<Response><Dial action="/dial-done"><Queue>support</Queue></Dial></Response>`)
	agentSid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) { p.SetUrl(h.app.url("/agent")) })
	h.advance(2 * time.Second)
	assert.Equal(t, callerSid, h.call(agentSid).BridgedWith)
	h.advance(15 * time.Second)
	dial := h.app.hitsTo("/dial-done")
	require.Len(t, dial, 1)
	assert.Equal(t, "completed", dial[0].Form.Get("DialCallStatus"))
	assert.Equal(t, *queues[0].Sid, dial[0].Form.Get("QueueSid"))
	assert.Equal(t, "bridged", h.app.hitsTo("/queue-done")[0].Form.Get("QueueResult"))
	q, err = h.api.FetchQueue(*queues[0].Sid, nil)
	require.NoError(t, err)
	assert.Equal(t, 0, q.CurrentSize)
}

func TestCallerAbandonsAtEveryStage(t *testing.T) {
	const ivr = `<Response><Gather action="/menu" timeout="10"><Say>press one for sales</Say></Gather></Response>`
	tests := []struct {
		name       string
		hangUp     time.Duration
		wantLeft   []string
		wantResult string
	}{
		{"during the IVR", 2 * time.Second, nil, ""},
		{"in the queue", 20 * time.Second, []string{firstTask + ":hangup"}, "hangup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.engine.SetPersona(callerPhone, Human(0, time.Minute).WithDigits("1").WithHangUpAfter(tt.hangUp))
			pointNumber(t, h, "/incoming")
			h.app.twiml("/incoming", ivr)
			h.app.twiml("/menu", enqueueTwiML)
			sid := placeCaller(t, h)
			h.advance(tt.hangUp)
			info := h.call(sid)
			assert.Equal(t, "completed", info.Status)
			assert.Equal(t, tt.hangUp, info.Duration)
			assert.Equal(t, tt.wantLeft, h.trLog.snapshot().left)
			assert.Equal(t, tt.wantResult, info.QueueResult)
			assert.Contains(t, h.timeline(sid), "persona hung up")
		})
	}
}
