package voice

import (
	"net/http"
	"queuebridge/sandbox/internal/sandboxtest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

func statuses(hits []hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.Form.Get("CallStatus"))
	}
	return out
}

func TestUnansweredCallsReportStatusAndNeverFetchUrl(t *testing.T) {
	tests := []struct {
		name     string
		persona  Persona
		timeout  int
		advance  time.Duration
		wantStat string
		wantSip  string
	}{
		{"busy", Busy(), 0, time.Second, "busy", "486"},
		{"failed", Fail(), 0, time.Second, "failed", "500"},
		{"no-answer after the default 60 s", NoAnswer(), 0, 60 * time.Second, "no-answer", "487"},
		{"answering too late is no-answer", Human(20*time.Second, time.Minute), 15, 15 * time.Second, "no-answer", "487"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.app.twiml("/answer", `<Response><Say>never</Say></Response>`)
			h.engine.SetPersona(agentPhone, tt.persona)
			sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) {
				p.SetStatusCallback(h.app.url("/status")).SetMachineDetection("Enable")
				if tt.timeout > 0 {
					p.SetTimeout(tt.timeout)
				}
			})
			h.advance(tt.advance - time.Millisecond)
			if tt.wantStat == "no-answer" {
				assert.Equal(t, "ringing", h.call(sid).Status)
			}
			h.advance(time.Millisecond)

			cbs := h.app.hitsTo("/status")
			require.Len(t, cbs, 1, "only completed is sent by default")
			assert.Equal(t, tt.wantStat, cbs[0].Form.Get("CallStatus"))
			assert.Equal(t, tt.wantSip, cbs[0].Form.Get("SipResponseCode"))
			assert.Equal(t, "0", cbs[0].Form.Get("CallDuration"))
			assert.Equal(t, "outbound-api", cbs[0].Form.Get("Direction"))
			assert.Equal(t, "2010-04-01", cbs[0].Form.Get("ApiVersion"))
			assert.Equal(t, sandboxtest.Account, cbs[0].Form.Get("AccountSid"))
			assert.Empty(t, h.app.hitsTo("/answer"), "the Url is never fetched for %s", tt.wantStat)
			assert.Equal(t, tt.wantStat, h.call(sid).Status)

			fetched, err := h.api.FetchCall(sid, nil)
			require.NoError(t, err)
			assert.Equal(t, tt.wantStat, *fetched.Status)
			assert.Equal(t, "0", *fetched.Duration)
		})
	}
}

func TestStatusCallbackEventsFilterAndSequence(t *testing.T) {
	tests := []struct {
		name   string
		events []string
		want   []string
	}{
		{"all four", []string{"initiated", "ringing", "answered", "completed"}, []string{"initiated", "ringing", "in-progress", "completed"}},
		{"default is completed only", nil, []string{"completed"}},
		{"answered and completed", []string{"answered", "completed"}, []string{"in-progress", "completed"}},
		{"ringing only", []string{"ringing"}, []string{"ringing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.app.twiml("/answer", `<Response><Say>one two three four five</Say></Response>`)
			h.engine.SetPersona(agentPhone, Human(3*time.Second, 10*time.Second))
			sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) {
				p.SetStatusCallback(h.app.url("/status"))
				if tt.events != nil {
					p.SetStatusCallbackEvent(tt.events)
				}
			})
			h.advance(10 * time.Second)

			cbs := h.app.hitsTo("/status")
			assert.Equal(t, tt.want, statuses(cbs))
			for i, cb := range cbs {
				assert.Equal(t, sid, cb.Form.Get("CallSid"))
				assert.Equal(t, itoa(i), cb.Form.Get("SequenceNumber"))
				assert.NotEmpty(t, cb.Form.Get("Timestamp"))
				_, err := time.Parse("Mon, 02 Jan 2006 15:04:05 -0700", cb.Form.Get("Timestamp"))
				assert.NoError(t, err, "Timestamp is RFC 2822")
			}
			last := cbs[len(cbs)-1]
			if last.Form.Get("CallStatus") == "completed" {
				assert.Equal(t, "2", last.Form.Get("CallDuration"), "five words of Say at 0.4 s a word")
				assert.Equal(t, "200", last.Form.Get("SipResponseCode"))
			}
			info := h.call(sid)
			assert.Equal(t, "completed", info.Status)
			assert.Equal(t, 2*time.Second, info.Duration)
		})
	}
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestCancelWhileRinging(t *testing.T) {
	h := newHarness(t)
	h.engine.SetPersona(agentPhone, Human(10*time.Second, time.Minute))
	sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) {
		p.SetStatusCallback(h.app.url("/status")).SetStatusCallbackEvent([]string{"ringing", "completed"})
	})
	h.advance(3 * time.Second)
	require.Equal(t, "ringing", h.call(sid).Status)

	resp, err := h.api.UpdateCall(sid, (&openapi.UpdateCallParams{}).SetStatus("canceled"))
	require.NoError(t, err)
	assert.Equal(t, "canceled", *resp.Status)
	h.advance(time.Minute)

	assert.Equal(t, []string{"ringing", "canceled"}, statuses(h.app.hitsTo("/status")))
	assert.Empty(t, h.app.hitsTo("/answer"))
	assert.Equal(t, "canceled", h.call(sid).Status)

	_, err = h.api.UpdateCall(sid, (&openapi.UpdateCallParams{}).SetStatus("completed"))
	var te *client.TwilioRestError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 21220, te.Code, "an ended call cannot be updated")
}

func TestCompletedHangsUpLiveCallAndCancelIsRefused(t *testing.T) {
	h := newHarness(t)
	h.app.twiml("/answer", `<Response><Pause length="60"/><Say>too late</Say></Response>`)
	sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) {
		p.SetStatusCallback(h.app.url("/status"))
	})
	h.advance(5 * time.Second)
	require.Equal(t, "in-progress", h.call(sid).Status)

	_, err := h.api.UpdateCall(sid, (&openapi.UpdateCallParams{}).SetStatus("canceled"))
	var te *client.TwilioRestError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 21220, te.Code)
	assert.Equal(t, http.StatusBadRequest, te.Status)

	resp, err := h.api.UpdateCall(sid, (&openapi.UpdateCallParams{}).SetStatus("completed"))
	require.NoError(t, err)
	assert.Equal(t, "completed", *resp.Status)
	h.advance(time.Minute)
	info := h.call(sid)
	assert.Equal(t, "completed", info.Status)
	assert.Equal(t, 3*time.Second, info.Duration, "answered at 2 s, hung up at 5 s")
	assert.NotContains(t, h.timeline(sid), "twiml: Say", "the TwiML stops with the call")
	assert.Equal(t, []string{"completed"}, statuses(h.app.hitsTo("/status")))
	assert.Equal(t, "3", h.app.hitsTo("/status")[0].Form.Get("CallDuration"))
}

func TestCompletedOnRingingCallCancelsIt(t *testing.T) {
	h := newHarness(t)
	h.engine.SetPersona(agentPhone, NoAnswer())
	sid := h.createCall(agentPhone, nil)
	resp, err := h.api.UpdateCall(sid, (&openapi.UpdateCallParams{}).SetStatus("completed"))
	require.NoError(t, err)
	assert.Equal(t, "canceled", *resp.Status)
	h.advance(time.Minute)
	assert.Equal(t, "canceled", h.call(sid).Status)
}

func TestRedirectLiveCallToNewTwiML(t *testing.T) {
	h := newHarness(t)
	h.app.twiml("/answer", `<Response><Pause length="60"/></Response>`)
	h.app.twiml("/new", `<Response><Say>moved</Say><Hangup/></Response>`)
	sid := h.createCall(agentPhone, nil)
	h.advance(5 * time.Second)
	_, err := h.api.UpdateCall(sid, (&openapi.UpdateCallParams{}).SetUrl(h.app.url("/new")).SetMethod("POST"))
	require.NoError(t, err)
	h.advance(time.Second)
	require.Len(t, h.app.hitsTo("/new"), 1)
	assert.Equal(t, "in-progress", h.app.hitsTo("/new")[0].Form.Get("CallStatus"))
	assert.Equal(t, "completed", h.call(sid).Status)
	assert.Equal(t, 3*time.Second, h.call(sid).Duration)
}

func TestPersonaHangingUpEndsTheCall(t *testing.T) {
	h := newHarness(t)
	h.app.twiml("/answer", `<Response><Pause length="120"/></Response>`)
	h.engine.SetPersona(agentPhone, Fax(time.Second))
	sid := h.createCall(agentPhone, nil)
	h.advance(31 * time.Second)
	info := h.call(sid)
	assert.Equal(t, "completed", info.Status, "the fax drops the line 30 s after answering")
	assert.Equal(t, 30*time.Second, info.Duration)
	assert.Contains(t, h.timeline(sid), "persona hung up")
}

func TestUrlUpdateBeforeAnswerIsWhatTheCallFetches(t *testing.T) {
	h := newHarness(t)
	h.app.twiml("/later", `<Response><Hangup/></Response>`)
	h.engine.SetPersona(agentPhone, Human(5*time.Second, time.Minute))
	sid := h.createCall(agentPhone, nil)
	resp, err := h.api.UpdateCall(sid, (&openapi.UpdateCallParams{}).SetUrl(h.app.url("/later")))
	require.NoError(t, err)
	assert.Equal(t, "ringing", *resp.Status)
	h.advance(5 * time.Second)
	assert.Empty(t, h.app.hitsTo("/answer"))
	require.Len(t, h.app.hitsTo("/later"), 1)
	assert.Equal(t, "completed", h.call(sid).Status)
}
