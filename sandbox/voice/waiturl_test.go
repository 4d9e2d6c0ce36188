package voice

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The waitUrl cases follow https://www.twilio.com/docs/voice/twiml/enqueue: the waitUrl gets
// QueuePosition, QueueSid, QueueTime, AvgQueueTime, CurrentQueueSize and MaxQueueSize with the
// standard parameters; "Once the TwiML document located at the waitUrl runs out of verbs to
// execute, Twilio re-requests the waitUrl"; Play, Say, Pause, Hangup, Redirect, Leave and
// Gather run there.

func TestWaitUrlLoopsWithQueueParameters(t *testing.T) {
	h := newHarness(t)
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", `<Response><Enqueue waitUrl="/wait" action="/queue-done">support</Enqueue></Response>`)
	h.app.twiml("/wait", `<Response><Play>https://example.com/music.mp3</Play></Response>`)
	first := placeCaller(t, h)
	h.advance(time.Second)
	second, err := h.engine.PlaceInboundCall(context.Background(), "+15550003333", ourNumber)
	require.NoError(t, err)
	h.settle()

	waits := func(sid string) []hit {
		var out []hit
		for _, w := range h.app.hitsTo("/wait") {
			if w.Form.Get("CallSid") == sid {
				out = append(out, w)
			}
		}
		return out
	}
	require.Len(t, waits(first), 1)
	require.Len(t, waits(second), 1)
	f := waits(second)[0].Form
	assert.Equal(t, "2", f.Get("QueuePosition"))
	assert.Equal(t, "2", f.Get("CurrentQueueSize"))
	assert.Equal(t, "1000", f.Get("MaxQueueSize"))
	assert.Equal(t, "0", f.Get("QueueTime"))
	assert.Equal(t, "0", f.Get("AvgQueueTime"))
	assert.Equal(t, waits(first)[0].Form.Get("QueueSid"), f.Get("QueueSid"))
	assert.NotEmpty(t, f.Get("QueueSid"))
	assert.Equal(t, "in-progress", f.Get("CallStatus"), "with the standard parameters")
	assert.Equal(t, "1", waits(first)[0].Form.Get("QueuePosition"))

	h.advance(4 * time.Second) // the first caller's 5 s Play ends: the waitUrl is requested again
	require.Len(t, waits(first), 2)
	assert.Equal(t, "5", waits(first)[1].Form.Get("QueueTime"))
	h.advance(time.Minute)
	assert.Len(t, waits(first), 14, "every 5 s while the caller waits")
	assert.Equal(t, "in-progress", h.call(first).Status)
	assert.Empty(t, h.app.hitsTo("/queue-done"))
}

func TestWaitUrlVerbs(t *testing.T) {
	tests := []struct {
		name       string
		wait       string
		digits     string
		advance    time.Duration
		wantResult string
		wantLeft   string
		wantAction bool
		wantStatus string
	}{
		{"Hangup ends the call", `<Response><Say>goodbye now</Say><Hangup/></Response>`, "", time.Second, "hangup", "hangup", true, "completed"},
		{"Leave goes to the action", `<Response><Pause length="2"/><Leave/></Response>`, "", 3 * time.Second, "leave", "leave", true, "in-progress"},
		{"Gather digits with an action redirect out of the queue (WaitGatherRedirect)", `<Response><Gather action="/out" numDigits="1"><Say>press one</Say></Gather></Response>`, "1", 3 * time.Second, "redirected", "redirected", false, "in-progress"},
		{"Gather without input goes on waiting", `<Response><Gather action="/out" timeout="2"><Say>press one</Say></Gather></Response>`, "", 30 * time.Second, "", "", false, "in-progress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			if tt.wantResult == "redirected" {
				h.engine.SetWaitGatherAction(WaitGatherRedirect)
			}
			h.engine.SetPersona(callerPhone, Human(0, 0).WithDigits(tt.digits))
			pointNumber(t, h, "/incoming")
			h.app.twiml("/incoming", enqueueTwiML)
			h.app.twiml("/wait", tt.wait)
			h.app.twiml("/out", `<Response><Pause length="60"/></Response>`)
			h.app.twiml("/queue-done", `<Response><Pause length="60"/></Response>`)
			sid := placeCaller(t, h)
			h.advance(tt.advance)
			info := h.call(sid)
			assert.Equal(t, tt.wantStatus, info.Status)
			assert.Equal(t, tt.wantResult, info.QueueResult)
			var left []string
			if tt.wantLeft != "" {
				left = []string{firstTask + ":" + tt.wantLeft}
			}
			assert.Equal(t, left, h.trLog.snapshot().left)
			done := h.app.hitsTo("/queue-done")
			if tt.wantAction {
				require.Len(t, done, 1)
				assert.Equal(t, tt.wantResult, done[0].Form.Get("QueueResult"))
			} else {
				assert.Empty(t, done)
			}
			if tt.wantResult == "redirected" {
				out := h.app.hitsTo("/out")
				require.Len(t, out, 1)
				assert.Equal(t, "1", out[0].Form.Get("Digits"))
			}
			if tt.wantResult == "" {
				assert.Greater(t, len(h.app.hitsTo("/wait")), 3, "the document is requested again after each timeout")
			}
		})
	}
}

func TestWaitUrlRedirectKeepsTheCallerWaiting(t *testing.T) {
	h := newHarness(t)
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", enqueueTwiML)
	h.app.twiml("/wait", `<Response><Redirect>/wait2</Redirect></Response>`)
	h.app.twiml("/wait2", `<Response><Pause length="3"/></Response>`)
	sid := placeCaller(t, h)
	require.Len(t, h.app.hitsTo("/wait2"), 1)
	assert.Equal(t, "1", h.app.hitsTo("/wait2")[0].Form.Get("QueuePosition"))
	h.advance(3 * time.Second)
	assert.Len(t, h.app.hitsTo("/wait"), 2, "the waitUrl itself is requested again")
	assert.Equal(t, "", h.call(sid).QueueResult)
	assert.Equal(t, "in-progress", h.call(sid).Status)
}

func TestTaskCanceledInterruptsTheWaitMusic(t *testing.T) {
	h := newHarness(t)
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", enqueueTwiML)
	h.app.twiml("/wait", `<Response><Play>https://example.com/music.mp3</Play></Response>`)
	sid := placeCaller(t, h)
	h.advance(time.Second)
	h.engine.TaskCanceled(context.Background(), firstTask, sid, "workflow timeout")
	h.settle()
	assert.Equal(t, "leave", h.call(sid).QueueResult, "at once, not at the end of the Play")
	require.Len(t, h.app.hitsTo("/queue-done"), 1)
	assert.Equal(t, "1", h.app.hitsTo("/queue-done")[0].Form.Get("QueueTime"))
}

// A <Gather> action in the waitUrl runs in the queue by default (WaitGatherInQueue): its
// <Leave/> takes the caller to the Enqueue action with QueueResult=leave; before the persona's
// QueueDigitsAfter nothing is pressed and the wait music loops.
func TestWaitGatherActionRunsInTheQueue(t *testing.T) {
	h := newHarness(t)
	h.engine.SetPersona(callerPhone, Human(0, 0).WithQueueDigits("*", 20*time.Second))
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", enqueueTwiML)
	h.app.twiml("/wait", `<Response><Gather action="/key" numDigits="1" timeout="1"><Say>press star</Say><Pause length="5"/></Gather></Response>`)
	h.app.twiml("/key", `<Response><Leave/></Response>`)
	h.app.twiml("/queue-done", `<Response><Pause length="60"/></Response>`)
	sid := placeCaller(t, h)
	h.advance(19 * time.Second)
	assert.Empty(t, h.app.hitsTo("/key"), "nothing pressed before QueueDigitsAfter")
	assert.GreaterOrEqual(t, len(h.app.hitsTo("/wait")), 3, "the wait music loops meanwhile")
	h.advance(10 * time.Second)
	keys := h.app.hitsTo("/key")
	require.Len(t, keys, 1)
	assert.Equal(t, "*", keys[0].Form.Get("Digits"))
	assert.Equal(t, "1", keys[0].Form.Get("QueuePosition"), "the action is requested in the queue, with its parameters")
	assert.Equal(t, "leave", h.call(sid).QueueResult)
	assert.Equal(t, []string{firstTask + ":leave"}, h.trLog.snapshot().left)
	done := h.app.hitsTo("/queue-done")
	require.Len(t, done, 1)
	assert.Equal(t, "leave", done[0].Form.Get("QueueResult"))
}

// A <Redirect> answered to the Gather action keeps the caller waiting.
func TestWaitGatherActionRedirectKeepsWaiting(t *testing.T) {
	h := newHarness(t)
	h.engine.SetPersona(callerPhone, Human(0, 0).WithQueueDigits("5", 0))
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", enqueueTwiML)
	h.app.twiml("/wait", `<Response><Gather action="/key" numDigits="1" timeout="1"><Say>press star</Say></Gather></Response>`)
	h.app.twiml("/key", `<Response><Redirect>/wait</Redirect></Response>`)
	sid := placeCaller(t, h)
	h.advance(30 * time.Second)
	require.Len(t, h.app.hitsTo("/key"), 1, "digits are pressed once")
	assert.Equal(t, "", h.call(sid).QueueResult, "still waiting")
	assert.Greater(t, len(h.app.hitsTo("/wait")), 4)
	assert.Empty(t, h.trLog.snapshot().left)
}
