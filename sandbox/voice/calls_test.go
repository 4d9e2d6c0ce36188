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

// TestCancelDoesNotAffectInProgressCallAndCompletedHangsUp follows the Calls resource's Status
// parameter: "Specifying canceled will attempt to hang up calls that are queued or ringing;
// however, it will not affect calls already in progress. Specifying completed will attempt to
// hang up a call even if it's already in progress." The HTTP answer to the first is not
// documented: 200 with the call unchanged by default, 21220 with SetCancelInProgress(true).
func TestCancelDoesNotAffectInProgressCallAndCompletedHangsUp(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(map[bool]string{false: "default: 200 unchanged", true: "option: 21220"}[refuse], func(t *testing.T) {
			h := newHarness(t)
			h.engine.SetCancelInProgress(refuse)
			h.app.twiml("/answer", `<Response><Pause length="60"/><Say>too late</Say></Response>`)
			sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) {
				p.SetStatusCallback(h.app.url("/status"))
			})
			h.advance(5 * time.Second)
			require.Equal(t, "in-progress", h.call(sid).Status)

			resp, err := h.api.UpdateCall(sid, (&openapi.UpdateCallParams{}).SetStatus("canceled"))
			if refuse {
				var te *client.TwilioRestError
				require.ErrorAs(t, err, &te)
				assert.Equal(t, 21220, te.Code)
				assert.Equal(t, http.StatusBadRequest, te.Status)
			} else {
				require.NoError(t, err)
				assert.Equal(t, "in-progress", *resp.Status, "canceled does not affect a call in progress")
			}
			h.advance(time.Second)
			require.Equal(t, "in-progress", h.call(sid).Status)

			resp, err = h.api.UpdateCall(sid, (&openapi.UpdateCallParams{}).SetStatus("completed"))
			require.NoError(t, err)
			assert.Equal(t, "completed", *resp.Status)
			h.advance(time.Minute)
			info := h.call(sid)
			assert.Equal(t, "completed", info.Status)
			assert.Equal(t, 4*time.Second, info.Duration, "answered at 2 s, hung up at 6 s")
			assert.NotContains(t, h.timeline(sid), "twiml: Say", "the TwiML stops with the call")
			assert.Equal(t, []string{"completed"}, statuses(h.app.hitsTo("/status")))
			assert.Equal(t, "4", h.app.hitsTo("/status")[0].Form.Get("CallDuration"))
		})
	}
}

// TestCreateRefusesFromNeitherOwnedNorVerified follows error 21210: the From of Calls.create
// must be a Twilio number of the account or a verified outgoing caller ID ("not a Twilio
// number or not a verified caller ID"); Twilio's API answers parameter errors with 400.
func TestCreateRefusesFromNeitherOwnedNorVerified(t *testing.T) {
	h := newHarness(t)
	owned := "+15559990001"
	h.engine.SeedNumber(owned, "")
	create := func(from string) (*openapi.ApiV2010Call, error) {
		p := &openapi.CreateCallParams{}
		p.SetTo(agentPhone).SetFrom(from).SetUrl(h.app.url("/answer"))
		return h.api.CreateCall(p)
	}
	_, err := create(callerPhone)
	var te *client.TwilioRestError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 21210, te.Code)
	assert.Equal(t, http.StatusBadRequest, te.Status)
	assert.Contains(t, te.Message, callerPhone)
	assert.Empty(t, h.engine.Calls(), "a refused call is never created")

	for _, from := range []string{owned, ourNumber} {
		c, err := create(from)
		require.NoError(t, err, "From %s is owned or verified", from)
		assert.Equal(t, from, *c.From)
	}
	h.engine.VerifyCallerID(callerPhone)
	_, err = create(callerPhone)
	require.NoError(t, err, "verified now")

	// OutgoingCallerIds, filtered by PhoneNumber, lets an application check at start-up.
	ids, err := h.api.ListOutgoingCallerId((&openapi.ListOutgoingCallerIdParams{}).SetPhoneNumber(callerPhone))
	require.NoError(t, err)
	require.Len(t, ids, 1)
	assert.Equal(t, callerPhone, *ids[0].PhoneNumber)
	ids, err = h.api.ListOutgoingCallerId((&openapi.ListOutgoingCallerIdParams{}).SetPhoneNumber(agentPhone))
	require.NoError(t, err)
	assert.Empty(t, ids)
	all, err := h.api.ListOutgoingCallerId(nil)
	require.NoError(t, err)
	assert.Len(t, all, 2)
	nums, err := h.api.ListIncomingPhoneNumber((&openapi.ListIncomingPhoneNumberParams{}).SetPhoneNumber(owned))
	require.NoError(t, err)
	require.Len(t, nums, 1)
	nums, err = h.api.ListIncomingPhoneNumber((&openapi.ListIncomingPhoneNumberParams{}).SetPhoneNumber(ourNumber))
	require.NoError(t, err)
	assert.Empty(t, nums, "a verified caller ID is not one of the account's numbers")
	h.settle()
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
