package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/taskrouter"
)

// assertCachedAsRead checks that the cache holds sid and that it is the row a query of the
// file returns.
func assertCachedAsRead(t *testing.T, db *DB, sid, step string) {
	t.Helper()
	cached, ok := db.cache.Get(sid)
	require.True(t, ok, "%s: the reservation just written is cached", step)
	read, err := db.readReservation(context.Background(), sid)
	require.NoError(t, err)
	assert.Equal(t, read, cached, "%s: the cache holds what a read of the file returns", step)
	got, err := db.Reservation(context.Background(), sid)
	require.NoError(t, err)
	assert.Equal(t, read, got, step)
}

// Every way a reservation is written (created, updated with a new call, updated in its state
// only, updated with its task, a change naming another reservation) leaves in the cache exactly
// the row a read returns: times to the millisecond in UTC, created_at as first stored.
func TestTheCacheHoldsWhatAReadReturns(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "q.db"))
	sid, task := testkit.SID("WR"), testkit.SID("WT")
	local := time.FixedZone("here", 3600)
	t0 := time.Date(2026, 12, 1, 9, 30, 0, 123456789, local)
	_, _, err := db.UpdateReservation(ctx, sid, task, testkit.SID("EV"), func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		r := taskrouter.Reservation{SID: sid, TaskSID: task, WorkspaceSID: "WS1", State: taskrouter.StatePending,
			CreatedAt: t0, UpdatedAt: t0, Deadline: t0.Add(2 * time.Minute)}
		return taskrouter.Change{Reservation: &r}, nil
	})
	require.NoError(t, err)
	assertCachedAsRead(t, db, sid, "created")

	update := func(step string, f func(r *taskrouter.Reservation)) {
		t.Helper()
		_, _, err := db.UpdateReservation(ctx, sid, "", "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
			r := s.Reservation
			f(&r)
			return taskrouter.Change{Reservation: &r}, nil
		})
		require.NoError(t, err)
		assertCachedAsRead(t, db, sid, step)
	}
	update("a new call (the full update)", func(r *taskrouter.Reservation) {
		r.CallSID, r.State, r.DialingAt = testkit.SID("CA"), taskrouter.StateRinging, t0.Add(time.Second)
	})
	update("the state only", func(r *taskrouter.Reservation) {
		r.State, r.UpdatedAt = taskrouter.StateBridging, t0.Add(2*time.Second)
	})
	update("created_at is fixed: a change to it is not stored", func(r *taskrouter.Reservation) {
		r.CreatedAt, r.Outcome = t0.Add(time.Hour), taskrouter.Outcome{Kind: taskrouter.OutcomeBridged}
	})
	_, err = db.UpdateTask(ctx, task, "", "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		r := s.Reservation
		r.State = taskrouter.StateAccepted
		return taskrouter.Change{Reservation: &r}, nil
	})
	require.NoError(t, err)
	assertCachedAsRead(t, db, sid, "through its task")

	// A change that names another reservation than the one read is an upsert whose stored
	// created_at the writer does not know: the cache forgets the row, a read queries it.
	other := testkit.SID("WR")
	_, _, err = db.UpdateReservation(ctx, other, task, "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		r := taskrouter.Reservation{SID: other, TaskSID: task, State: taskrouter.StatePending, CreatedAt: t0}
		return taskrouter.Change{Reservation: &r}, nil
	})
	require.NoError(t, err)
	_, _, err = db.UpdateReservation(ctx, other, "", "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		r := s.Reservation
		r.SID, r.State, r.CreatedAt = sid, taskrouter.StateCompleted, t0.Add(time.Hour)
		return taskrouter.Change{Reservation: &r}, nil
	})
	require.NoError(t, err)
	_, cached := db.cache.Get(sid)
	assert.False(t, cached, "written by an upsert over a row the write did not read")
	got, err := db.Reservation(ctx, sid)
	require.NoError(t, err)
	assert.Equal(t, taskrouter.StateCompleted, got.State)
	assert.Equal(t, t0.UnixMilli(), got.CreatedAt.UnixMilli(), "the upsert leaves created_at alone")

	// The same from a reservation not found: the change is not a new row.
	_, _, err = db.UpdateReservation(ctx, testkit.SID("WR"), task, "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		r := got
		r.State, r.CreatedAt = taskrouter.StateCanceled, t0.Add(2*time.Hour)
		return taskrouter.Change{Reservation: &r}, nil
	})
	require.NoError(t, err)
	got, err = db.Reservation(ctx, sid)
	require.NoError(t, err)
	assert.Equal(t, taskrouter.StateCanceled, got.State)
	assert.Equal(t, t0.UnixMilli(), got.CreatedAt.UnixMilli(), "written over a row the write did not find")
}

// A write that fails is rolled back, rows it stored before failing included: the cache keeps
// the committed rows, not those.
func TestAFailedWriteLeavesTheCacheAsCommitted(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "q.db"))
	task := testkit.SID("WT")
	first, second := testkit.SID("WR"), testkit.SID("WR")
	for _, sid := range []string{first, second} {
		_, _, err := db.UpdateReservation(ctx, sid, task, "", create1(sid, task))
		require.NoError(t, err)
	}
	refused := errors.New("refused by the test")
	n := 0
	_, err := db.UpdateTask(ctx, task, "", "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		n++
		if n == 2 {
			return taskrouter.Change{}, refused // after the first reservation was stored
		}
		r := s.Reservation
		r.State = taskrouter.StateCanceled
		return taskrouter.Change{Reservation: &r}, nil
	})
	require.ErrorIs(t, err, refused)
	for _, sid := range []string{first, second} {
		got, err := db.Reservation(ctx, sid)
		require.NoError(t, err)
		assert.Equal(t, taskrouter.StatePending, got.State, "the failed write's change is not what a read returns")
		if cached, ok := db.cache.Get(sid); ok {
			assert.Equal(t, taskrouter.StatePending, cached.State, "the cache holds the committed row or nothing")
		}
	}
}

// A commit whose durability cannot be known (the file was replaced under the bridge) forgets
// the rows it wrote: the next read asks the file.
func TestAWriteNotKnownDurableIsForgotten(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	db := open(t, path)
	sid, task := testkit.SID("WR"), testkit.SID("WT")
	_, _, err := db.UpdateReservation(ctx, sid, task, "", create1(sid, task))
	require.NoError(t, err)
	_, cached := db.cache.Get(sid)
	require.True(t, cached)

	body, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path+".copy", body, 0o600))
	require.NoError(t, os.Rename(path+".copy", path))
	_, _, err = db.UpdateReservation(ctx, sid, "", "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		r := s.Reservation
		r.State = taskrouter.StateRinging
		return taskrouter.Change{Reservation: &r}, nil
	})
	require.ErrorIs(t, err, ErrRemoved)
	_, cached = db.cache.Get(sid)
	assert.False(t, cached, "a write answered with an error is not served from the cache")
}

// Without the cache nothing is kept, and reads still find every row.
func TestWithoutCacheEveryReadQueriesTheFile(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "q.db"), nil, WithoutCache())
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	sid, task := testkit.SID("WR"), testkit.SID("WT")
	_, _, err = db.UpdateReservation(ctx, sid, task, "", create1(sid, task))
	require.NoError(t, err)
	assert.Nil(t, db.cache)
	got, err := db.Reservation(ctx, sid)
	require.NoError(t, err)
	assert.Equal(t, sid, got.SID)
}

// create1 creates a pending reservation of task.
func create1(sid, task string) taskrouter.UpdateFunc {
	return func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		now := time.Now()
		r := taskrouter.Reservation{SID: sid, TaskSID: task, WorkspaceSID: "WS1", State: taskrouter.StatePending,
			CreatedAt: now, UpdatedAt: now, Deadline: now.Add(2 * time.Minute)}
		return taskrouter.Change{Reservation: &r}, nil
	}
}
