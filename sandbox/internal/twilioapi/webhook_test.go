package twilioapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"
)

func TestSignMatchesTwilioTestVector(t *testing.T) {
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"},
	}
	got := Sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params)
	assert.Equal(t, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", got)
}

func TestSentWebhooksValidateWithTwilioGo(t *testing.T) {
	var sig, rawURL string
	var form url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ = url.ParseQuery(string(body))
		sig = r.Header.Get("X-Twilio-Signature")
		rawURL = "http://" + r.Host + r.URL.RequestURI()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	wh := Webhooks{AuthToken: "tok"}
	resp, err := wh.Send(context.Background(), "", srv.URL+"/x?reservation=WR1", url.Values{"A": {"1"}, "B": {"2"}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, resp.Status)
	flat := map[string]string{}
	for k := range form {
		flat[k] = form.Get(k)
	}
	rv := client.NewRequestValidator("tok")
	assert.True(t, rv.Validate(rawURL, flat, sig))
	other := client.NewRequestValidator("other")
	assert.False(t, other.Validate(rawURL, flat, sig))
}
