package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Group commit. Every write goes through one goroutine that owns the single write connection.
// It takes the writes waiting when it is free (up to maxBatch), runs each in its own savepoint
// of one transaction, and commits them together: one fsync for the batch instead of one per
// write. A write's caller is answered only after that commit, so nothing is acknowledged before
// it is durable; a write that fails rolls back its savepoint alone, and a failed commit fails
// every write of the batch. Writes still run one after the other, each seeing the ones before
// it, so every transition stays a compare-and-set. With one writer waiting the batch is that
// writer alone: latency at low load is one commit, as before.

// maxBatch bounds a group commit: enough to amortise the fsync, small enough to keep the
// latency of the first write in the batch low.
const maxBatch = 128

// txFunc is one write. ctx is the caller's, detached from its cancellation: a statement
// interrupted half way would roll back the whole shared transaction, so a write is only
// skipped when its caller has gone before it starts.
type txFunc func(ctx context.Context, tx *sql.Tx) error

type writeOp struct {
	ctx  context.Context
	fn   txFunc
	lazy bool
	err  error
	done chan error
	// written are the reservations this write stored, for the cache once committed (cache.go).
	written []written
	// queued says the write queued jobs: its commit ticks JobsQueued (signal.go).
	queued bool
}

// errClosed answers writes sent after Close.
var errClosed = errors.New("store is closed")

// inTx runs fn in the write transaction of the next group commit and returns once that commit
// is durable (or failed).
func (db *DB) inTx(ctx context.Context, fn txFunc) error {
	return db.write1(ctx, fn, false)
}

// inLazyTx is inTx for the dispatcher's bookkeeping, whose loss in a crash costs nothing: a
// claim (jobs left running are queued again at start), a job finished (a finished job run
// again finds its work done), a retry's schedule. A batch of such writes alone is committed
// without waiting for the disk (synchronous=NORMAL: WAL stays consistent); the next durable
// commit, which syncs the same WAL file, makes it durable too.
func (db *DB) inLazyTx(ctx context.Context, fn txFunc) error {
	return db.write1(ctx, fn, true)
}

func (db *DB) write1(ctx context.Context, fn txFunc, lazy bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	op := &writeOp{ctx: ctx, fn: fn, lazy: lazy, done: make(chan error, 1)}
	select {
	case db.ops <- op:
	case <-db.closing:
		return errClosed
	}
	return <-op.done
}

// writer runs group commits until Close.
func (db *DB) writer() {
	defer close(db.writerDone)
	batch := make([]*writeOp, 0, maxBatch)
	for {
		select {
		case op := <-db.ops:
			batch = append(batch[:0], op)
		case <-db.closing:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case op := <-db.ops:
				batch = append(batch, op)
			default:
				break more
			}
		}
		db.commit(batch)
		clear(batch)
	}
}

// commit runs a batch in one transaction and answers each write. A write is answered nil only
// once its commit succeeded and the database file is still the one opened (health.go): nothing
// is acknowledged that is not durable.
func (db *DB) commit(batch []*writeOp) {
	answer := func(err error) {
		db.cacheWritten(batch, err == nil)
		db.signalQueued(batch, err == nil)
		for _, op := range batch {
			if op.err == nil {
				op.err = err
			}
			op.done <- op.err
		}
	}
	if err := db.removedErr(); err != nil {
		answer(err)
		return
	}
	if err := db.setSynchronous(batch); err != nil {
		answer(err)
		return
	}
	tx, err := db.write.BeginTx(context.Background(), nil)
	if err != nil {
		db.noteFault(err)
		answer(fmt.Errorf("begin: %w", err))
		return
	}
	ok, err := db.runBatch(tx, batch)
	if err != nil {
		tx.Rollback()
		answer(err)
		return
	}
	if ok == 0 {
		tx.Rollback()
		answer(nil)
		return
	}
	if err := tx.Commit(); err != nil {
		db.noteFault(err)
		db.endFailedCommit()
		answer(fmt.Errorf("commit: %w", err))
		return
	}
	answer(db.checkFile())
}

// setSynchronous sets the write connection's synchronous level for the batch: FULL (wait for
// the disk) when one of its writes is durable, NORMAL when all are lazy.
func (db *DB) setSynchronous(batch []*writeOp) error {
	durable := false
	for _, op := range batch {
		durable = durable || !op.lazy
	}
	if durable == db.durable {
		return nil
	}
	// The level cannot change inside a transaction: set it before.
	level := "NORMAL"
	if durable {
		level = "FULL"
	}
	if _, err := db.write.ExecContext(context.Background(), "PRAGMA synchronous = "+level); err != nil {
		db.noteFault(err)
		return fmt.Errorf("synchronous: %w", err)
	}
	db.durable = durable
	return nil
}

// runBatch runs each write of the batch in tx, each in its own savepoint when there are
// several, and returns how many succeeded. An error is the transaction's: it must be rolled back.
func (db *DB) runBatch(tx *sql.Tx, batch []*writeOp) (int, error) {
	savepoints := len(batch) > 1
	ok := 0
	for _, op := range batch {
		if op.err = op.ctx.Err(); op.err != nil {
			continue
		}
		ctx := context.WithValue(context.WithoutCancel(op.ctx), writeOpKey{}, op)
		if savepoints {
			if _, err := db.txStmt(ctx, tx, db.w.savepoint).ExecContext(ctx); err != nil {
				db.noteFault(err)
				return ok, fmt.Errorf("savepoint: %w", err)
			}
		}
		op.err = op.fn(ctx, tx)
		db.noteFault(op.err)
		if savepoints {
			if err := db.endSavepoint(ctx, tx, op.err != nil); err != nil {
				db.noteFault(err)
				return ok, fmt.Errorf("savepoint: %w", err)
			}
		}
		if op.err == nil {
			ok++
		}
	}
	return ok, nil
}

// endFailedCommit makes sure no transaction is left open on the write connection after a
// COMMIT that failed, as SQLite recommends ("Response To Errors Within A Transaction",
// sqlite.org/lang_transaction.html): it rolls back by itself after most I/O errors, but not
// after all; where it did, this ROLLBACK fails, harmlessly.
func (db *DB) endFailedCommit() {
	_, _ = db.write.ExecContext(context.Background(), "ROLLBACK")
}

func (db *DB) endSavepoint(ctx context.Context, tx *sql.Tx, undo bool) error {
	if undo {
		if _, err := db.txStmt(ctx, tx, db.w.rollbackTo).ExecContext(ctx); err != nil {
			return err
		}
	}
	_, err := db.txStmt(ctx, tx, db.w.release).ExecContext(ctx)
	return err
}
