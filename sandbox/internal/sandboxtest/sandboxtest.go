// Package sandboxtest holds what the sandbox's tests share: the test account, the real
// twilio-go client pointed at an engine (through the transport that checks every answer
// against Twilio's OpenAPI description), raw authenticated requests, the signature check an
// application makes on the sandbox's webhooks, and made-up SIDs. Only tests import it.
package sandboxtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"

	"queuebridge/sandbox/internal/oaicheck"
)

// The test account. Its auth token also signs the webhooks of engines configured with it.
const (
	Account = "AC0123456789abcdef0123456789abcdef"
	Token   = "0123456789abcdef0123456789abcdef"
)

// How long a test waits for asynchronous work at most, polling every Tick (require.Eventually).
const (
	Wait = 10 * time.Second
	Tick = 2 * time.Millisecond
)

// Client is twilio-go as the test account, sending every request to serverURL; the returned
// transport has checked each answer against Twilio's OpenAPI description.
func Client(t testing.TB, serverURL string) (*twilio.RestClient, *oaicheck.Transport) {
	t.Helper()
	checker, err := oaicheck.Load()
	require.NoError(t, err)
	check := &oaicheck.Transport{Base: Rewrite(t, serverURL), Checker: checker}
	return ClientVia(check, Account, Token, Account), check
}

// ClientVia is twilio-go for account with other credentials (the account's SID and token, or an
// API key and its secret), sending through rt.
func ClientVia(rt http.RoundTripper, user, password, account string) *twilio.RestClient {
	c := &client.Client{Credentials: client.NewCredentials(user, password), HTTPClient: &http.Client{Transport: rt}}
	c.SetAccountSid(account)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
}

// Rewrite sends twilio-go's requests, addressed to Twilio's hosts, to serverURL unchecked.
func Rewrite(t testing.TB, serverURL string) oaicheck.Rewrite {
	t.Helper()
	target, err := url.Parse(serverURL)
	require.NoError(t, err)
	return oaicheck.Rewrite{Target: target}
}

// GetJSON GETs rawURL as the test account and decodes the JSON answer into body.
func GetJSON(t testing.TB, rawURL string, body any) (status int) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	require.NoError(t, err)
	req.SetBasicAuth(Account, Token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(body))
	return resp.StatusCode
}

// SignedForm reads a webhook the sandbox sent to an application at base (scheme://host, as
// the sandbox addressed it): its parameters (the query of a GET) and whether its
// X-Twilio-Signature verifies with token under twilio-go's RequestValidator.
func SignedForm(r *http.Request, base, token string) (form url.Values, valid bool) {
	body, _ := io.ReadAll(r.Body)
	form, _ = url.ParseQuery(string(body))
	signed := map[string]string{}
	if r.Method == http.MethodGet {
		form = r.URL.Query()
	} else {
		for k := range form {
			signed[k] = form.Get(k)
		}
	}
	validator := client.NewRequestValidator(token)
	return form, validator.Validate(base+r.URL.RequestURI(), signed, r.Header.Get("X-Twilio-Signature"))
}

// SID is a made-up SID with Twilio's shape: prefix and n in 32 digits.
func SID(prefix string, n int) string { return fmt.Sprintf("%s%032d", prefix, n) }
