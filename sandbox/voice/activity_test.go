package voice

import (
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestActivityCountsWorkInProgressAndWorkStarted: a discrete-event driver (scripts/simday) moves
// the clock only when nothing is in progress, and trusts that no work began while it looked
// elsewhere when the started count did not change.
func TestActivityCountsWorkInProgressAndWorkStarted(t *testing.T) {
	h := newHarness(t)
	busy, started := h.engine.Activity()
	assert.Zero(t, busy)
	assert.Zero(t, started, "a new engine has done nothing")

	entered, release := make(chan struct{}, 1), make(chan struct{})
	h.app.handle("/answer", func(url.Values) string {
		entered <- struct{}{}
		<-release
		return `<Response><Pause length="5"/></Response>`
	})
	h.engine.SetPersona(agentPhone, Human(time.Second, 0))
	h.createCall(agentPhone, nil)
	busy, afterCreate := h.engine.Activity()
	assert.Zero(t, busy, "a ringing call waits on the clock: nothing in progress")
	assert.NotZero(t, afterCreate, "creating the call started work")

	advanced := make(chan struct{})
	go func() {
		defer close(advanced)
		h.clk.Advance(time.Second) // the persona answers: the TwiML webhook goes out and blocks
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		close(release)
		require.FailNow(t, "the answer's TwiML was never requested")
	}
	busy, during := h.engine.Activity()
	assert.Positive(t, busy, "a webhook in flight is work in progress")
	assert.Greater(t, during, afterCreate, "the answer started work")
	close(release)
	<-advanced
	h.settle()

	busy, settled := h.engine.Activity()
	assert.Zero(t, busy, "the call pauses on the clock")
	assert.GreaterOrEqual(t, settled, during)
	h.settle()
	_, again := h.engine.Activity()
	assert.Equal(t, settled, again, "nothing starts while the clock stands still")
}
