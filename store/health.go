package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Durability checks. A commit SQLite reports as done is durable only if the file it went to is
// still the file at the database's path: with the database (or its directory) removed or
// replaced, SQLite goes on writing to the unlinked file, which no process will read again. So
// every commit is followed by a check of the path's identity (device and inode, one stat) and a
// write is answered only when both succeed. A removed database cannot come back in place: the
// store refuses every write from then on, until the process restarts on a restored database.
// Other write errors (read-only file, disk full, I/O error) fail the writes they touch and make
// Ping fail, and clear by themselves: the next write that succeeds is durable.

// ErrRemoved is the error of every write after the database file was found removed or replaced.
var ErrRemoved = errors.New("database file removed or replaced while open")

// probeEvery bounds how often Ping writes: at most once per interval, the cached result between.
const probeEvery = time.Second

// fileID identifies a file on its file system: its device and inode.
type fileID struct{ dev, ino uint64 }

// Option configures Open.
type Option func(*DB)

// WithLogger sets where the store reports storage faults (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(db *DB) { db.log = l } }

// health holds what the store knows of its file and of its last writes.
type health struct {
	path    string
	id      fileID
	every   time.Duration         // probeEvery (tests shorten it)
	removed atomic.Pointer[error] // set once, never cleared: see checkFile

	mu        sync.Mutex
	checkedAt time.Time // when last was learnt (a probe or a fault)
	last      error     // nil while writes succeed

	probeMu sync.Mutex // one probe at a time
}

// checkFile fails, for good, once the file at the database's path is no longer the one the
// store opened (removed, or replaced by another file).
func (db *DB) checkFile() error {
	if err := db.removedErr(); err != nil {
		return err
	}
	id, err := identify(db.health.path)
	if err == nil && id == db.health.id {
		return nil
	}
	why := "replaced by another file"
	if err != nil {
		why = err.Error()
	}
	gone := fmt.Errorf("%w: %s: %s; nothing written since is durable, so every write is refused until "+
		"queuebridge restarts on a restored database", ErrRemoved, db.health.path, why)
	if db.health.removed.CompareAndSwap(nil, &gone) {
		db.log.Error("database file removed or replaced while open: refusing every write (webhooks answer 5xx, "+
			"/readyz 503) until restart", "path", db.health.path, "why", why)
	}
	return *db.health.removed.Load()
}

// removedErr is the error checkFile latched, or nil.
func (db *DB) removedErr() error {
	if p := db.health.removed.Load(); p != nil {
		return *p
	}
	return nil
}

// noteFault records a storage error of the write path (read-only, disk full, I/O error): Ping
// reports it until a probe succeeds. Other errors (a conflict, a canceled caller) are ignored.
func (db *DB) noteFault(err error) {
	if storageFault(err) {
		db.record(time.Now(), fmt.Errorf("database writes fail: %w", err))
	}
}

// storageFault reports whether err is SQLite failing to read or write its files.
func storageFault(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN,
		sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_PERM, sqlite3.SQLITE_NOLFS, sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}

// record stores what was learnt of the writes at now, logging when they start or stop failing.
func (db *DB) record(now time.Time, err error) {
	h := &db.health
	h.mu.Lock()
	prev := h.last
	h.last, h.checkedAt = err, now
	h.mu.Unlock()
	switch {
	case prev == nil && err != nil && !errors.Is(err, ErrRemoved):
		db.log.Error("database writes fail: webhooks answer 5xx and /readyz 503 until they succeed", "path", h.path, "err", err)
	case prev != nil && err == nil:
		db.log.Info("database writes succeed again", "path", h.path)
	}
}

// cached returns what is known of the writes if it was learnt less than an interval before now.
func (db *DB) cached(now time.Time) (error, bool) {
	h := &db.health
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.checkedAt.IsZero() || now.Sub(h.checkedAt) >= h.every {
		return nil, false
	}
	return h.last, true
}

// Ping checks that writes are durable (for /readyz): the database file is still the one opened,
// and a small write (one row of the health table) commits. The write runs at most once a
// second; in between, the last result is returned, or the last storage error a write met.
func (db *DB) Ping(ctx context.Context) error {
	select {
	case <-db.closing:
		return errClosed
	default:
	}
	if err := db.removedErr(); err != nil {
		return err
	}
	if err, ok := db.cached(time.Now()); ok {
		return err
	}
	db.health.probeMu.Lock()
	defer db.health.probeMu.Unlock()
	if err, ok := db.cached(time.Now()); ok { // a probe ran while this one waited
		return err
	}
	err := db.probe(ctx)
	if ctx.Err() != nil {
		return err // the caller left: this says nothing of the disk
	}
	if err != nil && !errors.Is(err, ErrRemoved) {
		err = fmt.Errorf("database writes fail: %w", err)
	}
	db.record(time.Now(), err)
	return err
}

// probe commits a write of the health row, durably, through the group commit.
func (db *DB) probe(ctx context.Context) error {
	return db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO health(id, at) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET at = excluded.at`,
			time.Now().UnixMilli())
		return err
	})
}
