package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"queuebridge/taskrouter"
)

// The classes of transaction advisory locks (the first key of pg_advisory_xact_lock(int, int),
// a key space apart from the session locks' single bigint keys).
const (
	lockReservation int32 = 1
	lockTask        int32 = 2
	lockWorker      int32 = 3
	lockVoicemail   int32 = 4
	// lockSMS serializes the claims of one number's SMS and its marking as unreachable.
	lockSMS int32 = 5
)

// maxTaskMoves bounds how often UpdateReservation follows a reservation that an update of
// another task moved while it waited for its locks (no transition moves a reservation).
const maxTaskMoves = 3

// UpdateReservation applies fn to the reservation under its locks (see the package comment).
func (db *DB) UpdateReservation(ctx context.Context, sid, taskSID, eventSID string, fn taskrouter.UpdateFunc) (taskrouter.Reservation, bool, error) {
	if !db.oneByOne {
		return db.updateReservationPipelined(ctx, sid, taskSID, eventSID, fn)
	}
	return db.updateReservationOneByOne(ctx, sid, taskSID, eventSID, fn)
}

// updateReservationOneByOne is UpdateReservation one statement per round trip (WithoutPipeline).
func (db *DB) updateReservationOneByOne(ctx context.Context, sid, taskSID, eventSID string, fn taskrouter.UpdateFunc) (taskrouter.Reservation, bool, error) {
	var out taskrouter.Reservation
	var dup bool
	err := db.inTxQueuing(ctx, func(ctx context.Context, tx pgx.Tx) (bool, error) {
		var err error
		out = taskrouter.Reservation{}
		if dup, err = db.seen(ctx, tx, eventSID); err != nil || dup {
			if dup {
				out, err = db.reservationTx(ctx, tx, sid)
				if errors.Is(err, taskrouter.ErrNotFound) {
					err = nil
				}
			}
			return false, err
		}
		snap, err := db.lockReservation(ctx, tx, sid, taskSID)
		if err != nil {
			return false, err
		}
		var queued bool
		out, queued, err = db.apply(ctx, tx, snap, fn)
		return queued, err
	})
	return out, dup, err
}

// UpdateTask applies fn to each reservation of the task, under the task's lock; a reason also
// records the task as canceled.
func (db *DB) UpdateTask(ctx context.Context, taskSID, reason, eventSID string, fn taskrouter.UpdateFunc) (bool, error) {
	var dup bool
	err := db.inTxQueuing(ctx, func(ctx context.Context, tx pgx.Tx) (bool, error) {
		var err error
		if dup, err = db.seen(ctx, tx, eventSID); err != nil || dup {
			return false, err
		}
		if err := db.lock(ctx, tx, lockTask, taskSID); err != nil {
			return false, err
		}
		if reason != "" {
			if _, err := tx.Exec(ctx, `INSERT INTO canceled_tasks (task_sid, reason, at) VALUES ($1, $2, $3)
				ON CONFLICT (task_sid) DO NOTHING`, taskSID, reason, millis(db.now())); err != nil {
				return false, fmt.Errorf("recording task %s canceled: %w", taskSID, err)
			}
		}
		list, err := scanReservations(tx.Query(ctx, `SELECT `+resSQL.columns+` FROM reservations
			WHERE task_sid = $1 ORDER BY created_at, sid`, taskSID))
		if err != nil {
			return false, fmt.Errorf("reading reservations of task %s: %w", taskSID, err)
		}
		anyQueued := false
		for _, r := range list {
			_, queued, err := db.apply(ctx, tx, taskrouter.Snapshot{Reservation: r, Found: true, TaskCanceled: reason}, fn)
			if err != nil {
				return false, err
			}
			anyQueued = anyQueued || queued
		}
		return anyQueued, nil
	})
	return dup, err
}

// lockReservation locks the reservation and its task, and returns the snapshot read under both
// locks: the stored reservation, and its task's cancel (the stored task's, else taskSID's).
func (db *DB) lockReservation(ctx context.Context, tx pgx.Tx, sid, taskSID string) (taskrouter.Snapshot, error) {
	if err := db.lock(ctx, tx, lockReservation, sid); err != nil {
		return taskrouter.Snapshot{}, err
	}
	locked := map[string]bool{}
	if taskSID != "" {
		if err := db.lock(ctx, tx, lockTask, taskSID); err != nil {
			return taskrouter.Snapshot{}, err
		}
		locked[taskSID] = true
	}
	for range maxTaskMoves {
		r, err := db.reservationTx(ctx, tx, sid)
		found := err == nil
		if err != nil && !errors.Is(err, taskrouter.ErrNotFound) {
			return taskrouter.Snapshot{}, err
		}
		task := taskSID
		if found {
			task = r.TaskSID
		}
		if (!found && task == "") || locked[task] {
			snap := taskrouter.Snapshot{Reservation: r, Found: found}
			snap.TaskCanceled, err = db.canceledReason(ctx, tx, task)
			return snap, err
		}
		// Read before its task was locked: read again under the lock.
		if err := db.lock(ctx, tx, lockTask, task); err != nil {
			return taskrouter.Snapshot{}, err
		}
		locked[task] = true
	}
	return taskrouter.Snapshot{}, fmt.Errorf("reservation %s: moved between tasks %d times while it was being updated", sid, maxTaskMoves)
}

// lock takes a transaction advisory lock on sid in its class; the commit releases it.
func (db *DB) lock(ctx context.Context, tx pgx.Tx, class int32, sid string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1::int4, $2::int4)`, class, db.key32(sid)); err != nil {
		return fmt.Errorf("locking %s: %w", sid, err)
	}
	return nil
}

// seen records eventSID and reports whether it was recorded before. A concurrent transaction
// recording the same SID makes this one wait for its end: committed, this is a duplicate.
func (db *DB) seen(ctx context.Context, tx pgx.Tx, eventSID string) (bool, error) {
	if eventSID == "" {
		return false, nil
	}
	tag, err := tx.Exec(ctx, `INSERT INTO events (sid, at) VALUES ($1, $2) ON CONFLICT (sid) DO NOTHING`, eventSID, millis(db.now()))
	if err != nil {
		return false, fmt.Errorf("recording event %s: %w", eventSID, err)
	}
	return tag.RowsAffected() == 0, nil
}

func (db *DB) reservationTx(ctx context.Context, tx pgx.Tx, sid string) (taskrouter.Reservation, error) {
	r, err := scanReservation(tx.QueryRow(ctx, `SELECT `+resSQL.columns+` FROM reservations WHERE sid = $1`, sid))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, taskrouter.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("reading reservation %s: %w", sid, err)
	}
	return r, nil
}

// canceledReason returns why the task was canceled, or "" when it is not known to be.
func (db *DB) canceledReason(ctx context.Context, tx pgx.Tx, taskSID string) (string, error) {
	if taskSID == "" {
		return "", nil
	}
	var reason string
	err := tx.QueryRow(ctx, `SELECT reason FROM canceled_tasks WHERE task_sid = $1`, taskSID).Scan(&reason)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading the cancel of task %s: %w", taskSID, err)
	}
	return reason, nil
}

// apply runs fn and stores what it decides; queued says whether it queued jobs.
func (db *DB) apply(ctx context.Context, tx pgx.Tx, snap taskrouter.Snapshot, fn taskrouter.UpdateFunc) (_ taskrouter.Reservation, queued bool, _ error) {
	change, err := fn(snap)
	if err != nil {
		return snap.Reservation, false, err
	}
	out := snap.Reservation
	if r := change.Reservation; r != nil {
		out = *r
		stmt := resSQL.update
		if !snap.Found || r.SID != snap.Reservation.SID {
			stmt = resSQL.upsert
		}
		if _, err := tx.Exec(ctx, stmt.query, stmt.args(r)...); err != nil {
			return snap.Reservation, false, fmt.Errorf("storing reservation %s: %w", r.SID, err)
		}
	}
	if err := db.queueJobs(ctx, tx, change.Jobs, out.SID); err != nil {
		return snap.Reservation, false, err
	}
	return out, len(change.Jobs) > 0, nil
}

// queueJobs inserts jobs in the transaction; a job naming no reservation is resSID's.
func (db *DB) queueJobs(ctx context.Context, tx pgx.Tx, jobs []taskrouter.Job, resSID string) error {
	for _, j := range jobs {
		q, args := db.jobInsert(j, resSID)
		if _, err := tx.Exec(ctx, q, args...); err != nil {
			return fmt.Errorf("queueing %s job: %w", j.Kind, err)
		}
	}
	return nil
}

// jobInsert is the statement that queues j; a job naming no reservation is resSID's.
func (db *DB) jobInsert(j taskrouter.Job, resSID string) (string, []any) {
	if j.ReservationSID == "" {
		j.ReservationSID = resSID
	}
	if j.NotBefore.IsZero() {
		j.NotBefore = db.now()
	}
	return `INSERT INTO jobs (kind, reservation_sid, call_sid, not_before, deadline, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`,
		[]any{string(j.Kind), j.ReservationSID, j.CallSID, millis(j.NotBefore), millis(j.Deadline), millis(db.now())}
}

// inTxQueuing is inTx for a write that may queue jobs (fn says whether it did): the transaction
// then sends NOTIFY, which every other replica's listener receives at the commit, and once it
// committed this store's own listener channel ticks at once (its own notification, which would
// come back through PostgreSQL a round trip later, is ignored: listen.go).
func (db *DB) inTxQueuing(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) (bool, error)) error {
	queued := false
	err := db.inTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		var err error
		if queued, err = fn(ctx, tx); err != nil || !queued {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, db.channel, db.id); err != nil {
			return fmt.Errorf("notifying queued jobs: %w", err)
		}
		return nil
	})
	if queued {
		// Also after an error: the COMMIT may have gone through unacknowledged, and this store
		// ignores its own NOTIFY; a claim that finds nothing costs less than a job left waiting.
		db.tick()
	}
	return err
}
