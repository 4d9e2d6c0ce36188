package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/store/storetest"
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

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) taskrouter.Store {
		return open(t, filepath.Join(t.TempDir(), "q.db"))
	})
}

// The same suite with every read querying the file (cache.go off).
func TestConformanceWithoutCache(t *testing.T) {
	storetest.Run(t, func(t *testing.T) taskrouter.Store {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "q.db"), nil, WithoutCache())
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	})
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

// Reopening runs the migrations again, which must leave the data alone.
func TestDataSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	db := open(t, path)
	_, _, err := db.UpdateReservation(ctx, wr, wt, "EV1", create(taskrouter.StatePending, taskrouter.Job{Kind: taskrouter.JobDial}))
	require.NoError(t, err)
	_, err = db.UpdateTask(ctx, wt, "hangup", "", func(taskrouter.Snapshot) (taskrouter.Change, error) { return taskrouter.Change{}, nil })
	require.NoError(t, err)
	require.NoError(t, db.Close())

	again := open(t, path)
	r, err := again.Reservation(ctx, wr)
	require.NoError(t, err)
	assert.Equal(t, taskrouter.StatePending, r.State)
	n, err := again.PendingJobs(ctx)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the job queued with the reservation is still there")
	_, dup, err := again.UpdateReservation(ctx, wr, wt, "EV1", create(taskrouter.StatePending))
	require.NoError(t, err)
	assert.True(t, dup, "the processed event is remembered")
	var canceled string
	_, _, err = again.UpdateReservation(ctx, "WRx", wt, "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		canceled = s.TaskCanceled
		return taskrouter.Change{}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, "hangup", canceled, "the canceled task is remembered")
}

// A transition is acknowledged to Twilio once committed, so its commit must reach the disk:
// the connection that commits it must be in WAL mode with synchronous=FULL, also after the
// dispatcher's lazy commits have lowered the level.
func TestTransitionsCommitDurably(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "q.db"))
	pragmas := func(lazy bool) (synchronous int, journal string) {
		t.Helper()
		read := func(ctx context.Context, tx *sql.Tx) error {
			if err := tx.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&synchronous); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&journal)
		}
		write := db.inTx
		if lazy {
			write = db.inLazyTx
		}
		require.NoError(t, write(ctx, read))
		return synchronous, journal
	}
	sync, journal := pragmas(false)
	assert.Equal(t, 2, sync, "synchronous=FULL from the start")
	assert.Equal(t, "wal", journal)

	sync, _ = pragmas(true)
	assert.Equal(t, 1, sync, "bookkeeping commits at synchronous=NORMAL")
	sync, journal = pragmas(false)
	assert.Equal(t, 2, sync, "synchronous=FULL again after a lazy commit")
	assert.Equal(t, "wal", journal)
}

func TestPath(t *testing.T) {
	for in, want := range map[string]string{"": "queuebridge.db", "x.db": "x.db", "sqlite://data/q.db": "data/q.db", "sqlite:///var/q.db": "/var/q.db"} {
		got, err := Path(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := Path("postgres://app:s3cr3t@db/q")
	assert.ErrorContains(t, err, "only SQLite")
	assert.ErrorContains(t, err, "postgres://app:xxxxx@db/q")
	assert.NotContains(t, err.Error(), "s3cr3t", "no password in an error")
	_, err = Path("sqlite://")
	assert.Error(t, err)
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
