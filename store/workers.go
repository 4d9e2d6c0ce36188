package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"queuebridge/taskrouter"
)

// UpdateWorker runs fn on the worker's record inside one write transaction, storing what it
// decides and queuing its jobs with it (REST_AFTER_MISSES: the count of missed legs, and the
// rest and return jobs).
func (db *DB) UpdateWorker(ctx context.Context, sid string, fn taskrouter.WorkerUpdateFunc) (taskrouter.WorkerRecord, error) {
	var out taskrouter.WorkerRecord
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		w := taskrouter.WorkerRecord{SID: sid}
		found := true
		err := tx.QueryRowContext(ctx, `SELECT misses, last_reservation, rested_at, updated_at FROM workers WHERE sid = ?`, sid).
			Scan(&w.Misses, &w.LastReservation, (*millisTime)(&w.RestedAt), (*millisTime)(&w.UpdatedAt))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			found = false
		case err != nil:
			return fmt.Errorf("reading worker %s: %w", sid, err)
		}
		change, err := fn(w, found)
		if err != nil {
			return err
		}
		out = w
		if nw := change.Worker; nw != nil {
			if nw.SID != sid {
				return fmt.Errorf("worker %s: the update returned worker %q", sid, nw.SID)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO workers(sid, misses, last_reservation, rested_at, updated_at)
				VALUES (?, ?, ?, ?, ?) ON CONFLICT(sid) DO UPDATE SET misses = excluded.misses,
				last_reservation = excluded.last_reservation, rested_at = excluded.rested_at, updated_at = excluded.updated_at`,
				sid, nw.Misses, nw.LastReservation, millis(nw.RestedAt), millis(nw.UpdatedAt)); err != nil {
				return fmt.Errorf("storing worker %s: %w", sid, err)
			}
			out = *nw
		}
		for _, j := range change.Jobs {
			if j.ReservationSID == "" {
				return fmt.Errorf("worker %s: a %s job names no reservation", sid, j.Kind)
			}
		}
		return db.queueJobs(ctx, tx, change.Jobs, "")
	})
	if err != nil {
		return taskrouter.WorkerRecord{}, err
	}
	return out, nil
}
