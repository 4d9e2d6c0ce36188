package taskrouter

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"queuebridge/sandbox/internal/twilioapi"
)

// TestConcurrentCallsKeepInvariants drives the engine from many goroutines at once (enqueue,
// dequeue, bridge end, completion, caller hang-ups, timeouts) and checks that every task ends
// completed or canceled and no worker ever held two reservations.
func TestConcurrentCallsKeepInvariants(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	q := h.queue("q", "")
	var workers []string
	for i := range 5 {
		workers = append(workers, h.worker(fmt.Sprintf("agent-%d", i), nil, h.available))
	}
	wf := h.simpleWorkflow(q)
	ctx := context.Background()

	const calls = 40
	var wg sync.WaitGroup
	taskSids := make(chan string, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sid, err := h.engine.EnqueueCall(ctx, twilioapi.EnqueueRequest{WorkflowSid: wf,
				Attributes: map[string]any{"call_sid": fmt.Sprintf("CA%032d", i)}})
			if err != nil {
				t.Errorf("enqueue: %v", err)
				return
			}
			taskSids <- sid
		}()
	}
	stop := make(chan struct{})
	ticker := sync.WaitGroup{}
	ticker.Add(1)
	go func() {
		defer ticker.Done()
		for {
			select {
			case <-stop:
				return
			default:
				h.clock.Advance(5 * time.Second)
			}
		}
	}()
	// Agents: accept whatever is pending for them, then end the bridge and complete.
	agentsDone := make(chan struct{})
	var agents sync.WaitGroup
	for _, w := range workers {
		agents.Add(1)
		go func() {
			defer agents.Done()
			for {
				select {
				case <-agentsDone:
					return
				default:
				}
				rs, err := h.tr.ListWorkerReservation(h.ws, w, (&trapi.ListWorkerReservationParams{}).SetReservationStatus("pending"))
				if err != nil {
					t.Errorf("list: %v", err)
					return
				}
				for _, r := range rs {
					if _, err := h.engine.DequeueReservation(ctx, *r.Sid, ""); err != nil {
						continue // timed out or canceled meanwhile: 14215, as Twilio would say
					}
					_ = h.engine.BridgeEnded(ctx, *r.TaskSid)
					_, _ = h.tr.UpdateTask(h.ws, *r.TaskSid, (&trapi.UpdateTaskParams{}).SetAssignmentStatus("completed").SetReason("done"))
				}
			}
		}()
	}
	wg.Wait()
	close(taskSids)
	// Let the agents work until nothing is reserved or assigned any more.
	require.Eventually(t, func() bool {
		busy, err := h.tr.ListTask(h.ws, (&trapi.ListTaskParams{}).SetAssignmentStatus([]string{"reserved", "assigned", "wrapping"}))
		return err == nil && len(busy) == 0
	}, 10*time.Second, 5*time.Millisecond)
	close(agentsDone)
	agents.Wait()
	close(stop)
	ticker.Wait()

	// Whatever still waits, its caller hangs up.
	n := 0
	for sid := range taskSids {
		n++
		if _, ok := h.engine.Task(sid); ok {
			require.NoError(t, h.engine.CallerLeftQueue(ctx, sid, "hangup"))
		}
		ended := false
		for _, e := range h.rec.Entries(sid) {
			ended = ended || (e.Kind == "task" && (e.What == "completed" || e.What == "canceled"))
		}
		assert.True(t, ended, "task %s ended", sid)
	}
	assert.Equal(t, calls, n)
	// No worker ever held two active reservations at once: replay the timeline.
	active := map[string]int{}
	resWorker := map[string]string{}
	for _, e := range h.rec.Entries("") {
		if e.Kind != "reservation" {
			continue
		}
		w := e.Detail["worker"]
		switch e.What {
		case "pending":
			resWorker[e.Sid] = w
			active[w]++
			require.LessOrEqual(t, active[w], 1, "worker %s holds two reservations", w)
		case "rejected", "timeout", "canceled", "rescinded", "completed":
			active[resWorker[e.Sid]]--
		}
	}
	for _, w := range workers {
		assert.Zero(t, active[w], "worker %s ends free", w)
	}
}
