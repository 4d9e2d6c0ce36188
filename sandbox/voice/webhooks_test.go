package voice

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// TestTwiMLFetchHonoursConnectionOverrides: the Voice Url is one of the webhooks the connection
// overrides apply to (https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides).
// By default a 503 is not retried and the call gets an application error; with #rp=5xx it is
// retried once and the TwiML runs. The fragment is neither requested nor signed (the harness
// checks every signature against the URL the app saw).
func TestTwiMLFetchHonoursConnectionOverrides(t *testing.T) {
	for _, tt := range []struct {
		name, fragment string
		wantHits       int
		wantSay        bool
	}{
		{"default: a 5xx is not retried", "", 1, false},
		{"rp=5xx: retried once", "#rp=5xx", 2, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.app.twiml("/answer", `<Response><Say>hello</Say></Response>`)
			h.app.failNext("/answer", 1, http.StatusServiceUnavailable)
			sid := h.createCall(agentPhone, func(p *openapi.CreateCallParams) { p.SetUrl(h.app.url("/answer") + tt.fragment) })
			h.advance(10 * time.Second)
			require.Len(t, h.app.hitsTo("/answer"), tt.wantHits)
			if tt.wantSay {
				assert.Contains(t, h.timeline(sid), "twiml: Say")
			} else {
				assert.Contains(t, h.timeline(sid), "application error")
			}
			assert.Equal(t, "completed", h.call(sid).Status)
		})
	}
}
