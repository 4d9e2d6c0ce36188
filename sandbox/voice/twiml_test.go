package voice

import (
	"net/url"
	"queuebridge/sandbox/internal/sandboxtest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

func errorCode(h *harness, sid string) string {
	for _, e := range h.rec.Entries(sid) {
		if e.What == "application error" {
			return e.Detail["error_code"]
		}
	}
	return ""
}

func TestGatherTakesThePersonasDigits(t *testing.T) {
	tests := []struct {
		name       string
		digits     string
		gather     string
		wantAction bool
		wantDigits string
		wantAt     time.Duration // after the answer, when the action is requested
	}{
		{"digits go to the action", "42", `<Gather action="/menu" numDigits="2"><Say>press one or two</Say></Gather>`, true, "42", 2600 * time.Millisecond},
		{"finishOnKey ends the input", "7#", `<Gather action="/menu"><Pause length="2"/></Gather>`, true, "7", 3 * time.Second},
		{"numDigits cuts the input", "12345", `<Gather action="/menu" numDigits="3"/>`, true, "123", time.Second},
		{"no digits: next verb after the timeout", "", `<Gather action="/menu" timeout="4"/>`, false, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.engine.SetPersona(agentPhone, Human(0, time.Minute).WithDigits(tt.digits))
			h.app.twiml("/answer", `<Response>`+tt.gather+`<Say>no input</Say></Response>`)
			h.app.twiml("/menu", `<Response><Hangup/></Response>`)
			sid := h.createCall(agentPhone, nil)
			if tt.wantAction {
				h.advance(tt.wantAt - time.Millisecond)
				assert.Empty(t, h.app.hitsTo("/menu"))
				h.advance(time.Millisecond)
				menu := h.app.hitsTo("/menu")
				require.Len(t, menu, 1)
				assert.Equal(t, tt.wantDigits, menu[0].Form.Get("Digits"))
				assert.Equal(t, "completed", h.call(sid).Status)
				return
			}
			h.advance(4 * time.Second)
			assert.Empty(t, h.app.hitsTo("/menu"))
			assert.Contains(t, h.timeline(sid), "gather: no input")
			h.advance(time.Second)
			assert.Equal(t, "completed", h.call(sid).Status)
			tl := h.timeline(sid)
			assert.Equal(t, "twiml: Say", tl[len(tl)-3], "the verb after Gather ran")
		})
	}
}

func TestGatherDigitsOnlyAtTheFirstGather(t *testing.T) {
	h := newHarness(t)
	h.engine.SetPersona(agentPhone, Human(0, time.Minute).WithDigits("9"))
	h.app.twiml("/answer", `<Response><Gather action="/again"/></Response>`)
	h.app.twiml("/again", `<Response><Gather action="/again" timeout="3"/></Response>`)
	sid := h.createCall(agentPhone, nil)
	h.advance(10 * time.Second)
	again := h.app.hitsTo("/again")
	require.Len(t, again, 1, "the second Gather times out: the persona pressed its digits once")
	assert.Equal(t, "9", again[0].Form.Get("Digits"))
	assert.Equal(t, "completed", h.call(sid).Status)
}

// TestGatherDigitsPerGather: a comma-separated Digits presses one part at each Gather in turn
// (an agent who presses a wrong key, hears the prompt again, then the right one), PressAfter
// after the prompts; nothing is pressed past the last part.
func TestGatherDigitsPerGather(t *testing.T) {
	h := newHarness(t)
	h.engine.SetPersona(agentPhone, Human(0, time.Minute).WithDigits("9,1").WithPressAfter(2*time.Second))
	h.app.twiml("/answer", `<Response><Gather action="/key" numDigits="1"><Say>press one</Say></Gather></Response>`)
	h.app.twiml("/key", `<Response><Gather action="/key" numDigits="1" timeout="3" actionOnEmptyResult="true"><Say>press one</Say></Gather></Response>`)
	sid := h.createCall(agentPhone, nil)
	const prompt = 800 * time.Millisecond // two words
	h.advance(prompt + 2*time.Second - time.Millisecond)
	assert.Empty(t, h.app.hitsTo("/key"), "the key comes PressAfter after the prompt")
	h.advance(time.Millisecond)
	require.Len(t, h.app.hitsTo("/key"), 1)
	h.advance(prompt + 2*time.Second)
	require.Len(t, h.app.hitsTo("/key"), 2)
	h.advance(prompt + 3*time.Second)
	keys := h.app.hitsTo("/key")
	require.Len(t, keys, 3, "first Gather, second, then the third times out into the action")
	assert.Equal(t, []string{"9", "1", ""}, []string{keys[0].Form.Get("Digits"), keys[1].Form.Get("Digits"), keys[2].Form.Get("Digits")})
	assert.Contains(t, h.timeline(sid), "gather: no input")
}

// TestGatherPressAfterTheTimeoutIsNoInput: a persona slower than the Gather's timeout presses
// nothing; actionOnEmptyResult sends the empty result to the action.
func TestGatherPressAfterTheTimeoutIsNoInput(t *testing.T) {
	h := newHarness(t)
	h.engine.SetPersona(agentPhone, Human(0, time.Minute).WithDigits("1").WithPressAfter(6*time.Second))
	h.app.twiml("/answer", `<Response><Gather action="/key" numDigits="1" timeout="5" actionOnEmptyResult="true"><Say>press one</Say></Gather></Response>`)
	h.app.twiml("/key", `<Response><Hangup/></Response>`)
	sid := h.createCall(agentPhone, nil)
	h.advance(800*time.Millisecond + 5*time.Second)
	keys := h.app.hitsTo("/key")
	require.Len(t, keys, 1)
	assert.Equal(t, "", keys[0].Form.Get("Digits"))
	assert.Contains(t, h.timeline(sid), "gather: no input")
}

func TestRecordGetsThePersonasMessage(t *testing.T) {
	h := newHarness(t)
	h.engine.SetPersona(callerPhone, Human(0, time.Minute).WithMessage(12*time.Second))
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", `<Response><Say>leave a message</Say><Record action="recorded" timeout="3" maxLength="60"/></Response>`)
	h.app.twiml("/recorded", `<Response><Say>thanks</Say></Response>`)
	sid := placeCaller(t, h)
	h.advance(1200*time.Millisecond + 15*time.Second - time.Millisecond)
	assert.Empty(t, h.app.hitsTo("/recorded"), "recording ends after 3 s of silence following the message")
	h.advance(time.Millisecond)
	rec := h.app.hitsTo("/recorded")
	require.Len(t, rec, 1, "a relative action resolves against the document's URL")
	assert.Equal(t, "12", rec[0].Form.Get("RecordingDuration"))
	assert.True(t, strings.HasPrefix(rec[0].Form.Get("RecordingSid"), "RE"))
	assert.Equal(t, "https://api.twilio.com/2010-04-01/Accounts/"+sandboxtest.Account+"/Recordings/"+rec[0].Form.Get("RecordingSid"), rec[0].Form.Get("RecordingUrl"))
	h.advance(time.Second)
	assert.Equal(t, "completed", h.call(sid).Status)
}

func TestRecordWithoutMessageRequestsNoAction(t *testing.T) {
	h := newHarness(t)
	h.app.twiml("/answer", `<Response><Record action="/recorded" timeout="5"/><Say>nothing recorded</Say></Response>`)
	sid := h.createCall(agentPhone, nil)
	h.advance(10 * time.Second)
	assert.Empty(t, h.app.hitsTo("/recorded"))
	assert.Contains(t, h.timeline(sid), "record: no audio")
	assert.Equal(t, "completed", h.call(sid).Status)
}

func TestRedirectSayPauseHangup(t *testing.T) {
	h := newHarness(t)
	h.app.twiml("/answer", `<Response><Say loop="2">hello there</Say><Redirect method="GET">/next?step=2</Redirect><Say>skipped</Say></Response>`)
	h.app.twiml("/next", `<Response><Play>https://example.com/music.mp3</Play><Pause length="3"/><Hangup/><Say>never</Say></Response>`)
	sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) { p.SetStatusCallback(h.app.url("/status")) })
	h.advance(2*time.Second + 1600*time.Millisecond)
	next := h.app.hitsTo("/next")
	require.Len(t, next, 1, "Redirect fetched after Say x2 (2 words x 0.4 s x 2)")
	assert.Equal(t, "2", next[0].Form.Get("step"), "GET carries the parameters in the query")
	assert.Equal(t, sid, next[0].Form.Get("CallSid"))
	h.advance(8*time.Second - time.Millisecond)
	assert.Equal(t, "in-progress", h.call(sid).Status)
	h.advance(time.Millisecond)
	info := h.call(sid)
	assert.Equal(t, "completed", info.Status)
	assert.Equal(t, 9*time.Second, info.Duration, "answered at 2 s, hung up at 11.6 s: whole seconds")
	tl := h.timeline(sid)
	assert.Contains(t, tl, "twiml: Hangup")
	var says int
	for _, w := range tl {
		if w == "twiml: Say" {
			says++
		}
	}
	assert.Equal(t, 1, says, "the Say after Redirect and after Hangup never run")
	assert.Equal(t, "9", h.app.hitsTo("/status")[0].Form.Get("CallDuration"))
}

func TestApplicationErrorsEndTheCall(t *testing.T) {
	tests := []struct {
		name     string
		body     string
		status   int
		wantCode string
	}{
		{"malformed XML", `<Response><Say>oops</Response>`, 200, "12100"},
		{"not a Response", `<html><body>hi</body></html>`, 200, "12100"},
		{"unknown verb", `<Response><Dance/></Response>`, 200, "12200"},
		{"unknown noun in Dial", `<Response><Dial><Conference>room</Conference></Dial></Response>`, 200, "12200"},
		{"HTTP 500", ``, 500, "11200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.app.handle("/answer", func(url.Values) string { return tt.body })
			if tt.status != 200 {
				h.app.failWith("/answer", tt.status)
			}
			sid := h.createCall(agentPhone, nil)
			h.advance(3 * time.Second)
			assert.Equal(t, tt.wantCode, errorCode(h, sid))
			assert.Equal(t, "completed", h.call(sid).Status)
		})
	}
}

func TestFallbackUrlServesWhenUrlFails(t *testing.T) {
	h := newHarness(t)
	h.app.twiml("/fallback", `<Response><Say>fallback</Say></Response>`)
	sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) {
		p.SetUrl(h.app.url("/missing")).SetFallbackUrl(h.app.url("/fallback"))
	})
	h.app.failWith("/missing", 404)
	h.advance(3 * time.Second)
	require.Len(t, h.app.hitsTo("/fallback"), 1)
	assert.Empty(t, errorCode(h, sid))
	assert.Contains(t, h.timeline(sid), "twiml: Say")
}

func TestRejectLeavesInboundCallUnanswered(t *testing.T) {
	h := newHarness(t)
	pointNumber(t, h, "/incoming")
	h.app.twiml("/incoming", `<Response><Reject reason="busy"/></Response>`)
	sid := placeCaller(t, h)
	info := h.call(sid)
	assert.Equal(t, "busy", info.Status)
	assert.Equal(t, time.Duration(0), info.Duration)
}

func TestInlineTwimlAndDialNumber(t *testing.T) {
	tests := []struct {
		name       string
		persona    Persona
		wantStatus string
		wantDur    string
	}{
		{"answered and talks", Human(5*time.Second, 20*time.Second), "completed", "20"},
		{"busy", Busy(), "busy", "0"},
		{"no answer within the dial timeout", NoAnswer(), "no-answer", "0"},
		{"failed", Fail(), "failed", "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			const other = "+15550003333"
			h.engine.SetPersona(other, tt.persona)
			h.engine.SetPersona(agentPhone, Human(time.Second, 0))
			p := &openapi.CreateCallParams{}
			p.SetTo(agentPhone).SetFrom(ourNumber).SetTwiml(`<Response><Dial timeout="10" action="` + h.app.url("/dialed") + `"><Number>` + other + `</Number></Dial></Response>`)
			resp, err := h.api.CreateCall(p)
			require.NoError(t, err)
			h.advance(time.Minute)
			dialed := h.app.hitsTo("/dialed")
			require.Len(t, dialed, 1)
			assert.Equal(t, tt.wantStatus, dialed[0].Form.Get("DialCallStatus"))
			assert.Equal(t, tt.wantDur, dialed[0].Form.Get("DialCallDuration"))
			child := h.call(dialed[0].Form.Get("DialCallSid"))
			assert.Equal(t, *resp.Sid, child.ParentCallSid)
			assert.Equal(t, "outbound-dial", child.Direction)
			assert.Equal(t, tt.wantStatus, child.Status)

			children, err := h.api.ListCall((&openapi.ListCallParams{}).SetParentCallSid(*resp.Sid))
			require.NoError(t, err)
			require.Len(t, children, 1)
			assert.Equal(t, child.Sid, *children[0].Sid)
		})
	}
}
