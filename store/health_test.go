package store

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/store/storetest"
	"queuebridge/taskrouter"
)

// openLogged opens a store whose log the test reads.
func openLogged(t *testing.T, path string) (*DB, *testkit.SyncBuffer) {
	t.Helper()
	var log testkit.SyncBuffer
	db, err := Open(context.Background(), path, nil, WithLogger(slog.New(slog.NewTextHandler(&log, nil))))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db, &log
}

// newReservation stores a new pending reservation with a dial job, as reservation.created does.
func newReservation(db *DB) (string, error) {
	sid, task := testkit.SID("WR"), testkit.SID("WT")
	_, _, err := db.UpdateReservation(context.Background(), sid, task, testkit.SID("EV"), func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		now := time.Now()
		r := taskrouter.Reservation{SID: sid, TaskSID: task, WorkspaceSID: "WS1", State: taskrouter.StatePending,
			CreatedAt: now, UpdatedAt: now, Deadline: now.Add(2 * time.Minute)}
		return taskrouter.Change{Reservation: &r, Jobs: []taskrouter.Job{{Kind: taskrouter.JobDial}}}, nil
	})
	return sid, err
}

// waitPing waits until Ping answers as want says (nil: succeeds), past the probe's cache.
func waitPing(t *testing.T, db *DB, ok bool) error {
	t.Helper()
	var err error
	require.Eventually(t, func() bool {
		err = db.Ping(context.Background())
		return (err == nil) == ok
	}, 5*time.Second, 20*time.Millisecond, "Ping never answered ok=%v: %v", ok, err)
	return err
}

// With its directory removed, SQLite would go on writing to the unlinked file: every write
// (the first one too, although SQLite committed it) must fail, for good, and say why.
func TestRemovedDatabaseRefusesEveryWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	require.NoError(t, os.Mkdir(dir, 0o700))
	path := filepath.Join(dir, "q.db")
	db, log := openLogged(t, path)
	_, err := newReservation(db)
	require.NoError(t, err)
	require.NoError(t, db.Ping(context.Background()))

	require.NoError(t, os.RemoveAll(dir))
	sid, err := newReservation(db)
	require.ErrorIs(t, err, ErrRemoved, "the write SQLite committed to the unlinked file is not acknowledged")
	assert.Contains(t, err.Error(), path)
	require.ErrorIs(t, db.Ping(context.Background()), ErrRemoved)
	_, err = db.ClaimJobs(context.Background(), time.Now(), time.Minute, 10)
	require.ErrorIs(t, err, ErrRemoved, "the dispatcher's bookkeeping is refused too: no job of the lost file runs")

	// A new, empty database at the same path is not the one the store holds: still refused.
	require.NoError(t, os.Mkdir(dir, 0o700))
	other, err := sql.Open("sqlite", path)
	require.NoError(t, err)
	_, err = other.Exec(`CREATE TABLE x(y)`)
	require.NoError(t, err)
	require.NoError(t, other.Close())
	_, err = newReservation(db)
	require.ErrorIs(t, err, ErrRemoved)
	require.ErrorIs(t, db.Ping(context.Background()), ErrRemoved)
	_, err = db.Reservation(context.Background(), sid)
	assert.NoError(t, err, "reads go on (from the unlinked file)")

	assert.Contains(t, log.String(), "level=ERROR")
	assert.Contains(t, log.String(), "path="+path)
	assert.Equal(t, 1, countLines(log.String(), "removed or replaced while open"), "said once:\n%s", log.String())
}

// A database file replaced by another one (restored from a backup under the running process,
// renamed over) is no longer the one written to.
func TestReplacedDatabaseRefusesWrites(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db, _ := openLogged(t, path)
	_, err := newReservation(db)
	require.NoError(t, err)
	copyPath := path + ".copy"
	body, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(copyPath, body, 0o600))
	require.NoError(t, os.Rename(copyPath, path))

	_, err = newReservation(db)
	require.ErrorIs(t, err, ErrRemoved)
	assert.Contains(t, err.Error(), "replaced by another file")
}

// A read-only database fails the writes, and Ping, while it lasts; once writable again, writes
// succeed without reopening.
func TestReadOnlyDatabaseFailsWritesUntilWritable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db, log := openLogged(t, path)
	_, err := newReservation(db)
	require.NoError(t, err)
	require.NoError(t, db.Ping(context.Background()))

	restore := storetest.Immutable(t, path, path+"-wal")
	_, err = newReservation(db)
	require.Error(t, err, "a write to a read-only file is not acknowledged")
	assert.True(t, storageFault(err), "%v", err)
	err = db.Ping(context.Background())
	require.Error(t, err, "the failed write is reported at once, although the last probe succeeded")
	assert.Contains(t, err.Error(), "database writes fail")

	restore()
	waitPing(t, db, true)
	sid, err := newReservation(db)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	again := open(t, path)
	_, err = again.Reservation(context.Background(), sid)
	require.NoError(t, err, "the write acknowledged after recovery is durable")
	assert.Contains(t, log.String(), "database writes fail")
	assert.Contains(t, log.String(), "database writes succeed again")
}

// A full disk fails the writes with SQLITE_FULL; once space is freed, writes succeed again.
func TestDiskFullFailsWritesUntilSpaceIsFreed(t *testing.T) {
	dir := storetest.Tmpfs(t, "8m")
	path := filepath.Join(dir, "q.db")
	db, _ := openLogged(t, path)
	_, err := newReservation(db)
	require.NoError(t, err)

	free := storetest.Fill(t, dir)
	_, err = newReservation(db)
	require.Error(t, err)
	assert.True(t, storageFault(err), "%v", err)
	assert.Contains(t, db.Ping(context.Background()).Error(), "full")

	free()
	waitPing(t, db, true)
	sid, err := newReservation(db)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	again := open(t, path)
	_, err = again.Reservation(context.Background(), sid)
	require.NoError(t, err)
}

// The probe's own write finds a fault that no write of the bridge has met yet (an idle bridge).
func TestPingProbeFindsReadOnlyDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.db")
	db, _ := openLogged(t, path)
	db.health.every = 0 // every Ping writes
	require.NoError(t, db.Ping(context.Background()))
	restore := storetest.Immutable(t, path, path+"-wal")
	err := db.Ping(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "database writes fail")
	restore()
	require.NoError(t, db.Ping(context.Background()))
}

// Ping writes at most once per probeEvery: the health row is not rewritten between.
func TestPingWritesAtMostOncePerInterval(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "q.db"))
	require.NoError(t, db.Ping(context.Background()))
	at := func() int64 {
		var v int64
		require.NoError(t, db.read.QueryRow(`SELECT at FROM health WHERE id = 1`).Scan(&v))
		return v
	}
	first := at()
	for range 20 {
		require.NoError(t, db.Ping(context.Background()))
	}
	if time.Since(time.UnixMilli(first)) < probeEvery {
		assert.Equal(t, first, at(), "no write within the interval")
	}
	require.Eventually(t, func() bool { return db.Ping(context.Background()) == nil && at() > first },
		5*time.Second, 50*time.Millisecond, "a new probe after the interval")
}

// Only storage errors count as faults: a refused update (a conflict) leaves the store ready.
func TestStorageFaultClassification(t *testing.T) {
	assert.False(t, storageFault(errors.New("plain")))
	assert.False(t, storageFault(taskrouter.Errorf(taskrouter.EConflict, "no")))
	assert.False(t, storageFault(context.Canceled))
}

func countLines(s, substr string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}

// What the identity check adds to each commit: one stat of the database's path, against the
// cheapest commit there is (a lazy one: no fsync) and a durable one (fsync).
//
//	go test ./store -run '^$' -bench Identity -benchtime 2000x
func BenchmarkIdentityCheck(b *testing.B) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	touch := func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO health(id, at) VALUES (1, 1) ON CONFLICT(id) DO UPDATE SET at = at + 1`)
		return err
	}
	b.Run("check", func(b *testing.B) {
		for b.Loop() {
			if err := db.checkFile(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("lazy-commit", func(b *testing.B) {
		for b.Loop() {
			if err := db.inLazyTx(ctx, touch); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("durable-commit", func(b *testing.B) {
		for b.Loop() {
			if err := db.inTx(ctx, touch); err != nil {
				b.Fatal(err)
			}
		}
	})
}
