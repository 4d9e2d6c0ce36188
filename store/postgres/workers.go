package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"queuebridge/taskrouter"
)

// UpdateWorker runs fn on the worker's record inside one transaction, under the worker's
// advisory lock (so two replicas counting misses of one worker apply one after the other, and
// a record not stored yet is created once), storing what it decides and queueing its jobs.
func (db *DB) UpdateWorker(ctx context.Context, sid string, fn taskrouter.WorkerUpdateFunc) (taskrouter.WorkerRecord, error) {
	var out taskrouter.WorkerRecord
	err := db.inTxQueuing(ctx, func(ctx context.Context, tx pgx.Tx) (bool, error) {
		if err := db.lock(ctx, tx, lockWorker, sid); err != nil {
			return false, err
		}
		w := taskrouter.WorkerRecord{SID: sid}
		found := true
		err := tx.QueryRow(ctx, `SELECT misses, last_reservation, rested_at, updated_at FROM workers WHERE sid = $1`, sid).
			Scan(&w.Misses, &w.LastReservation, (*millisTime)(&w.RestedAt), (*millisTime)(&w.UpdatedAt))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			found = false
		case err != nil:
			return false, fmt.Errorf("reading worker %s: %w", sid, err)
		}
		change, err := fn(w, found)
		if err != nil {
			return false, err
		}
		out = w
		if nw := change.Worker; nw != nil {
			if nw.SID != sid {
				return false, fmt.Errorf("worker %s: the update returned worker %q", sid, nw.SID)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO workers (sid, misses, last_reservation, rested_at, updated_at)
				VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sid) DO UPDATE SET misses = excluded.misses,
				last_reservation = excluded.last_reservation, rested_at = excluded.rested_at, updated_at = excluded.updated_at`,
				sid, nw.Misses, nw.LastReservation, millis(nw.RestedAt), millis(nw.UpdatedAt)); err != nil {
				return false, fmt.Errorf("storing worker %s: %w", sid, err)
			}
			out = *nw
		}
		for _, j := range change.Jobs {
			if j.ReservationSID == "" {
				return false, fmt.Errorf("worker %s: a %s job names no reservation", sid, j.Kind)
			}
		}
		if err := db.queueJobs(ctx, tx, change.Jobs, ""); err != nil {
			return false, err
		}
		return len(change.Jobs) > 0, nil
	})
	if err != nil {
		return taskrouter.WorkerRecord{}, err
	}
	return out, nil
}
