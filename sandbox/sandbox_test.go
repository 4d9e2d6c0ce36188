package sandbox_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	api "github.com/twilio/twilio-go/rest/api/v2010"

	"queuebridge/sandbox"
	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/sandboxtest"
)

func TestNewRefusesCredentialsTwilioWouldRefuse(t *testing.T) {
	_, err := sandbox.New(sandbox.Config{AccountSID: "AC123"})
	assert.ErrorContains(t, err, "32 hex digits")
	_, err = sandbox.New(sandbox.Config{AuthToken: "not-alnum!"})
	assert.ErrorContains(t, err, "letters and digits")

	sb, err := sandbox.New(sandbox.Config{})
	require.NoError(t, err)
	ac, token := sb.Credentials()
	assert.Equal(t, sandbox.DefaultAccountSID, ac)
	assert.Equal(t, sandbox.DefaultAuthToken, token)
	assert.Empty(t, sb.URL(), "no URL before Start")
	require.NoError(t, sb.Close(), "closing a sandbox that never started")
}

func TestStartListensOnceAndNotAfterClose(t *testing.T) {
	sb, err := sandbox.New(sandbox.Config{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	require.NoError(t, sb.Start())
	assert.Regexp(t, `^http://127\.0\.0\.1:\d+$`, sb.URL())
	assert.ErrorContains(t, sb.Start(), "already started")
	require.NoError(t, sb.Close())
	require.NoError(t, sb.Close(), "Close twice is harmless")
	_, err = http.Get(sb.URL() + "/sandbox/")
	assert.Error(t, err, "the server is gone")

	taken, err := sandbox.New(sandbox.Config{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	require.NoError(t, taken.Close())
	assert.ErrorContains(t, taken.Start(), "after close")
}

func TestPlaceCallRefusesBadNumbers(t *testing.T) {
	sb := startSandbox(t)
	_, err := sb.PlaceCall(context.Background(), "alice", sandbox.DefaultNumber)
	assert.ErrorContains(t, err, "E.164")
	_, err = sb.PlaceCall(context.Background(), "+15551230001", "+15005559999")
	assert.ErrorContains(t, err, "not one of the sandbox's phone numbers")
}

// A number whose TwiML keeps the caller on the line: Close must still end the call.
func TestCloseHangsUpCallsStillGoing(t *testing.T) {
	sb, err := sandbox.New(sandbox.Config{Clock: clock.NewScaled(speed)})
	require.NoError(t, err)
	require.NoError(t, sb.Start())
	hold := holdMusic(t)
	rc := restClient(t, sb)
	pn := sb.SeedNumber(sandbox.DefaultNumber, "")
	_, err = rc.Api.UpdateIncomingPhoneNumber(pn, (&api.UpdateIncomingPhoneNumberParams{}).SetVoiceUrl(hold))
	require.NoError(t, err)

	entries := make(chan sandbox.Entry, 1000)
	sb.Subscribe(entries)
	callSid, err := sb.PlaceCall(context.Background(), "+15551230001", sandbox.DefaultNumber)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		c, _ := sb.Voice().Call(callSid)
		return c.Status == "in-progress"
	}, sandboxtest.Wait, sandboxtest.Tick, "waiting for %s", "the caller to be in progress")
	require.NoError(t, sb.Close())
	c, _ := sb.Voice().Call(callSid)
	assert.Equal(t, "completed", c.Status)

	// Subscribers saw the call as it happened.
	var seen []string
	for len(entries) > 0 {
		e := <-entries
		if e.Sid == callSid {
			seen = append(seen, e.What)
		}
	}
	assert.Contains(t, seen, "status: in-progress")
	assert.Contains(t, seen, "status: completed")
}

// holdMusic serves TwiML that pauses for an hour and returns its URL.
func holdMusic(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		_, _ = w.Write([]byte(`<Response><Pause length="3600"/></Response>`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}
