package taskrouter_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/store"
	"queuebridge/taskrouter"
)

// Dial recovery: a Calls.create whose outcome is unknown, and the leg it may have created.

// timedOut is a Calls.create whose answer never arrived: Twilio may or may not have the call.
func timedOut(taskrouter.CallRequest) (string, error) {
	return "", &url.Error{Op: "Post", URL: "https://api.twilio.com", Err: context.DeadlineExceeded}
}

// rejectedEventually waits until TaskRouter was asked to reject sid.
func rejectedEventually(t *testing.T, tw *fakeTwilio, sid string) {
	t.Helper()
	require.Eventually(t, func() bool {
		_, _, rejected := tw.counts()
		return contains(rejected, sid)
	}, 5*time.Second, time.Millisecond, "reservation %s rejected", sid)
}

func contains(list []string, s string) bool { return slices.Contains(list, s) }

func stored(t *testing.T, db *store.DB, sid string) taskrouter.Reservation {
	t.Helper()
	r, err := db.Reservation(context.Background(), sid)
	require.NoError(t, err)
	return r
}

// The scenario of issue 11 (item 1): R1's create times out and its call is created only after
// R1's look-up, so R1 is rejected; the late call reports to R1 (its SID is in the callback
// URL); TaskRouter offers the task again to the same agent as R2, whose create also fails. R1's
// leg is R1's: it is hung up, and R2 never adopts it, even where its creation time and status
// would fit.
func TestALateLegIsItsOwnReservationsAndNeverAdoptedByTheNext(t *testing.T) {
	db := openStore(t)
	var late atomic.Pointer[taskrouter.CallInfo]
	tw := &fakeTwilio{place: timedOut, find: func(time.Time) []taskrouter.CallInfo {
		if c := late.Load(); c != nil {
			return []taskrouter.CallInfo{*c}
		}
		return nil // R1's call is not created yet
	}}
	b := newBridge(t, db, tw, 2)
	stop := run(t, b)
	defer stop()
	r1, r2, task := testkit.SID("WR"), testkit.SID("WR"), testkit.SID("WT")
	require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", r1, task)))
	rejectedEventually(t, tw, r1)

	leg := taskrouter.CallInfo{SID: testkit.SID("CA"), Status: taskrouter.CallRinging, CreatedAt: time.Now().Add(time.Hour)}
	require.NoError(t, b.AgentCallStatus(context.Background(),
		taskrouter.CallUpdate{ReservationSID: r1, CallSID: leg.SID, Status: taskrouter.CallInitiated}))
	require.Eventually(t, func() bool { _, ended, _ := tw.counts(); return contains(ended, leg.SID+":canceled") },
		5*time.Second, time.Millisecond, "the late leg is hung up: nobody waits for that agent on it")
	owner, err := db.CallOwner(context.Background(), leg.SID)
	require.NoError(t, err)
	assert.Equal(t, r1, owner, "the late leg is recorded as R1's")

	late.Store(&leg) // created "after" R2's attempt, ringing, same To and From: only ownership tells
	require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", r2, task)))
	rejectedEventually(t, tw, r2)
	assert.Empty(t, stored(t, db, r2).CallSID, "R2 did not adopt R1's leg")
	assert.Equal(t, taskrouter.StateRejected, stored(t, db, r2).State)
	placed, _, _ := tw.counts()
	assert.Equal(t, 2, placed, "one create per reservation, none re-sent")
}

// Recovery adopts exactly one candidate: a created-after, unanswered, unowned call. Several
// candidates, an answered call or none: the reservation is rejected and nothing adopted.
func TestRecoveryAdoptsOnlyASingleUnansweredCandidate(t *testing.T) {
	after := func(status taskrouter.CallStatus) taskrouter.CallInfo {
		return taskrouter.CallInfo{SID: testkit.SID("CA"), Status: status, CreatedAt: time.Now().Add(time.Hour)}
	}
	queued := after(taskrouter.CallQueued)
	for _, tc := range []struct {
		name  string
		calls []taskrouter.CallInfo
		adopt string
	}{
		{"one queued call: adopted", []taskrouter.CallInfo{queued}, queued.SID},
		{"two candidates: neither", []taskrouter.CallInfo{after(taskrouter.CallRinging), after(taskrouter.CallRinging)}, ""},
		{"an answered call: not ours to take", []taskrouter.CallInfo{after(taskrouter.CallInProgress)}, ""},
		{"a completed call: not ours to take", []taskrouter.CallInfo{after(taskrouter.CallCompleted)}, ""},
		{"a call created before the attempt: not ours", []taskrouter.CallInfo{{SID: testkit.SID("CA"), Status: taskrouter.CallRinging,
			CreatedAt: time.Now().Add(-2 * time.Second)}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openStore(t)
			tw := &fakeTwilio{place: timedOut, find: func(time.Time) []taskrouter.CallInfo { return tc.calls }}
			b := newBridge(t, db, tw, 1)
			stop := run(t, b)
			defer stop()
			res := testkit.SID("WR")
			require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", res, testkit.SID("WT"))))
			if tc.adopt != "" {
				require.Eventually(t, func() bool { return stored(t, db, res).CallSID == tc.adopt }, 5*time.Second, time.Millisecond)
				assert.Equal(t, taskrouter.StateRinging, stored(t, db, res).State)
				return
			}
			rejectedEventually(t, tw, res)
			assert.Empty(t, stored(t, db, res).CallSID)
		})
	}
}

// The leg's own callback settles an interrupted dial: no look-up, no reject.
func TestAnInterruptedDialWaitsForItsLegToReport(t *testing.T) {
	db := openStore(t)
	tw := &fakeTwilio{place: timedOut}
	b := newBridgeWith(t, db, tw, func(o *taskrouter.Options) {
		o.Workers, o.RetryBase, o.LegReportWait = 1, time.Millisecond, time.Hour
	})
	stop := run(t, b)
	defer stop()
	res := testkit.SID("WR")
	require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", res, testkit.SID("WT"))))
	require.Eventually(t, func() bool { p, _, _ := tw.counts(); return p == 1 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { return stored(t, db, res).State == taskrouter.StateDialing }, 5*time.Second, time.Millisecond)

	leg := testkit.SID("CA")
	require.NoError(t, b.AgentCallStatus(context.Background(),
		taskrouter.CallUpdate{ReservationSID: res, CallSID: leg, Status: taskrouter.CallInitiated}))
	got := stored(t, db, res)
	assert.Equal(t, leg, got.CallSID)
	assert.Equal(t, taskrouter.StateRinging, got.State)
	tw.mu.Lock()
	defer tw.mu.Unlock()
	assert.Zero(t, tw.finds, "the leg reported: nothing to look up")
	assert.Empty(t, tw.reject)
	assert.Equal(t, 1, tw.placed)
}

// failOnce fails the first call of FinishJob and of RetryJob, as a store refusing a write would.
type failOnce struct {
	*store.DB
	finish, retry atomic.Bool
}

func (f *failOnce) FinishJob(ctx context.Context, id int64, outcome string) error {
	if f.finish.CompareAndSwap(false, true) {
		return errors.New("disk I/O error")
	}
	return f.DB.FinishJob(ctx, id, outcome)
}

func (f *failOnce) RetryJob(ctx context.Context, id int64, at time.Time, lastErr string) error {
	if f.retry.CompareAndSwap(false, true) {
		return errors.New("disk I/O error")
	}
	return f.DB.RetryJob(ctx, id, at, lastErr)
}

// A job whose end could not be stored (FinishJob or RetryJob refused) is not stranded until a
// restart: its lease ends and it runs again, at run time.
func TestAStrandedJobRunsAgainWhenItsLeaseEnds(t *testing.T) {
	db := openStore(t)
	var creates atomic.Int32
	tw := &fakeTwilio{place: func(taskrouter.CallRequest) (string, error) {
		if creates.Add(1) == 1 { // a 429: not created, sent again; RetryJob fails
			return "", &taskrouter.RemoteError{Kind: taskrouter.NotSent, Status: 429, Code: 20429, Err: errors.New("too many requests")}
		}
		return testkit.SID("CA"), nil // placed; FinishJob fails
	}}
	st := &failOnce{DB: db}
	b := newBridgeWith(t, st, tw, func(o *taskrouter.Options) {
		o.Workers, o.RetryBase, o.JobLease = 1, time.Millisecond, 100*time.Millisecond
	})
	stop := run(t, b)
	defer stop()
	res := testkit.SID("WR")
	require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", res, testkit.SID("WT"))))
	require.Eventually(t, func() bool {
		n, err := db.PendingJobs(context.Background())
		return err == nil && n == 0
	}, 10*time.Second, time.Millisecond, "the stranded job ran again and finished")
	assert.True(t, st.retry.Load() && st.finish.Load(), "both writes failed once")
	placed, _, _ := tw.counts()
	assert.Equal(t, 2, placed, "the refused create was sent again once; the placed call was not placed twice")
	got := stored(t, db, res)
	assert.Equal(t, taskrouter.StateRinging, got.State)
	assert.NotEmpty(t, got.CallSID)
}
