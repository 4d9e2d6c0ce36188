package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"queuebridge/taskrouter"
)

// ClaimJobs marks up to limit due jobs running, each leased until now+lease, and returns them,
// oldest due first. A running job whose lease has ended is due again, one attempt more.
func (db *DB) ClaimJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]taskrouter.Job, error) {
	var jobs []taskrouter.Job
	err := db.inLazyTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		rows, err := db.txStmt(ctx, tx, db.w.claimJobs).QueryContext(ctx, millis(now), lease.Milliseconds(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var j taskrouter.Job
			var kind string
			var notBefore, deadline int64
			if err := rows.Scan(&j.ID, &kind, &j.ReservationSID, &j.CallSID, &j.Attempts, &notBefore, &deadline, &j.LastErr); err != nil {
				return err
			}
			j.Kind, j.NotBefore, j.Deadline = taskrouter.JobKind(kind), fromMillis(notBefore), fromMillis(deadline)
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claiming jobs: %w", err)
	}
	return jobs, nil
}

// FinishJob deletes a job that is done or given up. The outcome is for the log, kept by the caller.
func (db *DB) FinishJob(ctx context.Context, id int64, _ string) error {
	return db.inLazyTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := db.txStmt(ctx, tx, db.w.deleteJob).ExecContext(ctx, id)
		return err
	})
}

// RetryJob queues the job again at notBefore, counting the attempt.
func (db *DB) RetryJob(ctx context.Context, id int64, notBefore time.Time, lastErr string) error {
	return db.inLazyTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := db.txStmt(ctx, tx, db.w.retryJob).ExecContext(ctx, millis(notBefore), lastErr, id)
		return err
	})
}

// ExtendLeases moves the leases of the running jobs ids to until (never back).
func (db *DB) ExtendLeases(ctx context.Context, ids []int64, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	return db.inLazyTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := db.txStmt(ctx, tx, db.w.extendLease).ExecContext(ctx, millis(until), id); err != nil {
				return err
			}
		}
		return nil
	})
}

// ResumeJobs queues again the jobs a stopped process left running: one process owns the
// database (the lock file), so every running job is a stopped process's.
func (db *DB) ResumeJobs(ctx context.Context) (int, error) {
	return db.execCount(ctx, `UPDATE jobs SET state = 'queued' WHERE state = 'running'`)
}

// execCount runs one statement in a lazy transaction and returns the rows it changed.
func (db *DB) execCount(ctx context.Context, query string, args ...any) (int, error) {
	var n int64
	err := db.inLazyTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}

// NextJobAt returns when the earliest queued job is due, or the earliest lease of a running
// job ends.
func (db *DB) NextJobAt(ctx context.Context) (time.Time, bool, error) {
	var at sql.NullInt64
	err := db.r.nextJobAt.QueryRowContext(context.WithoutCancel(ctx)).Scan(&at)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, err
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromMillis(at.Int64), true, nil
}

// PendingJobs counts queued and running jobs.
func (db *DB) PendingJobs(ctx context.Context) (int, error) {
	var n int
	err := db.r.pendingJobs.QueryRowContext(context.WithoutCancel(ctx)).Scan(&n)
	return n, err
}

// PruneEvents forgets processed event SIDs older than before (TaskRouter stops retrying long
// before), keeping the table small.
func (db *DB) PruneEvents(ctx context.Context, before time.Time) (int, error) {
	return db.execCount(ctx, `DELETE FROM events WHERE at < ?`, millis(before))
}
