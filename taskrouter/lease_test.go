package taskrouter_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/handlers"
	"queuebridge/internal/testkit"
	"queuebridge/store"
	"queuebridge/taskrouter"
)

// The dispatcher's part in running beside other processes on one store: leases kept while a
// job runs, wake-ups from jobs other processes queued, and a bounded sleep.

// claimCounter counts how often each job is claimed.
type claimCounter struct {
	*store.DB
	mu     sync.Mutex
	claims map[int64]int
}

func (c *claimCounter) ClaimJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]taskrouter.Job, error) {
	jobs, err := c.DB.ClaimJobs(ctx, now, lease, limit)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, j := range jobs {
		c.claims[j.ID]++
	}
	return jobs, err
}

func (c *claimCounter) most() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.claims {
		n = max(n, v)
	}
	return n
}

// A job that runs for many leases (a slow Calls.create) keeps its lease: no process (here, this
// one's own loop) claims it again while it runs.
func TestALongJobKeepsItsLease(t *testing.T) {
	db := openStore(t)
	st := &claimCounter{DB: db, claims: map[int64]int{}}
	entered, release := make(chan struct{}, 1), make(chan struct{})
	tw := &fakeTwilio{place: func(taskrouter.CallRequest) (string, error) {
		entered <- struct{}{}
		<-release
		return testkit.SID("CA"), nil
	}}
	b := newBridgeWith(t, st, tw, func(o *taskrouter.Options) { o.Workers, o.JobLease = 2, 60*time.Millisecond })
	require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", testkit.SID("WR"), testkit.SID("WT"))))
	stop := run(t, b)
	testkit.Receive(t, entered, 5*time.Second, "the dial to start")
	assert.Never(t, func() bool { return st.most() > 1 }, 10*60*time.Millisecond, 5*time.Millisecond,
		"the job is claimed again while it runs")
	close(release)
	require.Eventually(t, func() bool { n, err := db.PendingJobs(context.Background()); return err == nil && n == 0 },
		5*time.Second, time.Millisecond)
	stop()
	placed, _, _ := tw.counts()
	assert.Equal(t, 1, placed)
}

// signalStore is a store shared with other processes: it signals jobs they queued. Its
// JobsQueued hides the SQLite store's own signal: jobs this bridge queues wait for the timer.
type signalStore struct {
	*store.DB
	ch    chan struct{}
	waits atomic.Int64 // NextJobAt calls: the dispatcher about to sleep
}

var _ taskrouter.JobSignal = (*signalStore)(nil)

func (s *signalStore) JobsQueued() <-chan struct{} { return s.ch }

func (s *signalStore) NextJobAt(ctx context.Context) (time.Time, bool, error) {
	s.waits.Add(1)
	return s.DB.NextJobAt(ctx)
}

// queueElsewhere stores a new pending reservation with its dial job as another process would:
// this bridge is not told.
func queueElsewhere(t *testing.T, db *store.DB) {
	t.Helper()
	sid := testkit.SID("WR")
	now := time.Now()
	r := taskrouter.Reservation{SID: sid, TaskSID: testkit.SID("WT"), WorkspaceSID: testkit.SID("WS"), State: taskrouter.StatePending,
		ContactURI: "+15005550101", CallerID: "+15005550006", CreatedAt: now, UpdatedAt: now, Deadline: now.Add(time.Minute)}
	_, _, err := db.UpdateReservation(context.Background(), sid, r.TaskSID, "", func(taskrouter.Snapshot) (taskrouter.Change, error) {
		return taskrouter.Change{Reservation: &r, Jobs: []taskrouter.Job{{Kind: taskrouter.JobDial, Deadline: r.Deadline}}}, nil
	})
	require.NoError(t, err)
}

// An idle dispatcher claims a job another process queued when the store signals it, not at
// its next timer.
func TestJobSignalWakesAnIdleDispatcher(t *testing.T) {
	// Observed: the Transition hook wraps the store; the signal must still be found.
	for _, observed := range []bool{false, true} {
		t.Run(fmt.Sprintf("observed=%v", observed), func(t *testing.T) {
			st := &signalStore{DB: openStore(t), ch: make(chan struct{}, 1)}
			tw := &fakeTwilio{}
			hooks := taskrouter.Hooks{}
			if observed {
				hooks.Transition = func(_, _ taskrouter.Reservation) {}
			}
			b, err := taskrouter.NewBridge(st, tw, tw, taskrouter.Options{
				URLs: handlers.NewURLs("https://bridge.example.com"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				JobLease: time.Minute,
			}, hooks)
			require.NoError(t, err)
			stop := run(t, b)
			defer stop()
			require.Eventually(t, func() bool { return st.waits.Load() > 0 }, 5*time.Second, time.Millisecond, "the dispatcher idles")
			queueElsewhere(t, st.DB)
			assert.Never(t, func() bool { placed, _, _ := tw.counts(); return placed > 0 }, 200*time.Millisecond, 5*time.Millisecond,
				"nothing told the dispatcher")
			st.ch <- struct{}{}
			require.Eventually(t, func() bool { placed, _, _ := tw.counts(); return placed == 1 }, 2*time.Second, time.Millisecond,
				"the signal wakes it")
		})
	}
}

// With a shared store, the dispatcher never sleeps longer than a lease: a job another process
// rescheduled and then left (it died) is found without a signal.
func TestSharedStoreDispatcherSleepsAtMostALease(t *testing.T) {
	st := &signalStore{DB: openStore(t), ch: make(chan struct{}, 1)}
	tw := &fakeTwilio{}
	b := newBridgeWith(t, st, tw, func(o *taskrouter.Options) { o.JobLease = 200 * time.Millisecond })
	stop := run(t, b)
	defer stop()
	require.Eventually(t, func() bool { return st.waits.Load() > 0 }, 5*time.Second, time.Millisecond, "the dispatcher idles")
	queueElsewhere(t, st.DB)
	require.Eventually(t, func() bool { placed, _, _ := tw.counts(); return placed == 1 }, 3*time.Second, time.Millisecond,
		"found within a lease of sleep")
}

// claimCalls counts the dispatcher's claims, whatever they find.
type claimCalls struct {
	*store.DB
	calls atomic.Int64
	waits atomic.Int64 // NextJobAt calls: the dispatcher about to sleep
}

func (c *claimCalls) NextJobAt(ctx context.Context) (time.Time, bool, error) {
	c.waits.Add(1)
	return c.DB.NextJobAt(ctx)
}

func (c *claimCalls) ClaimJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]taskrouter.Job, error) {
	c.calls.Add(1)
	return c.DB.ClaimJobs(ctx, now, lease, limit)
}

// Over a store that signals the jobs it commits (SQLite and PostgreSQL both do), the dispatcher
// claims when jobs were queued, not after every webhook: events and callbacks that queue nothing
// (most of them) cost no claim.
func TestAWebhookThatQueuesNothingClaimsNothing(t *testing.T) {
	st := &claimCalls{DB: openStore(t)}
	tw := &fakeTwilio{}
	b := newBridgeWith(t, st, tw, func(o *taskrouter.Options) { o.JobLease = time.Minute })
	stop := run(t, b)
	defer stop()
	require.Eventually(t, func() bool { return st.waits.Load() > 0 }, 5*time.Second, time.Millisecond, "the dispatcher idles")
	res, task := testkit.SID("WR"), testkit.SID("WT")
	require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", res, task)))
	require.Eventually(t, func() bool {
		placed, _, _ := tw.counts()
		n, err := st.PendingJobs(context.Background())
		return placed == 1 && err == nil && n == 0
	}, 5*time.Second, time.Millisecond, "the dial job runs on the store's signal")
	before := st.calls.Load()
	for range 20 {
		require.NoError(t, b.HandleEvent(context.Background(), event("task.updated", testkit.SID("WR"), task)))
	}
	assert.Never(t, func() bool { return st.calls.Load() != before }, 200*time.Millisecond, 5*time.Millisecond,
		"20 events that queued nothing woke the dispatcher")
}
