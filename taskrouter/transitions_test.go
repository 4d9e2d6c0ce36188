package taskrouter_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/handlers"
	"queuebridge/internal/testkit"
	"queuebridge/taskrouter"
)

// transitionLog records Hooks.Transition as "before→after" states (with the call status where
// it says more).
type transitionLog struct {
	mu   sync.Mutex
	seen []string
	last map[string]taskrouter.Reservation
}

func (l *transitionLog) record(before, after taskrouter.Reservation) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last == nil {
		l.last = map[string]taskrouter.Reservation{}
	}
	if prev, ok := l.last[after.SID]; ok && !sameRecord(prev, before) {
		l.seen = append(l.seen, fmt.Sprintf("before of %s is not the last after", after.SID))
	}
	l.last[after.SID] = after
	l.seen = append(l.seen, say(before)+"→"+say(after))
}

// sameRecord compares what the store keeps, less the times (stored to the millisecond).
func sameRecord(a, b taskrouter.Reservation) bool {
	a.CreatedAt, a.UpdatedAt, a.DialingAt, a.Deadline, a.EnqueuedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	b.CreatedAt, b.UpdatedAt, b.DialingAt, b.Deadline, b.EnqueuedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	return a == b
}

func say(r taskrouter.Reservation) string {
	if r.SID == "" {
		return "new"
	}
	if r.CallStatus != "" && r.State == taskrouter.StateRinging {
		return string(r.State) + "(" + string(r.CallStatus) + ")"
	}
	return string(r.State)
}

func (l *transitionLog) list() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

func newObservedBridge(t *testing.T, tw *fakeTwilio, log *transitionLog) *taskrouter.Bridge {
	t.Helper()
	b, err := taskrouter.NewBridge(openStore(t), tw, tw, taskrouter.Options{
		URLs: handlers.NewURLs("https://bridge.example.com"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		RetryBase: time.Millisecond, LegReportWait: time.Millisecond,
	}, taskrouter.Hooks{Transition: log.record})
	require.NoError(t, err)
	return b
}

// Every committed change of a reservation reaches Hooks.Transition once, whoever made it (the
// event handler, the dispatcher, the leg's webhooks), with the stored reservation before and
// after; what changes nothing (a duplicate event, a repeated status, an orphan's answer) is not
// reported.
func TestEveryCommittedTransitionIsReportedOnce(t *testing.T) {
	ctx := context.Background()
	tw := &fakeTwilio{}
	log := &transitionLog{}
	b := newObservedBridge(t, tw, log)
	res, task := testkit.SID("WR"), testkit.SID("WT")
	created := event("reservation.created", res, task)
	require.NoError(t, b.HandleEvent(ctx, created))
	require.NoError(t, b.HandleEvent(ctx, created), "a duplicate: no transition")
	stop := run(t, b)
	require.Eventually(t, func() bool {
		r, err := b.Reservation(ctx, res)
		return err == nil && r.CallSID != ""
	}, 5*time.Second, time.Millisecond, "the dial job places the leg")
	stop()
	r, err := b.Reservation(ctx, res)
	require.NoError(t, err)
	call := r.CallSID
	for _, status := range []taskrouter.CallStatus{taskrouter.CallRinging, taskrouter.CallRinging, taskrouter.CallInProgress} {
		require.NoError(t, b.AgentCallStatus(ctx, taskrouter.CallUpdate{ReservationSID: res, CallSID: call, Status: status}))
	}
	_, err = b.AgentAnswered(ctx, taskrouter.Answer{ReservationSID: res, TaskSID: task, CallSID: testkit.SID("CA"), AnsweredBy: taskrouter.AnsweredHuman})
	require.NoError(t, err, "an orphan leg's answer changes nothing")
	_, err = b.AgentAnswered(ctx, taskrouter.Answer{ReservationSID: res, TaskSID: task, CallSID: call, AnsweredBy: taskrouter.AnsweredHuman})
	require.NoError(t, err)
	for _, typ := range []string{"reservation.accepted", "reservation.wrapup", "reservation.completed"} {
		require.NoError(t, b.HandleEvent(ctx, event(typ, res, task)))
	}

	assert.Equal(t, []string{
		"new→pending", "pending→dialing", "dialing→ringing", "ringing→ringing(ringing)",
		"ringing(ringing)→ringing(in-progress)", "ringing(in-progress)→bridging",
		"bridging→accepted", "accepted→wrapping", "wrapping→completed",
	}, log.list())
}

// task.canceled ends every open reservation of the task in one transaction: each is reported.
func TestTaskCanceledReportsEachReservationItEnds(t *testing.T) {
	ctx := context.Background()
	log := &transitionLog{}
	b := newObservedBridge(t, &fakeTwilio{}, log)
	task := testkit.SID("WT")
	first, second := testkit.SID("WR"), testkit.SID("WR")
	require.NoError(t, b.HandleEvent(ctx, event("reservation.created", first, task)))
	require.NoError(t, b.HandleEvent(ctx, event("reservation.created", second, task)))
	canceled := event("task.canceled", "", task)
	canceled.Reason = "hangup"
	require.NoError(t, b.HandleEvent(ctx, canceled))
	require.NoError(t, b.HandleEvent(ctx, canceled), "a duplicate: no transition")

	got := log.list()
	require.Len(t, got, 4, "%v", got)
	assert.Equal(t, []string{"new→pending", "new→pending", "pending→canceled", "pending→canceled"}, got)
}

// failingStore refuses every write after fn ran, as a full disk would.
type failingStore struct{ taskrouter.Store }

func (s failingStore) UpdateReservation(ctx context.Context, sid, taskSID, eventSID string, fn taskrouter.UpdateFunc) (taskrouter.Reservation, bool, error) {
	if _, err := fn(taskrouter.Snapshot{}); err != nil {
		return taskrouter.Reservation{}, false, err
	}
	return taskrouter.Reservation{}, false, errors.New("disk full")
}

// A change the store did not commit is not reported: the page never shows what a crash would undo.
func TestAnUncommittedChangeIsNotReported(t *testing.T) {
	log := &transitionLog{}
	tw := &fakeTwilio{}
	b, err := taskrouter.NewBridge(failingStore{openStore(t)}, tw, tw, taskrouter.Options{
		URLs: handlers.NewURLs("https://bridge.example.com"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}, taskrouter.Hooks{Transition: log.record})
	require.NoError(t, err)
	require.Error(t, b.HandleEvent(context.Background(), event("reservation.created", testkit.SID("WR"), testkit.SID("WT"))))
	assert.Empty(t, log.list())
}
