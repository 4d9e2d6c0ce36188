package taskrouter

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// faultDropped counts the events DeliveryFaults.Drop lost, from the timeline.
func (h *harness) faultDropped() int {
	n := 0
	for _, e := range h.rec.Entries("") {
		if strings.HasPrefix(e.What, "event dropped (fault): ") {
			n++
		}
	}
	return n
}

// delivered waits until every event produced and not dropped reached the sink and returns
// their types, in order.
func (h *harness) delivered() []string {
	h.t.Helper()
	require.Eventually(h.t, func() bool { return len(h.sink.all()) >= h.produced()-h.faultDropped() }, 5*time.Second, 2*time.Millisecond)
	var types []string
	for _, ev := range h.sink.all() {
		types = append(types, ev.Get("EventType"))
	}
	return types
}

func TestDeliveryFaultDropLosesTheChosenTypes(t *testing.T) {
	h := newHarness(t)
	_, _, wf := h.aliceQueue("")
	h.engine.SetDeliveryFaults(DeliveryFaults{Drop: 1, DropTypes: []string{"reservation.created"}})
	task := h.task(wf, nil)
	_, err := h.tr.UpdateTask(h.ws, task, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("canceled").SetReason("test"))
	require.NoError(t, err)

	got := h.delivered()
	assert.Contains(t, got, "task.canceled", "later events still arrive")
	assert.Contains(t, got, "reservation.canceled")
	assert.NotContains(t, got, "reservation.created", "the dropped type never arrives")
	assert.Equal(t, 1, h.faultDropped(), "the loss is on the timeline")
}

func TestDeliveryFaultDropIsSeeded(t *testing.T) {
	run := func(seed int64) []string {
		h := newHarness(t)
		_, _, wf := h.aliceQueue("")
		h.engine.SetDeliveryFaults(DeliveryFaults{Drop: 0.5, Seed: seed})
		for range 4 {
			task := h.task(wf, nil)
			_, err := h.tr.UpdateTask(h.ws, task, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("canceled").SetReason("test"))
			require.NoError(t, err)
		}
		got := h.delivered()
		require.NotZero(t, h.faultDropped(), "half are dropped")
		require.NotEmpty(t, got, "half arrive")
		return got
	}
	first := run(7)
	assert.Equal(t, first, run(7), "the same seed loses the same events")
	assert.False(t, slices.Equal(first, run(8)), "another seed loses others")
}
