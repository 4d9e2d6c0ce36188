package postgres

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"queuebridge/taskrouter"
)

// The dispatcher's bookkeeping (claims, finished and rescheduled jobs, lease extensions) is
// committed without waiting for the WAL flush (synchronous_commit off for that one transaction):
// losing it in a crash of PostgreSQL costs nothing (a claim lost is claimed again, a finished
// job run again finds its work done, a lost schedule or lease ends and the job is claimed
// again), as the SQLite store's lazy commits. Transitions and the jobs they queue stay durable.
// set_config(…, true) is the transaction-local SET, in the same statement: one round trip.
const lazyCommit = `(SELECT set_config('synchronous_commit', 'off', true)) IS NOT NULL`

// ClaimJobs marks up to limit due jobs running, each leased until now+lease, and returns them,
// oldest due first. A running job whose lease has ended is due again, one attempt more. Jobs
// another transaction is claiming are skipped, not waited for.
func (db *DB) ClaimJobs(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]taskrouter.Job, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	rows, err := db.pool.Query(ctx, `WITH due AS (
			SELECT id FROM jobs
			WHERE (state = 'queued' AND not_before <= $1) OR (state = 'running' AND lease_until <= $1)
			ORDER BY not_before, id LIMIT $3
			FOR UPDATE SKIP LOCKED)
		UPDATE jobs SET attempts = jobs.attempts + (jobs.state = 'running')::int, state = 'running', lease_until = $1 + $2
		FROM due WHERE jobs.id = due.id AND `+lazyCommit+`
		RETURNING jobs.id, jobs.kind, jobs.reservation_sid, jobs.call_sid, jobs.attempts, jobs.not_before, jobs.deadline, jobs.last_error`,
		millis(now), lease.Milliseconds(), limit)
	if err != nil {
		db.noteFault(err)
		return nil, fmt.Errorf("claiming jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (taskrouter.Job, error) {
		var j taskrouter.Job
		var kind string
		var notBefore, deadline int64
		err := row.Scan(&j.ID, &kind, &j.ReservationSID, &j.CallSID, &j.Attempts, &notBefore, &deadline, &j.LastErr)
		j.Kind, j.NotBefore, j.Deadline = taskrouter.JobKind(kind), fromMillis(notBefore), fromMillis(deadline)
		return j, err
	})
	if err != nil {
		db.noteFault(err)
		return nil, fmt.Errorf("claiming jobs: %w", err)
	}
	sort.Slice(jobs, func(a, b int) bool {
		if !jobs[a].NotBefore.Equal(jobs[b].NotBefore) {
			return jobs[a].NotBefore.Before(jobs[b].NotBefore)
		}
		return jobs[a].ID < jobs[b].ID
	})
	return jobs, nil
}

// FinishJob deletes a job that is done or given up. The outcome is for the log, kept by the caller.
func (db *DB) FinishJob(ctx context.Context, id int64, _ string) error {
	_, err := db.exec(ctx, `DELETE FROM jobs WHERE id = $1 AND `+lazyCommit, id)
	if err != nil {
		return fmt.Errorf("finishing job %d: %w", id, err)
	}
	return nil
}

// RetryJob queues the job again at notBefore, counting the attempt.
func (db *DB) RetryJob(ctx context.Context, id int64, notBefore time.Time, lastErr string) error {
	_, err := db.exec(ctx, `UPDATE jobs SET state = 'queued', attempts = attempts + 1, not_before = $1, last_error = $2
		WHERE id = $3 AND `+lazyCommit, millis(notBefore), lastErr, id)
	if err != nil {
		return fmt.Errorf("rescheduling job %d: %w", id, err)
	}
	return nil
}

// ExtendLeases moves the leases of the running jobs ids to until (never back): the replica
// running them is alive.
func (db *DB) ExtendLeases(ctx context.Context, ids []int64, until time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := db.exec(ctx, `UPDATE jobs SET lease_until = $2
		WHERE id = ANY($1) AND state = 'running' AND lease_until < $2 AND `+lazyCommit, ids, millis(until))
	if err != nil {
		return fmt.Errorf("extending job leases: %w", err)
	}
	return nil
}

// ResumeJobs queues again the running jobs whose lease has ended: with several replicas, a job
// whose lease holds is being run by a live one, and must not be taken from it. (ClaimJobs claims
// those jobs anyway; resuming them at start only spares them the wait for the next claim pass.)
func (db *DB) ResumeJobs(ctx context.Context) (int, error) {
	n, err := db.exec(ctx, `UPDATE jobs SET state = 'queued' WHERE state = 'running' AND lease_until <= $1`, millis(db.now()))
	if err != nil {
		return 0, fmt.Errorf("resuming jobs: %w", err)
	}
	return n, nil
}

// NextJobAt returns when the earliest queued job is due, or the earliest lease of a running
// job ends.
func (db *DB) NextJobAt(ctx context.Context) (time.Time, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var at *int64
	err := db.pool.QueryRow(ctx, `SELECT least(
		(SELECT min(not_before) FROM jobs WHERE state = 'queued'),
		(SELECT min(lease_until) FROM jobs WHERE state = 'running'))`).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("reading the next job's time: %w", err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return fromMillis(*at), true, nil
}

// PendingJobs counts queued and running jobs.
func (db *DB) PendingJobs(ctx context.Context) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM jobs`).Scan(&n); err != nil {
		return 0, fmt.Errorf("counting jobs: %w", err)
	}
	return n, nil
}

// exec runs one statement (its own transaction) and returns the rows it changed.
func (db *DB) exec(ctx context.Context, query string, args ...any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	tag, err := db.pool.Exec(ctx, query, args...)
	db.noteFault(err)
	return int(tag.RowsAffected()), err
}
