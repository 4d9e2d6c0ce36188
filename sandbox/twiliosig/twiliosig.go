// Package twiliosig signs requests the way Twilio signs its webhooks, for programs and tests
// that play Twilio against an application (the load generator, the bridge's tests).
package twiliosig

import (
	"net/url"

	"queuebridge/sandbox/internal/twilioapi"
)

// Sign returns the X-Twilio-Signature Twilio would send for a form POST of params to rawURL.
func Sign(authToken, rawURL string, params url.Values) string {
	return twilioapi.Sign(authToken, rawURL, params)
}
