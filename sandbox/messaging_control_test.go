package sandbox_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"queuebridge/sandbox"
	"queuebridge/sandbox/internal/sandboxtest"
)

// The messaging control routes change what a create meets: a landline is refused (21635) until
// landline delivery is attempted; an opted-out pair is refused (21610). Bad settings are 400s.
func TestMessagingControlRoutes(t *testing.T) {
	sb := startSandbox(t)
	account, token := sb.Credentials()
	rest := sandboxtest.ClientVia(sandboxtest.Rewrite(t, sb.URL()), account, token, account)
	code := func(to string) int {
		_, err := rest.Api.CreateMessage((&openapi.CreateMessageParams{}).SetFrom(sandbox.DefaultNumber).SetTo(to).SetBody("hi"))
		if err == nil {
			return 0
		}
		te, ok := err.(*client.TwilioRestError)
		if !ok {
			return -1
		}
		return te.Code
	}
	for _, bad := range []struct{ method, path, body string }{
		{http.MethodPut, "/sandbox/messaging/numbers/%2B15550100001", `{"line_type":"fax"}`},
		{http.MethodPut, "/sandbox/messaging/numbers/nope", `{"line_type":"landline"}`},
		{http.MethodPut, "/sandbox/messaging/options", `{"landline":"maybe"}`},
		{http.MethodPut, "/sandbox/messaging/opt-outs", `{"from":"+15005550006","to":"+15550100001"}`},
	} {
		status, _ := control(t, sb, bad.method, bad.path, bad.body, true)
		assert.Equal(t, http.StatusBadRequest, status, "%s %s", bad.path, bad.body)
	}
	status, _ := control(t, sb, http.MethodPut, "/sandbox/messaging/numbers/%2B15550100001", `{"line_type":"landline"}`, true)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 21635, code("+15550100001"))
	status, _ = control(t, sb, http.MethodPut, "/sandbox/messaging/options", `{"landline":"attempt"}`, true)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 0, code("+15550100001"))
	status, _ = control(t, sb, http.MethodPut, "/sandbox/messaging/opt-outs", `{"from":"+15005550006","to":"+15550100002","opted_out":true}`, true)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, 21610, code("+15550100002"))
	status, body := control(t, sb, http.MethodGet, "/sandbox/messages", "", true)
	assert.Equal(t, http.StatusOK, status)
	assert.Len(t, body["messages"], 1)
	status, _ = control(t, sb, http.MethodPut, "/sandbox/messaging/options", `{"landline":"attempt"}`, false)
	assert.Equal(t, http.StatusUnauthorized, status)
}
