package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// plainQueue is the design issue 12 describes without River: a jobs table claimed with
// FOR UPDATE SKIP LOCKED, a lease the running worker renews (lease/3), LISTEN/NOTIFY to wake idle
// workers at once, and a poll for leases that ended (a dead worker's jobs).
type plainQueue struct {
	url, schema string
	lease, poll time.Duration
	slots       int
	log         *slog.Logger
	// notifyInTx sends NOTIFY in every inserting transaction. PostgreSQL serializes the commits
	// of notifying transactions (a database-wide lock held through the commit's WAL flush), so
	// by default the wake-up is sent after the commit instead, by one goroutine that coalesces
	// the wake-ups asked for while one is in flight.
	notifyInTx bool
	pokes      chan struct{}
	stopPoking context.CancelFunc
	poking     sync.WaitGroup
}

func (q *plainQueue) name() string {
	how := "NOTIFY after COMMIT, coalesced"
	if q.notifyInTx {
		how = "NOTIFY in each transaction"
	}
	return fmt.Sprintf("SKIP LOCKED, %s (lease %s renewed every %s, poll %s)", how, q.lease, (q.lease / 3).Round(time.Millisecond), q.poll)
}

func (q *plainQueue) schemaName() string { return q.schema }

func (q *plainQueue) channel() string { return q.schema + "_jobs" }

func (q *plainQueue) setup(ctx context.Context, pool *pgxpool.Pool) error {
	_, err := pool.Exec(ctx, fmt.Sprintf(`CREATE TABLE %[1]s.jobs (
	id bigserial PRIMARY KEY,
	queue text NOT NULL,
	row_id bigint NOT NULL,
	state text NOT NULL DEFAULT 'queued',
	run_at timestamptz NOT NULL DEFAULT now(),
	lease_until timestamptz,
	owner text,
	attempts int NOT NULL DEFAULT 0);
CREATE INDEX ON %[1]s.jobs (queue, run_at) WHERE state = 'queued';
CREATE INDEX ON %[1]s.jobs (queue, lease_until) WHERE state = 'running'`, q.schema))
	if err != nil || q.notifyInTx {
		return err
	}
	conn, err := pgx.Connect(ctx, q.url)
	if err != nil {
		return err
	}
	q.pokes = make(chan struct{}, 1)
	pokeCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	q.stopPoking = cancel
	q.poking.Add(1)
	go func() {
		defer q.poking.Done()
		defer func() { _ = conn.Close(context.Background()) }()
		for {
			select {
			case <-pokeCtx.Done():
				return
			case <-q.pokes:
			}
			if _, err := conn.Exec(pokeCtx, "SELECT pg_notify($1, '')", q.channel()); err != nil && pokeCtx.Err() == nil {
				q.log.Error("notifying", "err", err)
			}
		}
	}()
	return nil
}

// afterCommit wakes the workers for a job just committed (unless NOTIFY was in the transaction).
func (q *plainQueue) afterCommit() {
	if q.notifyInTx {
		return
	}
	select {
	case q.pokes <- struct{}{}:
	default: // a wake-up is already due: it will see this job too
	}
}

func (q *plainQueue) insertTx(ctx context.Context, tx pgx.Tx, rowID int64) error {
	_, err := tx.Exec(ctx, "INSERT INTO "+q.schema+".jobs (queue, row_id) VALUES ('dial', $1)", rowID)
	if err != nil || !q.notifyInTx {
		return err
	}
	// Delivered when (and only if) the transaction commits.
	_, err = tx.Exec(ctx, "SELECT pg_notify($1, '')", q.channel())
	return err
}

func (q *plainQueue) close() {
	if q.stopPoking != nil {
		q.stopPoking()
		q.poking.Wait()
	}
}

func (q *plainQueue) startWorker(ctx context.Context, id, queue string, work workFunc) (func(), error) {
	pool, err := newPool(ctx, q.url, 8)
	if err != nil {
		return nil, err
	}
	listener, err := pgx.Connect(ctx, q.url)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if _, err := listener.Exec(ctx, "LISTEN "+pgx.Identifier{q.channel()}.Sanitize()); err != nil {
		pool.Close()
		return nil, err
	}
	w := &plainWorker{q: q, id: id, queue: queue, pool: pool, work: work,
		slots: make(chan struct{}, q.slots), wake: make(chan struct{}, 1), done: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); w.listen(ctx, listener) }()
	go func() { defer wg.Done(); w.run(ctx) }()
	return func() {
		cancel()
		wg.Wait()
		_ = listener.Close(context.Background())
		pool.Close()
	}, nil
}

type plainWorker struct {
	q          *plainQueue
	id, queue  string
	pool       *pgxpool.Pool
	work       workFunc
	slots      chan struct{}
	wake, done chan struct{}
	wg         sync.WaitGroup
}

func (w *plainWorker) listen(ctx context.Context, conn *pgx.Conn) {
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			if ctx.Err() == nil {
				w.q.log.Error("listening", "err", err)
			}
			return
		}
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// run claims jobs while slots are free, then sleeps until a notification, a job's end or the poll.
func (w *plainWorker) run(ctx context.Context) {
	defer w.wg.Wait()
	for {
		if free := cap(w.slots) - len(w.slots); free > 0 {
			jobs, err := w.claim(ctx, free)
			if err != nil && ctx.Err() == nil {
				w.q.log.Error("claiming", "err", err)
			}
			for _, j := range jobs {
				w.slots <- struct{}{}
				w.wg.Add(1)
				go w.runJob(ctx, j)
			}
			if len(jobs) == free {
				continue // there may be more
			}
		}
		timer := time.NewTimer(w.q.poll)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-w.wake:
		case <-w.done:
		case <-timer.C:
		}
		timer.Stop()
	}
}

type plainJob struct{ id, rowID int64 }

func (w *plainWorker) claim(ctx context.Context, limit int) ([]plainJob, error) {
	rows, err := w.pool.Query(ctx, fmt.Sprintf(`UPDATE %[1]s.jobs j
SET state = 'running', owner = $1, lease_until = now() + $2 * interval '1 millisecond', attempts = attempts + 1
FROM (SELECT id FROM %[1]s.jobs
	WHERE queue = $3 AND ((state = 'queued' AND run_at <= now()) OR (state = 'running' AND lease_until < now()))
	ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) c
WHERE j.id = c.id RETURNING j.id, j.row_id`, w.q.schema), w.id, w.q.lease.Milliseconds(), w.queue, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (plainJob, error) {
		var j plainJob
		return j, r.Scan(&j.id, &j.rowID)
	})
}

// runJob runs one job, renewing its lease every lease/3 while it runs, then deletes it.
func (w *plainWorker) runJob(ctx context.Context, j plainJob) {
	defer func() {
		<-w.slots
		select {
		case w.done <- struct{}{}:
		default:
		}
		w.wg.Done()
	}()
	renewCtx, stopRenewing := context.WithCancel(context.WithoutCancel(ctx))
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		w.renew(renewCtx, j)
	}()
	w.work(ctx, j.rowID)
	stopRenewing()
	<-renewed
	_, err := w.pool.Exec(context.WithoutCancel(ctx), "DELETE FROM "+w.q.schema+".jobs WHERE id = $1 AND owner = $2", j.id, w.id)
	if err != nil {
		w.q.log.Error("finishing", "job", j.id, "err", err)
	}
}

func (w *plainWorker) renew(ctx context.Context, j plainJob) {
	tick := time.NewTicker(w.q.lease / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		tag, err := w.pool.Exec(ctx, "UPDATE "+w.q.schema+".jobs SET lease_until = now() + $3 * interval '1 millisecond' WHERE id = $1 AND owner = $2",
			j.id, w.id, w.q.lease.Milliseconds())
		if err == nil && tag.RowsAffected() == 0 {
			err = errors.New("lease lost: another worker owns the job")
		}
		if err != nil && ctx.Err() == nil {
			w.q.log.Warn("renewing lease", "job", j.id, "err", err)
		}
	}
}
