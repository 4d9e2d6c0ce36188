package voice

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// TestTwiMLFetchHonoursConnectionOverrides: the Voice Url is one of the webhooks the connection
// overrides apply to (https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides).
// By default a 503 is not retried and the call gets an application error; with #rp=5xx it is
// retried once and the TwiML runs. The fragment is neither requested nor signed (the harness
// checks every signature against the URL the app saw).
func TestTwiMLFetchHonoursConnectionOverrides(t *testing.T) {
	for _, tt := range []struct {
		name, fragment string
		wantHits       int
		wantSay        bool
	}{
		{"default: a 5xx is not retried", "", 1, false},
		{"rp=5xx: retried once", "#rp=5xx", 2, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.app.twiml("/answer", `<Response><Say>hello</Say></Response>`)
			h.app.failNext("/answer", 1, http.StatusServiceUnavailable)
			sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) { p.SetUrl(h.app.url("/answer") + tt.fragment) })
			h.advance(10 * time.Second)
			require.Len(t, h.app.hitsTo("/answer"), tt.wantHits)
			if tt.wantSay {
				assert.Contains(t, h.timeline(sid), "twiml: Say")
			} else {
				assert.Contains(t, h.timeline(sid), "application error")
			}
			assert.Equal(t, "completed", h.call(sid).Status)
		})
	}
}

func allEvents(h *harness) func(p *openapi.CreateCallParams) {
	return func(p *openapi.CreateCallParams) {
		p.SetStatusCallback(h.app.url("/status")).SetStatusCallbackEvent([]string{"initiated", "ringing", "answered", "completed"})
	}
}

// TestDroppedTwiMLFetchIsAnApplicationError: an application that never answers the Url leaves
// the call waiting Twilio's total time (15 s), then error 11200: the caller hears "an
// application error has occurred" and the call hangs up.
func TestDroppedTwiMLFetchIsAnApplicationError(t *testing.T) {
	h := newHarness(t)
	h.app.twiml("/answer", `<Response><Say>never heard</Say></Response>`)
	h.engine.SetWebhookFaults(WebhookFaults{Drop: 1, Kinds: []string{HookTwiML}})
	sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) { p.SetStatusCallback(h.app.url("/status")) })
	h.advance(2*time.Second + 15*time.Second - time.Millisecond)
	assert.Equal(t, "in-progress", h.call(sid).Status, "still waiting for the application")
	h.advance(time.Millisecond)
	assert.Equal(t, "completed", h.call(sid).Status)
	assert.Empty(t, h.app.hitsTo("/answer"), "the fetch never reached the application")
	assert.Len(t, h.app.hitsTo("/status"), 1, "status callbacks are not in Kinds")
	var codes []string
	for _, e := range h.rec.Entries(sid) {
		if e.What == "application error" {
			codes = append(codes, e.Detail["error_code"])
		}
	}
	assert.Equal(t, []string{"11200"}, codes)
	assert.Contains(t, h.timeline(sid), "webhook dropped (fault): twiml")
}

// TestWebhookDropIsSeededAndDeterministic: the same seed loses the same webhooks.
func TestWebhookDropIsSeededAndDeterministic(t *testing.T) {
	run := func(seed int64) []string {
		h := newHarness(t)
		h.app.twiml("/answer", `<Response><Say>hi</Say></Response>`)
		h.engine.SetWebhookFaults(WebhookFaults{Seed: seed, Drop: 0.5, Kinds: []string{HookStatus}})
		h.createCall(agentPhone, allEvents(h))
		h.advance(time.Minute)
		require.Len(t, h.app.hitsTo("/answer"), 1, "only status callbacks are dropped")
		return statuses(h.app.hitsTo("/status"))
	}
	first := run(42)
	assert.Equal(t, first, run(42))
	assert.Less(t, len(first), 4, "seed 42 drops some of the four callbacks")
	assert.NotEmpty(t, first, "and delivers some")
}

func TestWebhookFaultsDuplicateReorderDelay(t *testing.T) {
	t.Run("duplicate", func(t *testing.T) {
		h := newHarness(t)
		h.app.twiml("/answer", `<Response><Say>hi</Say></Response>`)
		h.engine.SetWebhookFaults(WebhookFaults{Duplicate: true, Kinds: []string{HookStatus}})
		h.createCall(agentPhone, allEvents(h))
		h.advance(time.Minute)
		assert.Equal(t, []string{"initiated", "initiated", "ringing", "ringing", "in-progress", "in-progress", "completed", "completed"},
			statuses(h.app.hitsTo("/status")))
		assert.Len(t, h.app.hitsTo("/answer"), 1)
	})
	t.Run("reorder swaps adjacent status callbacks", func(t *testing.T) {
		h := newHarness(t)
		h.app.twiml("/answer", `<Response><Say>hi</Say></Response>`)
		h.engine.SetWebhookFaults(WebhookFaults{Reorder: true})
		h.createCall(agentPhone, allEvents(h))
		h.advance(time.Minute)
		hits := h.app.hitsTo("/status")
		assert.Equal(t, []string{"ringing", "initiated", "completed", "in-progress"}, statuses(hits))
		var seq []string
		for _, hit := range hits {
			seq = append(seq, hit.Form.Get("SequenceNumber"))
		}
		assert.Equal(t, []string{"1", "0", "3", "2"}, seq, "SequenceNumber lets the application restore the order")
	})
	t.Run("delay holds each webhook in real time", func(t *testing.T) {
		h := newHarness(t)
		h.app.twiml("/answer", `<Response><Hangup/></Response>`)
		h.engine.SetWebhookFaults(WebhookFaults{Delay: 30 * time.Millisecond, Kinds: []string{HookStatus}})
		start := time.Now()
		h.createCall(agentPhone, func(p *openapi.CreateCallParams) { p.SetStatusCallback(h.app.url("/status")) })
		h.advance(10 * time.Second)
		assert.Len(t, h.app.hitsTo("/status"), 1)
		assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)
	})
}

// TestDroppedDialActionIsAnApplicationError: the Dial action is a TwiML fetch like the Url; a
// drop limited to dial-action leaves the Url and the status callbacks alone.
func TestDroppedDialActionIsAnApplicationError(t *testing.T) {
	h := newHarness(t)
	other := "+15550007777"
	h.engine.SetPersona(other, Human(time.Second, 3*time.Second))
	h.app.twiml("/answer", `<Response><Dial action="/dialed"><Number>`+other+`</Number></Dial></Response>`)
	h.app.twiml("/dialed", `<Response><Say>never heard</Say></Response>`)
	h.engine.SetWebhookFaults(WebhookFaults{Drop: 1, Kinds: []string{HookDialAction}})
	sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) { p.SetStatusCallback(h.app.url("/status")) })
	h.advance(2*time.Second + 4*time.Second) // answered at 2 s, the child leg talks 1 s + 3 s
	assert.Contains(t, h.timeline(sid), "webhook dropped (fault): dial-action")
	assert.Equal(t, "in-progress", h.call(sid).Status, "waiting for the action's answer")
	h.advance(15 * time.Second)
	assert.Equal(t, "completed", h.call(sid).Status)
	assert.Contains(t, h.timeline(sid), "application error")
	assert.Empty(t, h.app.hitsTo("/dialed"))
	assert.Len(t, h.app.hitsTo("/answer"), 1)
	assert.Len(t, h.app.hitsTo("/status"), 1)
}
