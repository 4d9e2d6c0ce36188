package taskrouter_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/store"
	"queuebridge/taskrouter"
)

// Guards of the dispatcher that a one-line regression would remove (issue 11): each test here
// fails when its guard goes.

// betweenStore runs between once, right after the dispatcher's first read of a reservation:
// whatever between does lands after the job read the reservation and before the job's
// compare-and-set, the window the compare-and-set exists for.
type betweenStore struct {
	*store.DB
	once    sync.Once
	between func(sid string)
}

func (s *betweenStore) Reservation(ctx context.Context, sid string) (taskrouter.Reservation, error) {
	r, err := s.DB.Reservation(ctx, sid)
	if err == nil && s.between != nil {
		s.once.Do(func() { s.between(sid) })
	}
	return r, err
}

// waitNoJobs waits until the outbox is empty.
func waitNoJobs(t *testing.T, db *store.DB) {
	t.Helper()
	require.Eventually(t, func() bool {
		n, err := db.PendingJobs(context.Background())
		return err == nil && n == 0
	}, 5*time.Second, time.Millisecond, "jobs still queued")
}

// The dial job reads the reservation, then marks it dialing with a compare-and-set that requires
// it still pending. A reservation that stopped being pending in between (TaskRouter canceled it,
// or another attempt is dialing it) is not dialed.
func TestADialNeverPlacesACallForAReservationThatLeftPending(t *testing.T) {
	for _, tc := range []struct {
		name    string
		between func(t *testing.T, b *taskrouter.Bridge, db *store.DB, res, task string)
		want    taskrouter.State
	}{
		{"canceled at TaskRouter", func(t *testing.T, b *taskrouter.Bridge, _ *store.DB, res, task string) {
			if err := b.HandleEvent(context.Background(), event("reservation.canceled", res, task)); err != nil {
				t.Errorf("reservation.canceled: %v", err)
			}
		}, taskrouter.StateCanceled},
		{"dialing already, by another attempt", func(t *testing.T, _ *taskrouter.Bridge, db *store.DB, res, _ string) {
			_, _, err := db.UpdateReservation(context.Background(), res, "", "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
				x := s.Reservation
				x.State, x.DialingAt = taskrouter.StateDialing, time.Now().Add(-time.Second)
				return taskrouter.Change{Reservation: &x}, nil
			})
			if err != nil {
				t.Errorf("marking dialing: %v", err)
			}
		}, taskrouter.StateDialing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openStore(t)
			st := &betweenStore{DB: db}
			tw := &fakeTwilio{}
			// LegReportWait: a reservation found dialing is looked up only much later, so the
			// other attempt's dial is not recovered while the test looks.
			b := newBridgeWith(t, st, tw, func(o *taskrouter.Options) {
				o.Workers, o.RetryBase, o.LegReportWait = 1, time.Millisecond, time.Hour
			})
			res, task := testkit.SID("WR"), testkit.SID("WT")
			require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", res, task)))
			betweenRan := make(chan struct{})
			st.between = func(sid string) {
				defer close(betweenRan)
				tc.between(t, b, db, sid, task)
			}
			stop := run(t, b)
			defer stop()
			testkit.Receive(t, betweenRan, 5*time.Second, "the dial job to read the reservation")
			waitNoJobs(t, db)
			placed, _, _ := tw.counts()
			assert.Zero(t, placed, "a reservation no longer pending when the job marks it dialing is not dialed")
			got := stored(t, db, res)
			assert.Equal(t, tc.want, got.State)
			assert.Empty(t, got.CallSID)
		})
	}
}

// A re-delivered reservation.wrapup (Twilio retries an event it got no 2xx for, with the same
// Sid; a replay or a second workspace callback may carry another Sid) completes the task once.
func TestARedeliveredWrapupCompletesTheTaskOnce(t *testing.T) {
	db := openStore(t)
	tw := &fakeTwilio{}
	b := newBridge(t, db, tw, 2)
	stop := run(t, b)
	defer stop()
	ctx := context.Background()
	res, task := testkit.SID("WR"), testkit.SID("WT")
	require.NoError(t, b.HandleEvent(ctx, event("reservation.created", res, task)))
	require.Eventually(t, func() bool { return stored(t, db, res).CallSID != "" }, 5*time.Second, time.Millisecond)
	ins, err := b.AgentAnswered(ctx, taskrouter.Answer{ReservationSID: res, TaskSID: task,
		CallSID: stored(t, db, res).CallSID, AnsweredBy: taskrouter.AnsweredHuman})
	require.NoError(t, err)
	require.Equal(t, taskrouter.Connect, ins.Kind)
	require.NoError(t, b.HandleEvent(ctx, event("reservation.accepted", res, task)))

	wrapup := event("reservation.wrapup", res, task)
	require.NoError(t, b.HandleEvent(ctx, wrapup))
	completes := func() []string {
		tw.mu.Lock()
		defer tw.mu.Unlock()
		return append([]string(nil), tw.completed...)
	}
	require.Eventually(t, func() bool { return len(completes()) == 1 }, 5*time.Second, time.Millisecond, "the wrapup completes the task")
	waitNoJobs(t, db)

	require.NoError(t, b.HandleEvent(ctx, wrapup), "the same event again")
	require.NoError(t, b.HandleEvent(ctx, event("reservation.wrapup", res, task)), "another event Sid")
	require.NoError(t, b.HandleEvent(ctx, event("reservation.accepted", res, task)), "a late accepted")
	require.NoError(t, b.HandleEvent(ctx, event("reservation.wrapup", res, task)), "and wrapup after it")
	waitNoJobs(t, db)
	assert.Equal(t, []string{task}, completes(), "Tasks.update(completed) sent once")
	assert.Equal(t, taskrouter.StateWrapping, stored(t, db, res).State)
}

// delayStore records the delay each RetryJob asks for (to within the time the call took), and
// makes the job due at once so the next attempt comes without waiting for it.
type delayStore struct {
	*store.DB

	mu     sync.Mutex
	delays []time.Duration
}

func (s *delayStore) RetryJob(ctx context.Context, id int64, at time.Time, lastErr string) error {
	now := time.Now()
	s.mu.Lock()
	s.delays = append(s.delays, at.Sub(now))
	s.mu.Unlock()
	return s.DB.RetryJob(ctx, id, now, lastErr)
}

func (s *delayStore) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.delays...)
}

// Retries back off exponentially from RetryBase and never wait longer than RetryMax: an
// uncapped backoff would leave a reservation waiting past its own timeout for a retry.
func TestRetryBackoffIsCappedAtRetryMax(t *testing.T) {
	db := openStore(t)
	st := &delayStore{DB: db}
	tw := &fakeTwilio{place: func(taskrouter.CallRequest) (string, error) {
		// Refused before Twilio created anything: safe to send again, every time.
		return "", &taskrouter.RemoteError{Kind: taskrouter.NotSent, Status: 429, Code: 20429, Err: errors.New("too many requests")}
	}}
	const base, limit = 10 * time.Millisecond, 40 * time.Millisecond
	b := newBridgeWith(t, st, tw, func(o *taskrouter.Options) {
		o.Workers, o.RetryBase, o.RetryMax = 1, base, limit
		// A job due at once can be claimed while its last run finishes and wait out its lease
		// (see TestAJobClaimedWhileItsLastRunFinishesRunsAgain): a short lease keeps that brief.
		// A lease's re-claim counts an attempt more, which only raises the lower bound below.
		o.JobLease = 20 * time.Millisecond
	})
	require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", testkit.SID("WR"), testkit.SID("WT"))))
	stop := run(t, b)
	require.Eventually(t, func() bool { return len(st.recorded()) >= 10 }, 10*time.Second, time.Millisecond, "ten retries")
	stop()
	delays := st.recorded()
	const slack = 5 * time.Millisecond // between the bridge computing the time and RetryJob
	for i, d := range delays {
		assert.LessOrEqual(t, d, limit, "retry %d waits at most RetryMax", i+1)
		assert.GreaterOrEqual(t, d, min(base<<i, limit)/2-slack, "retry %d backs off exponentially, with jitter", i+1)
	}
}

// A leg another reservation holds is never adopted by a recovering dial, even when its creation
// time, status, To and From fit: here R1's leg is ringing, and R2's Calls.create times out.
func TestRecoveryNeverAdoptsALegAnotherReservationHolds(t *testing.T) {
	db := openStore(t)
	var legOfR1 taskrouter.CallInfo
	var mu sync.Mutex
	creates := 0
	tw := &fakeTwilio{
		place: func(taskrouter.CallRequest) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			if creates++; creates == 1 {
				legOfR1 = taskrouter.CallInfo{SID: testkit.SID("CA"), Status: taskrouter.CallRinging, CreatedAt: time.Now().Add(time.Hour)}
				return legOfR1.SID, nil
			}
			return timedOut(taskrouter.CallRequest{})
		},
		find: func(time.Time) []taskrouter.CallInfo {
			mu.Lock()
			defer mu.Unlock()
			return []taskrouter.CallInfo{legOfR1}
		},
	}
	b := newBridgeWith(t, db, tw, func(o *taskrouter.Options) {
		o.Workers, o.RetryBase, o.RetryMax, o.LegReportWait = 1, time.Millisecond, 5*time.Millisecond, time.Millisecond
		// See TestAJobClaimedWhileItsLastRunFinishesRunsAgain: a short lease keeps a retry
		// claimed while its last run finishes from waiting a minute.
		o.JobLease = 50 * time.Millisecond
	})
	stop := run(t, b)
	defer stop()
	r1, r2 := testkit.SID("WR"), testkit.SID("WR")
	require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", r1, testkit.SID("WT"))))
	require.Eventually(t, func() bool { return stored(t, db, r1).CallSID != "" }, 5*time.Second, time.Millisecond)
	require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", r2, testkit.SID("WT"))))
	rejectedEventually(t, tw, r2)
	assert.Empty(t, stored(t, db, r2).CallSID, "R2 did not adopt R1's leg")
	assert.Equal(t, taskrouter.StateRejected, stored(t, db, r2).State)
	assert.Equal(t, legOfR1.SID, stored(t, db, r1).CallSID)
	assert.Equal(t, taskrouter.StateRinging, stored(t, db, r1).State)
}

// reclaimStore, once armed, holds the first RetryJob after its write until the dispatcher has
// claimed that job again: the claim lands while the job's previous run is still finishing.
type reclaimStore struct {
	*store.DB
	b       *taskrouter.Bridge
	armed   atomic.Bool
	claimed chan int64
}

func (s *reclaimStore) ClaimJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]taskrouter.Job, error) {
	jobs, err := s.DB.ClaimJobs(ctx, now, lease, limit)
	for _, j := range jobs {
		select {
		case s.claimed <- j.ID:
		default:
		}
	}
	return jobs, err
}

func (s *reclaimStore) RetryJob(ctx context.Context, id int64, at time.Time, lastErr string) error {
	err := s.DB.RetryJob(ctx, id, at, lastErr)
	if err != nil || !s.armed.CompareAndSwap(true, false) {
		return err
	}
	for len(s.claimed) > 0 {
		<-s.claimed
	}
	// Wakes the dispatcher only over a store without JobSignal (the SQLite store now signals its
	// commits instead): un-skipping this test needs another wake-up.
	_ = s.b.HandleEvent(ctx, taskrouter.Event{Type: "worker.activity.update"})
	deadline := time.After(2 * time.Second)
	for {
		select {
		case got := <-s.claimed:
			if got == id {
				return nil
			}
		case <-deadline:
			return nil
		}
	}
}

// A job retried at once (a short backoff, or a wait already over) and claimed again while its
// previous run is still finishing runs again then, not when its lease ends.
//
// It fails today: Run claims the job (renewing its lease), finds it still in its running map
// (the previous run's goroutine deletes it after signalling done) and skips it, so the job waits
// JobLease for nothing. Reported with issue 11's regressions; dispatch.go is outside this
// branch's scope. Un-skip once Run no longer drops a job it claimed.
func TestAJobClaimedWhileItsLastRunFinishesRunsAgain(t *testing.T) {
	t.Skip("Run drops a job claimed while its previous run finishes (dispatch.go): the job waits JobLease")
	db := openStore(t)
	st := &reclaimStore{DB: db, claimed: make(chan int64, 16)}
	var creates atomic.Int32
	tw := &fakeTwilio{place: func(taskrouter.CallRequest) (string, error) {
		if creates.Add(1) == 1 {
			return "", &taskrouter.RemoteError{Kind: taskrouter.NotSent, Status: 429, Code: 20429, Err: errors.New("too many requests")}
		}
		return testkit.SID("CA"), nil
	}}
	b := newBridgeWith(t, st, tw, func(o *taskrouter.Options) {
		o.Workers, o.RetryBase, o.RetryMax, o.JobLease = 2, time.Nanosecond, time.Nanosecond, time.Hour
	})
	st.b = b
	st.armed.Store(true)
	res := testkit.SID("WR")
	require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", res, testkit.SID("WT"))))
	stop := run(t, b)
	defer stop()
	require.Eventually(t, func() bool { return stored(t, db, res).CallSID != "" }, 5*time.Second, time.Millisecond,
		"the retried dial places the leg")
	assert.EqualValues(t, 2, creates.Load())
}
