package handlers_test

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/store/postgres/pgtest"
	"queuebridge/taskrouter"
)

// Twilio retries /dial-queue for a reservation already decided (the same CallSid): the bridge
// answers it from a read (taskrouter's TestADecidedAnswerIsReadNotWritten counts the writes),
// and the answer is the first one's TwiML (parsed: twilio-go orders attributes as it likes), on
// either store.
func TestARetriedAnswerGetsTheSameTwiML(t *testing.T) {
	stores := map[string]func(t *testing.T) []harnessOption{
		"SQLite":     func(*testing.T) []harnessOption { return nil },
		"PostgreSQL": func(t *testing.T) []harnessOption { return []harnessOption{withDB(pgtest.Schema(t))} },
	}
	for name, opts := range stores {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, opts(t)...)
			for _, by := range []string{"human", "machine_start"} {
				r := newRes()
				h.sendEvent("reservation.created", r)
				call := h.waitCall(r)
				form := url.Values{"CallSid": {call}, "AccountSid": {accountSID}, "CallStatus": {"in-progress"},
					"Direction": {"outbound-api"}, "AnsweredBy": {by}, "MachineDetectionDuration": {"1800"}}
				status, first := h.post(dialQueuePath(r), form)
				require.Equal(t, http.StatusOK, status, first)
				decided := h.reservation(r)
				for range 3 {
					status, again := h.post(dialQueuePath(r), form)
					require.Equal(t, http.StatusOK, status, again)
					assert.Equal(t, parseTwiML(t, first), parseTwiML(t, again), "%s: the retry's TwiML is the first answer's", by)
				}
				assert.Equal(t, decided, h.reservation(r), "%s: the retries changed nothing", by)
				if by == "human" {
					assert.Equal(t, taskrouter.StateBridging, decided.State)
				} else {
					assert.Equal(t, taskrouter.StateRejected, decided.State)
				}
			}
			h.waitIdle()
			assert.Len(t, h.tw.Requests("update_reservation"), 1, "the machine's reservation rejected once")
		})
	}
}
