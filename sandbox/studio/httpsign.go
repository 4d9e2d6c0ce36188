package studio

import (
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"net/http"
	"net/url"

	"queuebridge/sandbox/internal/twilioapi"
)

// signHTTPRequest signs a Make HTTP Request widget's request as Twilio signs its webhooks, so
// the application can check it came from the account (Twilio support, "Twilio Signature
// Validation Program Examples for JSON Content", validates exactly these requests): a form
// body over the URL and its parameters; a GET over the URL with its query; any other body (JSON)
// over the URL, to which bodySHA256 (hex SHA-256 of the body) is added first, u is changed.
func (e *Engine) signHTTPRequest(u *url.URL, method, contentType, body string) string {
	token := e.cfg.Credentials.AuthToken
	if method == http.MethodGet || method == http.MethodDelete {
		return twilioapi.Sign(token, u.String(), nil)
	}
	if mt, _, _ := mime.ParseMediaType(contentType); mt == "application/x-www-form-urlencoded" {
		form, err := url.ParseQuery(body)
		if err == nil {
			return twilioapi.Sign(token, u.String(), form)
		}
	}
	sum := sha256.Sum256([]byte(body))
	q := u.Query()
	q.Set("bodySHA256", hex.EncodeToString(sum[:]))
	u.RawQuery = q.Encode()
	return twilioapi.Sign(token, u.String(), nil)
}
