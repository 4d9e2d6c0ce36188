package store

import (
	"context"

	"queuebridge/taskrouter"
)

// Queued jobs. The dispatcher claims jobs when JobsQueued ticks: once a commit that queued jobs
// is durable, and for no other write, so that a webhook that queues nothing (most of them) does
// not cost a claim through the writer. One process owns the file, so its own commits are all
// there is to hear.

var _ taskrouter.JobSignal = (*DB)(nil)

// JobsQueued returns a channel that receives a value (coalesced: a full buffer already says
// "claim") after each commit that queued jobs.
func (db *DB) JobsQueued() <-chan struct{} { return db.queued }

// noteQueued records that the write running in ctx queues jobs.
func (db *DB) noteQueued(ctx context.Context) {
	if op, ok := ctx.Value(writeOpKey{}).(*writeOp); ok {
		op.queued = true
	}
}

// signalQueued ticks JobsQueued when a committed batch has a successful write that queued jobs.
func (db *DB) signalQueued(batch []*writeOp, committed bool) {
	if !committed {
		return
	}
	for _, op := range batch {
		if op.queued && op.err == nil {
			select {
			case db.queued <- struct{}{}:
			default:
			}
			return
		}
	}
}
