package handlers

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/twilio/twilio-go/client"

	"queuebridge/sandbox/twiliosig"
)

// The signer must accept exactly what twilio-go's RequestValidator accepts.
func TestSignerAgreesWithTwilioGo(t *testing.T) {
	const token = "0123456789abcdef0123456789abcdef"
	form := url.Values{"CallSid": {"CA00000000000000000000000000000001"}, "AnsweredBy": {"human"},
		"Empty": {""}, "Unicode": {"José & ünïcode"}}
	validator := client.NewRequestValidator(token)
	accepted := 0
	for _, base := range []string{"https://bridge.example.com", "https://bridge.example.com:443", "https://bridge.example.com:8443",
		"http://127.0.0.1:8080", "http://localhost", "https://bridge.example.com/prefix"} {
		s := newSigner(token, base)
		for _, signedBase := range []string{base, "https://bridge.example.com", "https://bridge.example.com:443",
			"http://127.0.0.1:8080", "http://127.0.0.1", "http://localhost:80", "https://bridge.example.com:8443", "https://other.example.com"} {
			for _, uri := range []string{"/dial-queue?reservation=WR1&task=WT1", "/taskrouter/events", "/status-callback?reservation=WR%201"} {
				for _, sig := range []string{twiliosig.Sign(token, signedBase+uri, form), "", "bm90IGEgc2lnbmF0dXJl"} {
					params := map[string]string{}
					for k, v := range form {
						params[k] = v[0]
					}
					want := validator.Validate(base+uri, params, sig)
					if want {
						accepted++
					}
					assert.Equal(t, want, s.valid(uri, form, sig), "base %s, signed for %s%s, sig %q", base, signedBase, uri, sig)
				}
			}
		}
	}
	assert.Greater(t, accepted, 20, "the cases include valid signatures")
}
