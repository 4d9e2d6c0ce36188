package store

import (
	"context"
	"database/sql"
	"fmt"
)

// The statements of the hot paths, prepared once per connection: SQLite parses each only once,
// not at every request.

// writeStmts run inside the write transaction (see txStmt).
type writeStmts struct {
	savepoint, release, rollbackTo *sql.Stmt
	reservation, canceledReason    *sql.Stmt
	insertEvent, upsert, update    *sql.Stmt
	updateState, insertJob         *sql.Stmt
	claimJobs, deleteJob, retryJob *sql.Stmt
	extendLease                    *sql.Stmt
}

// readStmts run on the read pool.
type readStmts struct {
	reservation, callOwner, nextJobAt, pendingJobs *sql.Stmt
}

// prepareAll prepares every statement of the store on its pool.
func (db *DB) prepareAll(ctx context.Context) error {
	w, r := &db.w, &db.r
	for _, p := range []struct {
		pool  *sql.DB
		dst   **sql.Stmt
		query string
	}{
		{db.write, &w.savepoint, `SAVEPOINT w`},
		{db.write, &w.release, `RELEASE w`},
		{db.write, &w.rollbackTo, `ROLLBACK TO w`},
		{db.write, &w.reservation, `SELECT ` + resSQL.columns + ` FROM reservations WHERE sid = ?`},
		{db.write, &w.canceledReason, `SELECT reason FROM canceled_tasks WHERE task_sid = ?`},
		{db.write, &w.insertEvent, `INSERT OR IGNORE INTO events(sid, type, at) VALUES (?, '', ?)`},
		{db.write, &w.upsert, resSQL.upsert.query},
		{db.write, &w.update, resSQL.update.query},
		{db.write, &w.updateState, resSQL.updateState.query},
		{db.write, &w.insertJob, `INSERT INTO jobs(kind, reservation_sid, call_sid, not_before, deadline, created_at) VALUES (?, ?, ?, ?, ?, ?)`},
		{db.write, &w.claimJobs, `UPDATE jobs SET attempts = attempts + (state = 'running'), state = 'running', lease_until = ?1 + ?2
			WHERE id IN (SELECT id FROM jobs
				WHERE (state = 'queued' AND not_before <= ?1) OR (state = 'running' AND lease_until <= ?1)
				ORDER BY not_before, id LIMIT ?3)
			RETURNING id, kind, reservation_sid, call_sid, attempts, not_before, deadline, last_error`},
		{db.write, &w.deleteJob, `DELETE FROM jobs WHERE id = ?`},
		{db.write, &w.extendLease, `UPDATE jobs SET lease_until = ?1 WHERE id = ?2 AND state = 'running' AND lease_until < ?1`},
		{db.write, &w.retryJob, `UPDATE jobs SET state = 'queued', attempts = attempts + 1, not_before = ?, last_error = ? WHERE id = ?`},
		{db.read, &r.reservation, `SELECT ` + resSQL.columns + ` FROM reservations WHERE sid = ?`},
		{db.read, &r.callOwner, `SELECT sid FROM reservations WHERE call_sid = ?`},
		{db.read, &r.nextJobAt, `SELECT min(at) FROM (
			SELECT min(not_before) AS at FROM jobs WHERE state = 'queued'
			UNION ALL SELECT min(lease_until) FROM jobs WHERE state = 'running')`},
		{db.read, &r.pendingJobs, `SELECT COUNT(*) FROM jobs`},
	} {
		s, err := p.pool.PrepareContext(ctx, p.query)
		if err != nil {
			return fmt.Errorf("preparing %q: %w", p.query, err)
		}
		*p.dst = s
		db.stmts = append(db.stmts, s)
	}
	return nil
}

// txStmt is s bound to the write transaction. The write pool has one connection, on which s
// is already prepared: database/sql reuses that prepared statement.
func (db *DB) txStmt(ctx context.Context, tx *sql.Tx, s *sql.Stmt) *sql.Stmt {
	return tx.StmtContext(ctx, s)
}
