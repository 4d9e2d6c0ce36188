package taskrouter

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// gate is an event callback that holds every request until released, then answers status.
type gate struct {
	url      string
	received atomic.Int64
	open     chan struct{}
	once     sync.Once
}

func newGate(t *testing.T, status int) *gate {
	t.Helper()
	g := &gate{open: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.received.Add(1)
		<-g.open
		w.WriteHeader(status)
	}))
	g.url = srv.URL + "/events"
	t.Cleanup(func() { g.release(); srv.Close() })
	return g
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

// gatedWorkflow sets up alice's queue and workflow with the events going to the sink, waits for
// them, then points the workspace's events at g.
func (h *harness) gatedWorkflow(g *gate) string {
	h.t.Helper()
	_, _, wf := h.aliceQueue("")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(h.t, h.engine.SettleEvents(ctx))
	_, err := h.tr.UpdateWorkspace(h.ws, (&trapi.UpdateWorkspaceParams{}).SetEventCallbackUrl(g.url))
	require.NoError(h.t, err)
	return wf
}

// TestEventsInFlightUntilAnswered: a driver that waits for quiescence (scripts/simday) must see
// an event as work in progress from the moment it is emitted until the application answered
// it (or it was dropped), and must see that an event was emitted at all while it looked away.
func TestEventsInFlightUntilAnswered(t *testing.T) {
	for _, status := range []int{http.StatusNoContent, http.StatusInternalServerError} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			h := newHarness(t)
			g := newGate(t, status)
			wf := h.gatedWorkflow(g)
			n, before := h.engine.EventsInFlight()
			assert.Zero(t, n)

			h.task(wf, nil)
			n, queued := h.engine.EventsInFlight()
			assert.Positive(t, n, "the task's events wait for the application")
			assert.Greater(t, queued, before, "emitting counts as work started")
			require.Eventually(t, func() bool { return g.received.Load() > 0 }, 5*time.Second, time.Millisecond)

			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			assert.Error(t, h.engine.SettleEvents(ctx), "not settled while the callback is unanswered")

			g.release()
			ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			require.NoError(t, h.engine.SettleEvents(ctx))
			n, after := h.engine.EventsInFlight()
			assert.Zero(t, n, "delivered (or, after a %d, dropped): nothing in flight", status)
			assert.Equal(t, queued, after, "nothing new was emitted")
		})
	}
}

// TestEventsInFlightDropWhenClosed: events a closed engine will never deliver stop counting.
func TestEventsInFlightDropWhenClosed(t *testing.T) {
	h := newHarness(t)
	g := newGate(t, http.StatusNoContent)
	wf := h.gatedWorkflow(g)
	h.task(wf, nil)
	require.Eventually(t, func() bool { return g.received.Load() > 0 }, 5*time.Second, time.Millisecond)
	h.task(wf, nil) // its events queue behind the batch in delivery
	n, _ := h.engine.EventsInFlight()
	require.Greater(t, n, 1, "one event in delivery, more queued behind it")
	closed := make(chan struct{})
	go func() { defer close(closed); h.engine.Close() }() // cancels the delivery in progress
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		require.FailNow(t, "Close did not return")
	}
	n, _ = h.engine.EventsInFlight()
	assert.Zero(t, n)
}
