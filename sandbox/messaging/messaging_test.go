package messaging_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/oaicheck"
	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/sandbox/internal/twilioapi"
	"queuebridge/sandbox/messaging"
)

const (
	ours    = "+15005550006"
	mobile  = "+15550100001"
	fixed   = "+15550100002"
	stopped = "+15550100003"
)

// app is the application the status callbacks reach: it keeps each callback and whether its
// signature verified.
type app struct {
	mu        sync.Mutex
	callbacks []url.Values
	badSigs   int
	srv       *httptest.Server
}

func (a *app) received() []url.Values {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]url.Values(nil), a.callbacks...)
}

type rig struct {
	eng   *messaging.Engine
	clk   *clock.Manual
	rest  *twilio.RestClient
	check *oaicheck.Transport
	app   *app
	rec   *twilioapi.Recorder
}

func newRig(t *testing.T) *rig {
	r := &rig{clk: clock.NewManual(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)), app: &app{}, rec: &twilioapi.Recorder{}}
	r.app.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		form, ok := sandboxtest.SignedForm(req, r.app.srv.URL, sandboxtest.Token)
		r.app.mu.Lock()
		if ok {
			r.app.callbacks = append(r.app.callbacks, form)
		} else {
			r.app.badSigs++
		}
		r.app.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(r.app.srv.Close)
	r.eng = messaging.New(messaging.Config{
		Clock: r.clk, Credentials: twilioapi.Credentials{AccountSid: sandboxtest.Account, AuthToken: sandboxtest.Token},
		Webhooks: &twilioapi.Webhooks{AuthToken: sandboxtest.Token}, Recorder: r.rec,
		OwnsNumber: func(n string) bool { return n == ours },
	})
	srv := httptest.NewServer(r.eng.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(r.eng.Close)
	r.rest, r.check = sandboxtest.Client(t, srv.URL)
	r.eng.SetLineType(fixed, messaging.Landline)
	r.eng.SetOptedOut(ours, stopped, true)
	return r
}

func (r *rig) send(from, to string) (*openapi.ApiV2010Message, error) {
	return r.rest.Api.CreateMessage((&openapi.CreateMessageParams{}).SetFrom(from).SetTo(to).SetBody("Thanks for calling").
		SetStatusCallback(r.app.srv.URL + "/sms-status#rc=1"))
}

func twilioCode(t *testing.T, err error) int {
	t.Helper()
	var te *client.TwilioRestError
	require.True(t, errors.As(err, &te), "%v", err)
	assert.Equal(t, http.StatusBadRequest, te.Status)
	return te.Code
}

// A message to a mobile is created queued (the Message resource as the OpenAPI spec describes
// it), then sent and delivered on the sandbox clock, each with a signed status callback.
func TestAMessageIsQueuedSentAndDelivered(t *testing.T) {
	r := newRig(t)
	m, err := r.send(ours, mobile)
	require.NoError(t, err)
	require.NotNil(t, m.Sid)
	assert.Regexp(t, `^SM[0-9a-f]{32}$`, *m.Sid)
	assert.Equal(t, "queued", *m.Status)
	assert.Equal(t, ours, *m.From)
	assert.Equal(t, mobile, *m.To)
	assert.Equal(t, "Thanks for calling", *m.Body)
	assert.Equal(t, "outbound-api", *m.Direction)
	assert.Empty(t, r.app.received(), "nothing before the clock moves")

	r.clk.Advance(time.Second)
	require.Eventually(t, func() bool { return len(r.app.received()) == 1 }, sandboxtest.Wait, sandboxtest.Tick)
	r.clk.Advance(time.Second)
	require.Eventually(t, func() bool { return len(r.app.received()) == 2 }, sandboxtest.Wait, sandboxtest.Tick)
	cbs := r.app.received()
	for i, status := range []string{"sent", "delivered"} {
		assert.Equal(t, url.Values{"MessageSid": {*m.Sid}, "SmsSid": {*m.Sid}, "AccountSid": {sandboxtest.Account}, "From": {ours},
			"To": {mobile}, "MessageStatus": {status}, "SmsStatus": {status}, "ApiVersion": {"2010-04-01"}}, cbs[i])
	}
	assert.Zero(t, r.app.badSigs, "every callback signed")

	got, err := r.rest.Api.FetchMessage(*m.Sid, nil)
	require.NoError(t, err)
	assert.Equal(t, "delivered", *got.Status)
	assert.NotNil(t, got.DateSent)
	list, err := r.rest.Api.ListMessage((&openapi.ListMessageParams{}).SetTo(mobile))
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, *m.Sid, *list[0].Sid)
	assert.Empty(t, r.check.Failures(), "every answer matches the OpenAPI description")
	assert.Positive(t, r.check.Checked())
	assert.Len(t, r.eng.Messages(), 1)
}

// Creates Twilio refuses: a From the account does not own (21606), a recipient who replied
// STOP to that From (21610), a landline where Twilio does not attempt it (21635), a bad To.
// Nothing is created; each refusal is on the timeline.
func TestRefusedCreates(t *testing.T) {
	r := newRig(t)
	for _, tc := range []struct {
		name     string
		from, to string
		code     int
	}{
		{"from not ours", "+15550109999", mobile, 21606},
		{"opted out", ours, stopped, 21610},
		{"landline (reject)", ours, fixed, 21635},
		{"to not E.164", ours, "5551234", 21211},
	} {
		_, err := r.send(tc.from, tc.to)
		assert.Equal(t, tc.code, twilioCode(t, err), tc.name)
	}
	_, err := r.send(stopped, ours)
	assert.Equal(t, 21606, twilioCode(t, err), "the opt-out is of that sender only: here the From is not ours")
	assert.Empty(t, r.eng.Messages())
	refused := 0
	for _, e := range r.rec.Entries("") {
		if e.Kind == "message" && e.What == "create refused" {
			refused++
		}
	}
	assert.Equal(t, 5, refused)
	r.eng.SetOptedOut(ours, stopped, false) // START
	_, err = r.send(ours, stopped)
	assert.NoError(t, err)
}

// With landline delivery attempted (US, Canada, UK), the create is accepted and the message
// ends undelivered with 30006.
func TestAnAttemptedLandlineEndsUndelivered(t *testing.T) {
	r := newRig(t)
	r.eng.SetLandline(messaging.LandlineAttempt)
	m, err := r.send(ours, fixed)
	require.NoError(t, err)
	assert.Equal(t, "queued", *m.Status)
	r.clk.Advance(2 * time.Second)
	require.Eventually(t, func() bool { return len(r.app.received()) == 2 }, sandboxtest.Wait, sandboxtest.Tick)
	last := r.app.received()[1]
	assert.Equal(t, "undelivered", last.Get("MessageStatus"))
	assert.Equal(t, "30006", last.Get("ErrorCode"))
	got, err := r.rest.Api.FetchMessage(*m.Sid, nil)
	require.NoError(t, err)
	require.NotNil(t, got.ErrorCode)
	assert.Equal(t, 30006, *got.ErrorCode)
	assert.Empty(t, r.check.Failures())
}
