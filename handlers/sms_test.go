package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/caller"
	"queuebridge/handlers"
	"queuebridge/internal/testkit"
	"queuebridge/sandbox/twiliosig"
)

// smsRow claims an SMS to the caller and records its message SID, as the sender does.
func smsRow(t *testing.T, h *harness, to string) string {
	t.Helper()
	msg := testkit.SID("SM")
	now := time.Now().UTC().Truncate(time.Millisecond)
	day := caller.Day(now, nil)
	c, err := h.db.ClaimSMS(t.Context(), caller.SMS{To: to, Day: day, From: ourNumber, Reason: caller.SMSVoicemail,
		CallSID: testkit.SID("CA"), Status: caller.SMSClaimed, CreatedAt: now, UpdatedAt: now})
	require.NoError(t, err)
	require.Equal(t, caller.Claimed, c)
	require.NoError(t, h.db.RecordSMS(t.Context(), to, day, msg, "queued", 0, now))
	return msg
}

func smsForm(msg, status, code, to string) url.Values {
	f := url.Values{"MessageSid": {msg}, "SmsSid": {msg}, "MessageStatus": {status}, "SmsStatus": {status},
		"AccountSid": {accountSID}, "From": {ourNumber}, "To": {to}, "ApiVersion": {"2010-04-01"}}
	if code != "" {
		f.Set("ErrorCode", code)
	}
	return f
}

func listedSMS(t *testing.T, h *harness) []caller.SMS {
	t.Helper()
	list, err := h.db.ListSMS(t.Context(), 10)
	require.NoError(t, err)
	return list
}

// The SMS status callback is signed like every webhook: a bad signature is a 403 and changes
// nothing; the signed callback stores the status, and an undelivered 30006 remembers the number.
func TestSMSStatusCallback(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	msg := smsRow(t, h, callerNumber)
	target := handlers.PathSMSStatus
	form := smsForm(msg, "undelivered", "30006", callerNumber)
	for _, bad := range []string{"", twiliosig.Sign("another-token", publicBase+target, form), twiliosig.Sign(authToken, publicBase+target+"?x=1", form)} {
		status, _ := h.hooks.PostSigned(t, target, form, bad)
		assert.Equal(t, http.StatusForbidden, status)
	}
	assert.Equal(t, "queued", listedSMS(t, h)[0].Status, "a refused callback changes nothing")
	claim := func() caller.Claim {
		c, err := h.db.ClaimSMS(t.Context(), caller.SMS{To: callerNumber, Day: "2099-01-01", From: ourNumber, Status: caller.SMSClaimed})
		require.NoError(t, err)
		return c
	}

	status, body := h.post(target, smsForm(msg, "sent", "", callerNumber))
	assert.Equal(t, http.StatusNoContent, status, body)
	assert.Equal(t, "sent", listedSMS(t, h)[0].Status)
	status, body = h.post(target, form)
	assert.Equal(t, http.StatusNoContent, status, body)
	row := listedSMS(t, h)[0]
	assert.Equal(t, "undelivered", row.Status)
	assert.Equal(t, 30006, row.ErrorCode)
	assert.Equal(t, caller.KnownUnreachable, claim(), "a landline that could not take the SMS is remembered")

	status, _ = h.post(target, smsForm(testkit.SID("SM"), "delivered", "", "+15550109999"))
	assert.Equal(t, http.StatusNoContent, status, "a message this bridge did not send is acknowledged")
}

func TestSMSStatusCallbackRefusesBadInput(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	msg := smsRow(t, h, callerNumber)
	for _, tc := range []struct{ param, value string }{
		{"MessageSid", ""}, {"MessageSid", "CA" + msg[2:]}, {"MessageSid", "SM12"},
		{"MessageStatus", ""}, {"MessageStatus", "vanished"}, {"ErrorCode", "x"},
	} {
		form := smsForm(msg, "delivered", "", callerNumber)
		form.Set(tc.param, tc.value)
		status, body := h.post(handlers.PathSMSStatus, form)
		assert.Equal(t, http.StatusBadRequest, status, "%s=%q: %s", tc.param, tc.value, body)
	}
	assert.Equal(t, "queued", listedSMS(t, h)[0].Status, "nothing changed")
}

// GET /sms lists the SMS afterwards to the operator only.
func TestSMSListNeedsTheOperatorToken(t *testing.T) {
	const token = "s3cret-operator-token"
	h := newHarness(t, withoutDispatcher(), withOperatorToken(token))
	msg := smsRow(t, h, callerNumber)
	get := func(auth string) (int, []caller.SMS) {
		req, err := http.NewRequest(http.MethodGet, h.srv.URL+handlers.PathSMS, nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out struct {
			SMS []caller.SMS `json:"sms"`
		}
		if resp.StatusCode == http.StatusOK {
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		}
		return resp.StatusCode, out.SMS
	}
	status, list := get("")
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Empty(t, list)
	status, list = get("Bearer " + token)
	require.Equal(t, http.StatusOK, status)
	require.Len(t, list, 1)
	assert.Equal(t, msg, list[0].MessageSID)
	assert.Equal(t, callerNumber, list[0].To)
	assert.Equal(t, ourNumber, list[0].From)
}
