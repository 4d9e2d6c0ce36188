// Package store keeps queuebridge's state in SQLite (pure Go, no cgo): reservations, the outbox
// of jobs, and the event SIDs already processed. It implements taskrouter.Store; every update is
// one serialized write transaction, committed (WAL, synchronous=FULL) before the caller answers
// Twilio, so acknowledged work survives a crash. Updates that arrive together share one commit
// (group commit, writer.go), and the dispatcher's own bookkeeping (claims, finished jobs) does
// not wait for the disk.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"queuebridge/internal/fifo"
	"queuebridge/taskrouter"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migrations/*.sql
var migrations embed.FS

// DB is the SQLite store.
type DB struct {
	write *sql.DB // one connection, owned by the group-commit writer (writer.go)
	read  *sql.DB
	now   func() time.Time

	w     writeStmts
	r     readStmts
	stmts []*sql.Stmt

	ops        chan *writeOp
	durable    bool // the write connection's synchronous level is FULL (writer goroutine only)
	unlock     func() error
	unlockOnce sync.Once
	closing    chan struct{}
	writerDone chan struct{}
	closeOnce  sync.Once

	log    *slog.Logger
	health health // durability checks (health.go)
	// cache holds the reservations this process committed last (cache.go); nil: off.
	cache *fifo.Cache[string, taskrouter.Reservation]
	// queued ticks when a commit queued jobs (signal.go).
	queued chan struct{}
}

var _ taskrouter.Store = (*DB)(nil)

// Path turns DATABASE_URL into a file path: a plain path or sqlite://path (sqlite:///abs/path).
func Path(databaseURL string) (string, error) {
	switch {
	case databaseURL == "":
		return "queuebridge.db", nil
	case strings.HasPrefix(databaseURL, "sqlite://"):
		p := strings.TrimPrefix(databaseURL, "sqlite://")
		if p == "" {
			return "", fmt.Errorf("DATABASE_URL %q: no file path after sqlite://", databaseURL)
		}
		return p, nil
	case strings.Contains(databaseURL, "://"):
		return "", fmt.Errorf("DATABASE_URL %q: only SQLite (a file path or sqlite://path) is supported in this build", redacted(databaseURL))
	}
	return databaseURL, nil
}

// redacted is a database URL fit for an error message: its password replaced by xxxxx.
func redacted(databaseURL string) string {
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

// Open opens (creating if needed) the database at path and applies the embedded migrations.
// now is the clock used for bookkeeping timestamps (time.Now when nil).
func Open(ctx context.Context, path string, now func() time.Time, opts ...Option) (*DB, error) {
	if now == nil {
		now = time.Now
	}
	unlock, err := lock(path)
	if err != nil {
		return nil, err
	}
	pragmas := url.Values{"_pragma": {"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"}}
	dsn := "file:" + path + "?" + pragmas.Encode() + "&_txlock=immediate"
	write, err := sql.Open("sqlite", dsn)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	read, err := sql.Open("sqlite", dsn)
	if err != nil {
		write.Close()
		unlock()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	read.SetMaxOpenConns(4)
	db := &DB{write: write, read: read, now: now, durable: true, unlock: unlock,
		ops: make(chan *writeOp), closing: make(chan struct{}), writerDone: make(chan struct{}),
		log: slog.Default(), health: health{path: path, every: probeEvery}, cache: newCache(),
		queued: make(chan struct{}, 1)}
	for _, o := range opts {
		o(db)
	}
	if err := db.migrate(ctx); err != nil {
		close(db.writerDone)
		db.Close()
		return nil, fmt.Errorf("migrating %s: %w", path, err)
	}
	// The file exists now: the identity every commit is checked against (health.go).
	if db.health.id, err = identify(path); err != nil {
		close(db.writerDone)
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	if err := db.prepareAll(ctx); err != nil {
		close(db.writerDone)
		db.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	go db.writer()
	return db, nil
}

// Close waits for the writes under way, then closes the database. Writes sent after it fail.
func (db *DB) Close() error {
	db.closeOnce.Do(func() { close(db.closing) })
	<-db.writerDone
	for _, s := range db.stmts {
		s.Close()
	}
	err := errors.Join(db.read.Close(), db.write.Close())
	db.unlockOnce.Do(func() { err = errors.Join(err, db.unlock()) })
	return err
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.write.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		version, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", name)
		}
		var n int
		if err := db.write.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := db.write.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations(version) VALUES (?)`, version); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

type scanner interface{ Scan(dest ...any) error }

// Reservation returns the stored reservation or taskrouter.ErrNotFound.
func (db *DB) Reservation(ctx context.Context, sid string) (taskrouter.Reservation, error) {
	if r, ok := db.cachedReservation(sid); ok {
		return r, nil
	}
	return db.readReservation(ctx, sid)
}

// readReservation is Reservation from the file, without the cache.
func (db *DB) readReservation(ctx context.Context, sid string) (taskrouter.Reservation, error) {
	r, err := scanReservation(db.r.reservation.QueryRowContext(context.WithoutCancel(ctx), sid))
	if errors.Is(err, sql.ErrNoRows) {
		return r, taskrouter.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("reading reservation %s: %w", sid, err)
	}
	return r, nil
}

// TaskReservations returns the task's reservations, oldest first (for operators, the demo and tests).
func (db *DB) TaskReservations(ctx context.Context, taskSID string) ([]taskrouter.Reservation, error) {
	out, err := scanReservations(db.read.QueryContext(ctx, `SELECT `+resSQL.columns+` FROM reservations WHERE task_sid = ? ORDER BY created_at, sid`, taskSID))
	if err != nil {
		return nil, fmt.Errorf("reading reservations of task %s: %w", taskSID, err)
	}
	return out, nil
}

// OpenReservations returns up to limit reservations the reconciler watches (pending, dialing,
// ringing, confirming, bridging, accepted) with an agent leg, created before before, oldest first. One
// without a leg yet is its dial job's, which the dispatcher resolves.
func (db *DB) OpenReservations(ctx context.Context, before time.Time, limit int) ([]taskrouter.Reservation, error) {
	out, err := scanReservations(db.read.QueryContext(ctx, `SELECT `+resSQL.columns+` FROM reservations
		WHERE state IN ('pending', 'dialing', 'ringing', 'confirming', 'bridging', 'accepted') AND call_sid != '' AND created_at < ?
		ORDER BY created_at, sid LIMIT ?`,
		millis(before), limit))
	if err != nil {
		return nil, fmt.Errorf("reading open reservations: %w", err)
	}
	return out, nil
}

// scanReservations reads every row a reservation query returned, closing the rows.
func scanReservations(rows *sql.Rows, err error) ([]taskrouter.Reservation, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []taskrouter.Reservation
	for rows.Next() {
		r, err := scanReservation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// CallOwner returns the reservation whose agent leg callSID is, or "".
func (db *DB) CallOwner(ctx context.Context, callSID string) (string, error) {
	var sid string
	err := db.r.callOwner.QueryRowContext(context.WithoutCancel(ctx), callSID).Scan(&sid)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return sid, err
}

// UpdateReservation runs fn on the reservation inside one write transaction.
func (db *DB) UpdateReservation(ctx context.Context, sid, taskSID, eventSID string, fn taskrouter.UpdateFunc) (taskrouter.Reservation, bool, error) {
	var out taskrouter.Reservation
	var dup bool
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if dup, err = db.seen(ctx, tx, eventSID, db.now()); err != nil || dup {
			if dup {
				out, err = db.reservationTx(ctx, tx, sid)
				if errors.Is(err, taskrouter.ErrNotFound) {
					err = nil
				}
			}
			return err
		}
		snap := taskrouter.Snapshot{}
		snap.Reservation, err = db.reservationTx(ctx, tx, sid)
		switch {
		case err == nil:
			snap.Found = true
		case errors.Is(err, taskrouter.ErrNotFound):
		default:
			return err
		}
		if snap.Found {
			taskSID = snap.Reservation.TaskSID
		}
		if snap.TaskCanceled, err = db.canceledReason(ctx, tx, taskSID); err != nil {
			return err
		}
		out, err = db.apply(ctx, tx, sid, snap, fn)
		return err
	})
	return out, dup, err
}

// UpdateTask runs fn on each reservation of the task; a canceledReason also records the task
// as canceled.
func (db *DB) UpdateTask(ctx context.Context, taskSID, reason, eventSID string, fn taskrouter.UpdateFunc) (bool, error) {
	var dup bool
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var err error
		if dup, err = db.seen(ctx, tx, eventSID, db.now()); err != nil || dup {
			return err
		}
		if reason != "" {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO canceled_tasks(task_sid, reason, at) VALUES (?, ?, ?)`,
				taskSID, reason, millis(db.now())); err != nil {
				return err
			}
		}
		list, err := scanReservations(tx.QueryContext(ctx, `SELECT `+resSQL.columns+` FROM reservations WHERE task_sid = ?`, taskSID))
		if err != nil {
			return err
		}
		for _, r := range list {
			if _, err := db.apply(ctx, tx, r.SID, taskrouter.Snapshot{Reservation: r, Found: true, TaskCanceled: reason}, fn); err != nil {
				return err
			}
		}
		return nil
	})
	return dup, err
}

// apply runs fn on the snapshot of reservation sid and stores what it decides.
func (db *DB) apply(ctx context.Context, tx *sql.Tx, sid string, snap taskrouter.Snapshot, fn taskrouter.UpdateFunc) (taskrouter.Reservation, error) {
	change, err := fn(snap)
	if err != nil {
		return snap.Reservation, err
	}
	out := snap.Reservation
	if change.Reservation != nil {
		out = *change.Reservation
		if err := db.save(ctx, tx, sid, snap, change.Reservation); err != nil {
			return snap.Reservation, err
		}
	}
	if err := db.queueJobs(ctx, tx, change.Jobs, out.SID); err != nil {
		return snap.Reservation, err
	}
	return out, nil
}

// queueJobs inserts jobs in the write transaction; a job without a reservation gets
// reservationSID, one without a NotBefore is due now.
func (db *DB) queueJobs(ctx context.Context, tx *sql.Tx, jobs []taskrouter.Job, reservationSID string) error {
	if len(jobs) > 0 {
		db.noteQueued(ctx)
	}
	for _, j := range jobs {
		if j.ReservationSID == "" {
			j.ReservationSID = reservationSID
		}
		if j.NotBefore.IsZero() {
			j.NotBefore = db.now()
		}
		if _, err := db.txStmt(ctx, tx, db.w.insertJob).ExecContext(ctx, string(j.Kind), j.ReservationSID, j.CallSID, millis(j.NotBefore), millis(j.Deadline), millis(db.now())); err != nil {
			return fmt.Errorf("queueing %s job: %w", j.Kind, err)
		}
	}
	return nil
}

// save writes r with the cheapest statement that will do, given the snapshot of reservation sid
// it was decided from.
func (db *DB) save(ctx context.Context, tx *sql.Tx, sid string, snap taskrouter.Snapshot, r *taskrouter.Reservation) error {
	switch {
	case !snap.Found && r.SID == sid:
		return db.storeReservation(ctx, tx, db.w.upsert, resSQL.upsert, r, r) // a new row: r's fixed columns
	case !snap.Found || r.SID != snap.Reservation.SID:
		// Another reservation than the one read: it may exist, its fixed columns unknown here.
		return db.storeReservation(ctx, tx, db.w.upsert, resSQL.upsert, r, nil)
	}
	// A copy, so that only this path pays for the heap allocation sameRow's pointer costs.
	old := snap.Reservation
	if sameRow(&old, r) {
		// Stored in this transaction with its task and call unchanged: the indexes are left alone.
		return db.storeReservation(ctx, tx, db.w.updateState, resSQL.updateState, r, &old)
	}
	// Stored in this transaction: a plain UPDATE, cheaper than the upsert.
	return db.storeReservation(ctx, tx, db.w.update, resSQL.update, r, &old)
}

// seen records eventSID and reports whether it was recorded before.
func (db *DB) seen(ctx context.Context, tx *sql.Tx, eventSID string, now time.Time) (bool, error) {
	if eventSID == "" {
		return false, nil
	}
	res, err := db.txStmt(ctx, tx, db.w.insertEvent).ExecContext(ctx, eventSID, millis(now))
	if err != nil {
		return false, fmt.Errorf("recording event %s: %w", eventSID, err)
	}
	n, err := res.RowsAffected()
	return n == 0, err
}

func (db *DB) reservationTx(ctx context.Context, tx *sql.Tx, sid string) (taskrouter.Reservation, error) {
	r, err := scanReservation(db.txStmt(ctx, tx, db.w.reservation).QueryRowContext(ctx, sid))
	if errors.Is(err, sql.ErrNoRows) {
		return r, taskrouter.ErrNotFound
	}
	return r, err
}

// canceledReason returns why the task was canceled, or "" when it is not known to be.
func (db *DB) canceledReason(ctx context.Context, tx *sql.Tx, taskSID string) (string, error) {
	if taskSID == "" {
		return "", nil
	}
	var reason string
	err := db.txStmt(ctx, tx, db.w.canceledReason).QueryRowContext(ctx, taskSID).Scan(&reason)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return reason, err
}

// storeReservation runs s, prepared from b, with r's values; the row's fixed columns are then
// those of stored (nil: not known, and the cache forgets the row).
func (db *DB) storeReservation(ctx context.Context, tx *sql.Tx, s *sql.Stmt, b boundStmt, r, stored *taskrouter.Reservation) error {
	if _, err := db.txStmt(ctx, tx, s).ExecContext(ctx, b.args(r)...); err != nil {
		return fmt.Errorf("storing reservation %s: %w", r.SID, err)
	}
	db.noteWritten(ctx, r, stored)
	return nil
}
