package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/taskrouter"
)

const (
	wr = "WR00000000000000000000000000000001"
	wt = "WT00000000000000000000000000000001"
)

func open(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(context.Background(), path, nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func create(state taskrouter.State, jobs ...taskrouter.Job) taskrouter.UpdateFunc {
	return func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		if s.Found {
			return taskrouter.Change{}, nil
		}
		r := taskrouter.Reservation{SID: wr, TaskSID: wt, WorkspaceSID: "WS1", State: state,
			CreatedAt: time.UnixMilli(1000).UTC(), UpdatedAt: time.UnixMilli(1000).UTC(), Deadline: time.UnixMilli(121000).UTC()}
		return taskrouter.Change{Reservation: &r, Jobs: jobs}, nil
	}
}

func TestReservationsRoundTripAndSurviveReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	db := open(t, path)
	_, err := db.Reservation(ctx, wr)
	assert.ErrorIs(t, err, taskrouter.ErrNotFound)

	got, dup, err := db.UpdateReservation(ctx, wr, wt, "EV1", create(taskrouter.StatePending, taskrouter.Job{Kind: taskrouter.JobDial}))
	require.NoError(t, err)
	assert.False(t, dup)
	assert.Equal(t, taskrouter.StatePending, got.State)

	_, dup, err = db.UpdateReservation(ctx, wr, wt, "EV1", func(taskrouter.Snapshot) (taskrouter.Change, error) {
		t.Fatal("a processed event is not applied again")
		return taskrouter.Change{}, nil
	})
	require.NoError(t, err)
	assert.True(t, dup)

	_, _, err = db.UpdateReservation(ctx, wr, "", "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		require.True(t, s.Found)
		x := s.Reservation
		x.State, x.CallSID, x.CallStatus, x.AnsweredBy = taskrouter.StateRinging, "CA1", taskrouter.CallRinging, taskrouter.AnsweredHuman
		return taskrouter.Change{Reservation: &x}, nil
	})
	require.NoError(t, err)
	db.Close()

	again := open(t, path) // migrations run again without harm; the data is there
	r, err := again.Reservation(ctx, wr)
	require.NoError(t, err)
	assert.Equal(t, taskrouter.StateRinging, r.State)
	assert.Equal(t, "CA1", r.CallSID)
	assert.Equal(t, taskrouter.AnsweredHuman, r.AnsweredBy)
	assert.Equal(t, time.UnixMilli(121000).UTC(), r.Deadline)
	owner, err := again.CallOwner(ctx, "CA1")
	require.NoError(t, err)
	assert.Equal(t, wr, owner)
	n, err := again.PendingJobs(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the job queued with the reservation is still there")
}

func TestFailedUpdateStoresNothing(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "q.db"))
	_, _, err := db.UpdateReservation(ctx, wr, wt, "EV1", func(taskrouter.Snapshot) (taskrouter.Change, error) {
		return taskrouter.Change{}, taskrouter.Errorf(taskrouter.EConflict, "no")
	})
	require.Error(t, err)
	// The event was not recorded as processed either: a retry is applied.
	_, dup, err := db.UpdateReservation(ctx, wr, wt, "EV1", create(taskrouter.StatePending))
	require.NoError(t, err)
	assert.False(t, dup)
}

func TestCancelTaskMarksReservationsAndLaterOnes(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "q.db"))
	_, _, err := db.UpdateReservation(ctx, wr, wt, "", create(taskrouter.StateRinging))
	require.NoError(t, err)
	var seen []string
	dup, err := db.UpdateTask(ctx, wt, "hangup", "EV2", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		seen = append(seen, s.Reservation.SID)
		assert.Equal(t, "hangup", s.TaskCanceled)
		x := s.Reservation
		x.State = taskrouter.StateCanceled
		return taskrouter.Change{Reservation: &x, Jobs: []taskrouter.Job{{Kind: taskrouter.JobHangup, CallSID: "CA1"}}}, nil
	})
	require.NoError(t, err)
	assert.False(t, dup)
	assert.Equal(t, []string{wr}, seen)

	list, err := db.TaskReservations(ctx, wt)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, taskrouter.StateCanceled, list[0].State)

	later := "WR00000000000000000000000000000002"
	_, _, err = db.UpdateReservation(ctx, later, wt, "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		assert.False(t, s.Found)
		assert.Equal(t, "hangup", s.TaskCanceled, "a reservation of a canceled task is known as such")
		return taskrouter.Change{}, nil
	})
	require.NoError(t, err)
}

func TestJobsClaimRetryResume(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "q.db"))
	now := time.Now()
	_, _, err := db.UpdateReservation(ctx, wr, wt, "", create(taskrouter.StatePending,
		taskrouter.Job{Kind: taskrouter.JobDial, NotBefore: now.Add(-time.Second), Deadline: now.Add(time.Minute)},
		taskrouter.Job{Kind: taskrouter.JobReject, NotBefore: now.Add(time.Hour)}))
	require.NoError(t, err)

	next, ok, err := db.NextJobAt(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	assert.WithinDuration(t, now.Add(-time.Second), next, time.Millisecond)

	jobs, err := db.ClaimJobs(ctx, now, 10)
	require.NoError(t, err)
	require.Len(t, jobs, 1, "only the due job")
	assert.Equal(t, taskrouter.JobDial, jobs[0].Kind)
	assert.Equal(t, wr, jobs[0].ReservationSID)
	again, err := db.ClaimJobs(ctx, now, 10)
	require.NoError(t, err)
	assert.Empty(t, again, "a running job is not claimed twice")

	require.NoError(t, db.RetryJob(ctx, jobs[0].ID, now.Add(time.Second), "503"))
	jobs, err = db.ClaimJobs(ctx, now.Add(2*time.Second), 10)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	assert.Equal(t, 1, jobs[0].Attempts)
	assert.Equal(t, "503", jobs[0].LastErr)

	n, err := db.ResumeJobs(ctx) // as after a crash
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	jobs, err = db.ClaimJobs(ctx, now.Add(2*time.Second), 10)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.NoError(t, db.FinishJob(ctx, jobs[0].ID, "done"))
	count, err := db.PendingJobs(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, count, "the future reject job remains")
}

func TestPath(t *testing.T) {
	for in, want := range map[string]string{"": "queuebridge.db", "x.db": "x.db", "sqlite://data/q.db": "data/q.db", "sqlite:///var/q.db": "/var/q.db"} {
		got, err := Path(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := Path("postgres://db/q")
	assert.ErrorContains(t, err, "only SQLite")
	_, err = Path("sqlite://")
	assert.Error(t, err)
}

func TestPruneEvents(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "q.db"))
	_, _, err := db.UpdateReservation(ctx, wr, wt, "EV1", create(taskrouter.StatePending))
	require.NoError(t, err)
	n, err := db.PruneEvents(ctx, time.Now().Add(time.Minute))
	require.NoError(t, err)
	assert.EqualValues(t, 1, n)
	_, dup, err := db.UpdateReservation(ctx, wr, wt, "EV1", create(taskrouter.StatePending))
	require.NoError(t, err)
	assert.False(t, dup)
}

func TestOneProcessPerDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	first := open(t, path)
	_, err := Open(context.Background(), path, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "in use by another queuebridge process")
	require.NoError(t, first.Close())
	second := open(t, path) // released on Close
	require.NoError(t, second.Ping(context.Background()))
}
