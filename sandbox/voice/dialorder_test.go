package voice

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// TestCallsAreDialedInTheOrderTheyWereCreated: beyond the account's calls per second Twilio
// queues outbound calls; the slot is taken when the API accepts the call, so calls created
// back to back are dialed in that order, and each create answers with its queue_time.
func TestCallsAreDialedInTheOrderTheyWereCreated(t *testing.T) {
	h := newHarness(t)
	h.engine.SetPersona(agentPhone, NoAnswer())
	var sids []string
	for i := range 4 {
		p := &openapi.CreateCallParams{}
		p.SetTo(agentPhone).SetFrom(ourNumber).SetUrl(h.app.url("/answer"))
		c, err := h.api.CreateCall(p) // back to back: no settling in between
		require.NoError(t, err)
		require.NotNil(t, c.QueueTime)
		assert.Equal(t, []string{"0", "1000", "2000", "3000"}[i], *c.QueueTime, "call %d", i)
		sids = append(sids, *c.Sid)
	}
	h.settle()
	for i := range sids {
		for j, other := range sids {
			want := "queued"
			if j <= i {
				want = "ringing"
			}
			assert.Equal(t, want, h.call(other).Status, "after %d s, call %d", i, j)
		}
		h.advance(time.Second)
	}
}
