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

// apiAs is a twilio-go Api client with other credentials, through the same checked transport.
func apiAs(h *harness, account, token string) *openapi.ApiService {
	return sandboxtest.ClientVia(h.check, account, token, account).Api
}

func TestContractCallsThroughTwilioGo(t *testing.T) {
	h := newHarness(t)
	h.app.twiml("/answer", `<Response><Pause length="30"/></Response>`)
	h.engine.SetPersona("+15550004444", Busy())

	created, err := h.api.CreateCall((&openapi.CreateCallParams{}).
		SetTo(agentPhone).SetFrom(ourNumber).SetUrl(h.app.url("/answer")).SetMethod("POST").
		SetStatusCallback(h.app.url("/status")).SetStatusCallbackEvent([]string{"initiated", "answered", "completed"}).
		SetStatusCallbackMethod("POST").SetTimeout(30).SetMachineDetection("DetectMessageEnd").
		SetMachineDetectionTimeout(45).SetMachineDetectionSpeechThreshold(3000).
		SetMachineDetectionSpeechEndThreshold(1500).SetMachineDetectionSilenceTimeout(6000))
	require.NoError(t, err)
	assert.Equal(t, "queued", *created.Status)
	assert.Equal(t, "outbound-api", *created.Direction)
	assert.Equal(t, agentPhone, *created.To)
	assert.Equal(t, ourNumber, *created.From)
	assert.Equal(t, sandboxtest.Account, *created.AccountSid)
	assert.Equal(t, "2010-04-01", *created.ApiVersion)
	assert.Nil(t, created.StartTime)
	_, err = time.Parse(time.RFC1123Z, *created.DateCreated)
	assert.NoError(t, err, "dates are RFC 2822")
	h.settle()

	busy := h.createCall("+15550004444", nil)
	h.advance(2 * time.Second)

	fetched, err := h.api.FetchCall(*created.Sid, nil)
	require.NoError(t, err)
	assert.Equal(t, "in-progress", *fetched.Status)
	require.NotNil(t, fetched.StartTime)
	assert.Nil(t, fetched.EndTime)
	h.advance(3 * time.Second)
	fetched, err = h.api.FetchCall(*created.Sid, nil)
	require.NoError(t, err)
	assert.Equal(t, "human", *fetched.AnsweredBy, "1 s hello + 1.5 s speech end threshold")

	tests := []struct {
		name   string
		params *openapi.ListCallParams
		want   []string
	}{
		{"all, newest first", &openapi.ListCallParams{}, []string{busy, *created.Sid}},
		{"by To", (&openapi.ListCallParams{}).SetTo(agentPhone), []string{*created.Sid}},
		{"by From", (&openapi.ListCallParams{}).SetFrom(ourNumber), []string{busy, *created.Sid}},
		{"by Status", (&openapi.ListCallParams{}).SetStatus("busy"), []string{busy}},
		{"by StartTime after", (&openapi.ListCallParams{}).SetStartTimeAfter(h.clk.Now().Add(-time.Hour)), []string{busy, *created.Sid}},
		{"by StartTime before", (&openapi.ListCallParams{}).SetStartTimeBefore(h.clk.Now().Add(-time.Hour)), nil},
		{"by StartTime day", (&openapi.ListCallParams{}).SetStartTime(h.clk.Now()), []string{busy, *created.Sid}},
		{"paged one by one", (&openapi.ListCallParams{}).SetPageSize(1).SetLimit(5), []string{busy, *created.Sid}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls, err := h.api.ListCall(tt.params)
			require.NoError(t, err)
			var sids []string
			for _, c := range calls {
				sids = append(sids, *c.Sid)
			}
			assert.Equal(t, tt.want, sids)
		})
	}

	updated, err := h.api.UpdateCall(*created.Sid, (&openapi.UpdateCallParams{}).SetStatus("completed"))
	require.NoError(t, err)
	assert.Equal(t, "completed", *updated.Status)
	require.NotNil(t, updated.EndTime)
	assert.Equal(t, "3", *updated.Duration)
	h.settle()
	assert.Equal(t, []string{"initiated", "in-progress", "completed"}, statuses(h.app.hitsTo("/status")))
	assert.Greater(t, h.check.Checked(), 10)
}

func TestContractNumbersAndQueues(t *testing.T) {
	h := newHarness(t)
	sid := h.engine.SeedNumber(ourNumber, "support line")
	other := h.engine.SeedNumber("+15559990001", "")
	assert.Equal(t, sid, h.engine.SeedNumber(ourNumber, "again"), "seeding is idempotent")

	all, err := h.api.ListIncomingPhoneNumber(nil)
	require.NoError(t, err)
	require.Len(t, all, 2)
	byNumber, err := h.api.ListIncomingPhoneNumber((&openapi.ListIncomingPhoneNumberParams{}).SetPhoneNumber(ourNumber))
	require.NoError(t, err)
	require.Len(t, byNumber, 1)
	assert.Equal(t, sid, *byNumber[0].Sid)
	assert.Equal(t, "support line", *byNumber[0].FriendlyName)

	updated, err := h.api.UpdateIncomingPhoneNumber(sid, (&openapi.UpdateIncomingPhoneNumberParams{}).
		SetVoiceUrl("https://flows.example.com/FW1").SetVoiceMethod("GET").SetFriendlyName("IVR"))
	require.NoError(t, err)
	assert.Equal(t, "https://flows.example.com/FW1", *updated.VoiceUrl)
	assert.Equal(t, "GET", *updated.VoiceMethod)
	assert.Equal(t, "IVR", *updated.FriendlyName)
	fetched, err := h.api.FetchIncomingPhoneNumber(sid, nil)
	require.NoError(t, err)
	assert.Equal(t, "https://flows.example.com/FW1", *fetched.VoiceUrl)
	fetchedOther, err := h.api.FetchIncomingPhoneNumber(other, nil)
	require.NoError(t, err)
	assert.Equal(t, "+15559990001", *fetchedOther.PhoneNumber)

	queues, err := h.api.ListQueue(nil)
	require.NoError(t, err)
	assert.Empty(t, queues)
	qsid := h.engine.CreateQueue("support")
	q, err := h.api.FetchQueue(qsid, nil)
	require.NoError(t, err)
	assert.Equal(t, "support", *q.FriendlyName)
	assert.Greater(t, h.check.Checked(), 5)
}

func TestContractErrors(t *testing.T) {
	h := newHarness(t)
	h.engine.SeedNumber(ourNumber, "")
	create := func(set func(p *openapi.CreateCallParams)) error {
		p := &openapi.CreateCallParams{}
		p.SetTo(agentPhone).SetFrom(ourNumber).SetUrl("https://app.example.com/answer")
		set(p)
		_, err := h.api.CreateCall(p)
		return err
	}
	missing := func(name string) func(p *openapi.CreateCallParams) {
		return func(p *openapi.CreateCallParams) {
			switch name {
			case "To":
				p.To = nil
			case "From":
				p.From = nil
			case "Url":
				p.Url = nil
			}
		}
	}
	tests := []struct {
		name       string
		do         func() error
		wantStatus int
		wantCode   int
	}{
		{"missing To", func() error { return create(missing("To")) }, 400, 21201},
		{"missing From", func() error { return create(missing("From")) }, 400, 21213},
		{"missing Url", func() error { return create(missing("Url")) }, 400, 21205},
		{"invalid To", func() error { return create(func(p *openapi.CreateCallParams) { p.SetTo("555-1234") }) }, 400, 21211},
		{"invalid From", func() error { return create(func(p *openapi.CreateCallParams) { p.SetFrom("nobody") }) }, 400, 21212},
		{"invalid Url", func() error { return create(func(p *openapi.CreateCallParams) { p.SetUrl("not a url") }) }, 400, 21205},
		{"MachineDetectionTimeout out of range", func() error {
			return create(func(p *openapi.CreateCallParams) { p.SetMachineDetection("Enable").SetMachineDetectionTimeout(2) })
		}, 400, 20001},
		{"unknown MachineDetection", func() error { return create(func(p *openapi.CreateCallParams) { p.SetMachineDetection("Maybe") }) }, 400, 20001},
		{"unknown StatusCallbackEvent", func() error {
			return create(func(p *openapi.CreateCallParams) { p.SetStatusCallbackEvent([]string{"bridged"}) })
		}, 400, 20001},
		{"fetch unknown call", func() error { _, err := h.api.FetchCall("CA00000000000000000000000000000000", nil); return err }, 404, 20404},
		{"update unknown call", func() error {
			_, err := h.api.UpdateCall("CA00000000000000000000000000000000", (&openapi.UpdateCallParams{}).SetStatus("completed"))
			return err
		}, 404, 20404},
		{"update with an unknown status", func() error {
			_, err := h.api.UpdateCall("CA00000000000000000000000000000000", (&openapi.UpdateCallParams{}).SetStatus("paused"))
			return err
		}, 400, 20001},
		{"fetch unknown number", func() error {
			_, err := h.api.FetchIncomingPhoneNumber("PN00000000000000000000000000000000", nil)
			return err
		}, 404, 20404},
		{"update number with a bad VoiceUrl", func() error {
			_, err := h.api.UpdateIncomingPhoneNumber("PN00000000000000000000000000000000", (&openapi.UpdateIncomingPhoneNumberParams{}).SetVoiceUrl("ftp//x"))
			return err
		}, 400, 20001},
		{"fetch unknown queue", func() error { _, err := h.api.FetchQueue("QU00000000000000000000000000000000", nil); return err }, 404, 20404},
		{"list calls with a bad Status", func() error { _, err := h.api.ListCall((&openapi.ListCallParams{}).SetStatus("paused")); return err }, 400, 20001},
		{"wrong auth token", func() error {
			_, err := apiAs(h, sandboxtest.Account, "ffffffffffffffffffffffffffffffff").ListCall(nil)
			return err
		}, 401, 20003},
		{"another account in the path", func() error {
			_, err := apiAs(h, "ACffffffffffffffffffffffffffffffff", sandboxtest.Token).ListCall(nil)
			return err
		}, 401, 20003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			var te *client.TwilioRestError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.wantStatus, te.Status)
			assert.Equal(t, tt.wantCode, te.Code)
			assert.NotEmpty(t, te.Message)
			assert.Contains(t, te.MoreInfo, "twilio.com/docs/errors/")
		})
	}
	assert.Empty(t, h.engine.Calls(), "no failed request created a call")
}

func TestOtherAccountInPathIsNotFound(t *testing.T) {
	h := newHarness(t)
	var body struct {
		Code   int `json:"code"`
		Status int `json:"status"`
	}
	status := sandboxtest.GetJSON(t, h.server.URL+"/2010-04-01/Accounts/ACffffffffffffffffffffffffffffffff/Calls.json", &body)
	assert.Equal(t, http.StatusNotFound, status)
	assert.Equal(t, 20404, body.Code, "authenticated, but the path names an account that is not the sandbox's")
}
