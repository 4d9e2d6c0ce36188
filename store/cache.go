package store

import (
	"context"
	"time"

	"queuebridge/internal/fifo"
	"queuebridge/taskrouter"
)

// The reservation cache. One process owns a SQLite database (the lock file), and every write of a
// reservation goes through its group-commit writer: so the writer can keep, in memory, every
// reservation it committed, and a read of one of them needs no query. This is the read Twilio's
// retries of /dial-queue make (the reservation was decided by the first request, which wrote
// it), and the dispatcher's read of a reservation whose job it just queued.
//
// Only the writer fills the cache, after its commit succeeded; a read that misses queries the
// database and does not fill it (a read racing a commit could put the older row back). A commit
// that failed, or whose file check failed, forgets the rows it wrote. The cache holds a
// reservation for cacheAge after it was first written: Twilio's retries of a webhook come within
// about 15 s of the first attempt (the overrides' ct=2000, rt=4000, rc=3), and the dispatcher
// reads a reservation right after the write that queued its job. cacheSize bounds it whatever
// the rate (about 0.7 KiB a reservation: 23 MiB at most; at 100 new reservations a second, 2 MiB).
const (
	cacheAge  = 30 * time.Second
	cacheSize = 32768
)

// writeOpKey is the context key of the write a transaction function runs for (writer.go).
type writeOpKey struct{}

// WithoutCache turns the reservation cache off: every read queries the database (the
// conformance suite runs both ways).
func WithoutCache() Option { return func(db *DB) { db.cache = nil } }

// cachedReservation returns the reservation as last committed by this process, if the cache holds it.
func (db *DB) cachedReservation(sid string) (taskrouter.Reservation, bool) {
	if db.cache == nil {
		return taskrouter.Reservation{}, false
	}
	return db.cache.Get(sid)
}

// written is a reservation a write stored: the row as a read will return it, or only its SID
// when the row is not known exactly (forget).
type written struct {
	row    taskrouter.Reservation
	forget bool
}

// noteWritten records that the transaction of the write running in ctx stored r, its fixed
// columns (created_at) being stored's (nil: not known).
func (db *DB) noteWritten(ctx context.Context, r, stored *taskrouter.Reservation) {
	op, ok := ctx.Value(writeOpKey{}).(*writeOp)
	if !ok || db.cache == nil {
		return
	}
	var row taskrouter.Reservation
	ok = stored != nil
	if ok {
		row, ok = asStored(r, stored)
	}
	if !ok {
		op.written = append(op.written, written{row: taskrouter.Reservation{SID: r.SID}, forget: true})
		return
	}
	op.written = append(op.written, written{row: row})
}

// cacheWritten applies a batch's writes to the cache once its commit is known: committed, the
// rows its successful writes stored, in order; not committed (or not known to be durable),
// those rows are forgotten.
func (db *DB) cacheWritten(batch []*writeOp, committed bool) {
	if db.cache == nil {
		return
	}
	for _, op := range batch {
		for i := range op.written {
			w := &op.written[i]
			if committed && op.err == nil && !w.forget {
				db.cache.Put(w.row.SID, w.row)
			} else {
				db.cache.Delete(w.row.SID)
			}
		}
		op.written = nil
	}
}

func newCache() *fifo.Cache[string, taskrouter.Reservation] {
	return fifo.New[string, taskrouter.Reservation](cacheSize, cacheAge)
}
