package handlers

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
)

// TestTwilioSignatureTestVector checks the signature check against Twilio's published vector.
func TestTwilioSignatureTestVector(t *testing.T) {
	s := &server{Config: Config{MaxBody: 1 << 16}, signer: newSigner("12345", "https://mycompany.com")}
	form := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"}}
	for sig, ok := range map[string]bool{"0/KCTR6DLpKmkAf8muzZqo1nDgQ=": true, "1/KCTR6DLpKmkAf8muzZqo1nDgQ=": false} {
		req := httptest.NewRequest(http.MethodPost, "/myapp.php?foo=1&bar=2", strings.NewReader(form.Encode()))
		req.Header.Set("X-Twilio-Signature", sig)
		c := echo.New().NewContext(req, httptest.NewRecorder())
		_, err := s.verified(c)
		assert.Equal(t, ok, err == nil, sig)
	}
}

// The whole signature is compared: one character changed anywhere, a prefix, or anything
// appended is refused.
func TestSignerComparesTheWholeSignature(t *testing.T) {
	const token, base, uri = "12345", "https://mycompany.com", "/myapp.php?foo=1&bar=2"
	form := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"}}
	s := newSigner(token, base)
	const good = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
	assert.True(t, s.valid(uri, form, good))
	for i := range len(good) {
		for _, c := range []byte{'A', 'z', '+', '='} {
			if good[i] == c {
				continue
			}
			bad := good[:i] + string(c) + good[i+1:]
			assert.False(t, s.valid(uri, form, bad), "character %d changed: %s", i, bad)
		}
		assert.False(t, s.valid(uri, form, good[:i]), "a prefix of %d characters", i)
	}
	assert.False(t, s.valid(uri, form, good+"A"), "a character appended")
}
