package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"queuebridge/taskrouter"
)

// The hot path, UpdateReservation (every TaskRouter event and Voice webhook about a
// reservation), sends its transaction in two round trips instead of one per statement: BEGIN,
// the event's insert, the advisory locks and the reads go in one pipelined batch; the update
// function decides; the writes, the NOTIFY and COMMIT go in a second. The statements and their
// order are those of the one-statement-at-a-time path (see the package comment): PostgreSQL
// runs a pipeline's statements one after the other, each after the previous one's locks are
// held, so a read in the first batch still sees every commit made before its locks were granted.
// On loopback a round trip costs both processes a wake-up and a few syscalls; with ten of them
// per webhook, PostgreSQL and the bridge spent more CPU on round trips than on work.

// rollbackTimeout bounds the ROLLBACK sent after a failed pipelined transaction.
const rollbackTimeout = 2 * time.Second

// pipelined runs fn on a pooled connection and, when fn leaves a transaction open (it failed
// midway, or a batch did), rolls it back before the connection goes back to the pool. It
// retries like inTx when PostgreSQL aborted the transaction to keep it serializable.
func (db *DB) pipelined(ctx context.Context, fn func(ctx context.Context, conn *pgxpool.Conn) error) error {
	for attempt := 1; ; attempt++ {
		err := db.pipelinedOnce(ctx, fn)
		db.noteFault(err)
		if err == nil || attempt == maxAttempts || !retryable(err) {
			return err
		}
	}
}

func (db *DB) pipelinedOnce(ctx context.Context, fn func(ctx context.Context, conn *pgxpool.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	err = fn(ctx, conn)
	if pc := conn.Conn().PgConn(); !pc.IsClosed() && pc.TxStatus() != 'I' {
		// Left in a transaction: roll it back, or the pool would have to close the connection.
		rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		_, rerr := conn.Exec(rctx, "ROLLBACK")
		rcancel()
		if err == nil {
			err = fmt.Errorf("transaction left open: %v", rerr)
		}
	}
	return err
}

// updateReservationPipelined is UpdateReservation's transaction in two round trips (three when
// the stored reservation belongs to another task than the one given, which the first batch
// could not lock; four for a duplicate event, which only reads).
func (db *DB) updateReservationPipelined(ctx context.Context, sid, taskSID, eventSID string, fn taskrouter.UpdateFunc) (taskrouter.Reservation, bool, error) {
	var out taskrouter.Reservation
	var dup, queued bool
	err := db.pipelined(ctx, func(ctx context.Context, conn *pgxpool.Conn) error {
		out, dup, queued = taskrouter.Reservation{}, false, false
		b := &pgx.Batch{}
		b.Queue("BEGIN")
		if eventSID != "" {
			b.Queue(`INSERT INTO events (sid, at) VALUES ($1, $2) ON CONFLICT (sid) DO NOTHING`, eventSID, millis(db.now()))
		}
		b.Queue(`SELECT pg_advisory_xact_lock($1::int4, $2::int4)`, lockReservation, db.key32(sid))
		db.queueSnapshot(b, sid, taskSID, taskSID != "")
		snap, err := readFirstBatch(conn.SendBatch(ctx, b), sid, taskSID, eventSID, &dup)
		if err != nil {
			return err
		}
		if dup {
			out = snap.Reservation
			_, err := conn.Exec(ctx, "COMMIT")
			return err
		}
		if snap.Found && snap.Reservation.TaskSID != taskSID {
			// Stored under another task than the one given (or none was given): lock that one
			// too and read again under both, as lockReservation does.
			if snap, err = db.relock(ctx, conn, sid, taskSID, snap.Reservation.TaskSID); err != nil {
				return err
			}
		}
		change, err := fn(snap)
		if err != nil {
			return err
		}
		out = snap.Reservation
		w := &pgx.Batch{}
		if r := change.Reservation; r != nil {
			out = *r
			stmt := resSQL.update
			if !snap.Found || r.SID != snap.Reservation.SID {
				stmt = resSQL.upsert
			}
			w.Queue(stmt.query, stmt.args(r)...)
		}
		for _, j := range change.Jobs {
			q, args := db.jobInsert(j, out.SID)
			w.Queue(q, args...)
		}
		if queued = len(change.Jobs) > 0; queued {
			w.Queue(`SELECT pg_notify($1, $2)`, db.channel, db.id)
		}
		w.Queue("COMMIT")
		if err := conn.SendBatch(ctx, w).Close(); err != nil {
			return fmt.Errorf("storing reservation %s: %w", sid, err)
		}
		return nil
	})
	if queued {
		db.tick() // this store's own dispatcher, at once, after an error too (inTxQueuing)
	}
	return out, dup, err
}

// readFirstBatch reads the first batch's results in order: BEGIN, the event's insert (whether it
// was a duplicate), the reservation's lock, then the snapshot (queueSnapshot).
func readFirstBatch(br pgx.BatchResults, sid, taskSID, eventSID string, dup *bool) (taskrouter.Snapshot, error) {
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return taskrouter.Snapshot{}, fmt.Errorf("beginning the update of reservation %s: %w", sid, err)
	}
	if eventSID != "" {
		tag, err := br.Exec()
		if err != nil {
			return taskrouter.Snapshot{}, fmt.Errorf("recording event %s: %w", eventSID, err)
		}
		*dup = tag.RowsAffected() == 0
	}
	if _, err := br.Exec(); err != nil {
		return taskrouter.Snapshot{}, fmt.Errorf("locking %s: %w", sid, err)
	}
	return readSnapshot(br, sid, taskSID, taskSID != "")
}

// queueSnapshot queues the reads of a snapshot under task's lock: the lock (when lock is set),
// the reservation, and the task's cancel.
func (db *DB) queueSnapshot(b *pgx.Batch, sid, task string, lock bool) {
	if lock {
		b.Queue(`SELECT pg_advisory_xact_lock($1::int4, $2::int4)`, lockTask, db.key32(task))
	}
	b.Queue(`SELECT `+resSQL.columns+` FROM reservations WHERE sid = $1`, sid)
	b.Queue(`SELECT reason FROM canceled_tasks WHERE task_sid = $1`, task)
}

// readSnapshot reads what queueSnapshot queued, and closes the batch.
func readSnapshot(br pgx.BatchResults, sid, task string, locked bool) (taskrouter.Snapshot, error) {
	defer br.Close()
	var snap taskrouter.Snapshot
	if locked {
		if _, err := br.Exec(); err != nil {
			return snap, fmt.Errorf("locking %s: %w", task, err)
		}
	}
	r, err := scanReservation(br.QueryRow())
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return snap, fmt.Errorf("reading reservation %s: %w", sid, err)
	default:
		snap.Reservation, snap.Found = r, true
	}
	if err := br.QueryRow().Scan(&snap.TaskCanceled); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return snap, fmt.Errorf("reading the cancel of task %s: %w", task, err)
	}
	return snap, br.Close()
}

// relock locks the task the stored reservation names and reads the snapshot again under it, in
// one batch, following the reservation if it moved meanwhile (at most maxTaskMoves times).
func (db *DB) relock(ctx context.Context, conn *pgxpool.Conn, sid, given, stored string) (taskrouter.Snapshot, error) {
	locked := map[string]bool{}
	if given != "" {
		locked[given] = true
	}
	task := stored
	for range maxTaskMoves {
		b := &pgx.Batch{}
		lock := task != "" && !locked[task]
		db.queueSnapshot(b, sid, task, lock)
		snap, err := readSnapshot(conn.SendBatch(ctx, b), sid, task, lock)
		if err != nil {
			return snap, err
		}
		locked[task] = true
		now := given // the task the snapshot belongs to
		if snap.Found {
			now = snap.Reservation.TaskSID
		}
		switch {
		case now == task:
			return snap, nil
		case now == "": // not stored, and no task given
			snap.TaskCanceled = ""
			return snap, nil
		}
		task = now // moved while it was read (or not stored any more): read again under its task
	}
	return taskrouter.Snapshot{}, fmt.Errorf("reservation %s: moved between tasks %d times while it was being updated", sid, maxTaskMoves)
}
