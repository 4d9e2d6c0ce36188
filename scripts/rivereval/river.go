package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// dialArgs is the River job: the row it was queued with.
type dialArgs struct {
	Row int64 `json:"row"`
}

func (dialArgs) Kind() string { return "dial" }

type dialWorker struct {
	river.WorkerDefaults[dialArgs]
	work workFunc
}

func (w *dialWorker) Work(ctx context.Context, job *river.Job[dialArgs]) error {
	w.work(ctx, job.Args.Row)
	return nil
}

// riverSettings are the River client settings under evaluation.
type riverSettings struct {
	label                            string
	fetchCooldown, fetchPollInterval time.Duration
	// rescueAfter and jobTimeout: zero keeps River's defaults (1 h, 1 min).
	rescueAfter, jobTimeout time.Duration
}

// riverQueue is riverqueue/river with the riverpgxv5 driver, its tables in the schema.
type riverQueue struct {
	url, schema string
	settings    riverSettings
	slots       int
	log         *slog.Logger

	// the inserting client, insert-only: it has no queues, so it runs neither jobs nor maintenance.
	pool     *pgxpool.Pool
	inserter *river.Client[pgx.Tx]
}

func (q *riverQueue) name() string {
	s := q.settings
	return fmt.Sprintf("River %s (FetchCooldown %s, FetchPollInterval %s, notifier on)", s.label, s.fetchCooldown, s.fetchPollInterval)
}

func (q *riverQueue) schemaName() string { return q.schema }

func (q *riverQueue) config(work workFunc) *river.Config {
	workers := river.NewWorkers()
	river.AddWorker(workers, &dialWorker{work: work})
	return &river.Config{
		Schema:               q.schema,
		Workers:              workers,
		FetchCooldown:        q.settings.fetchCooldown,
		FetchPollInterval:    q.settings.fetchPollInterval,
		RescueStuckJobsAfter: q.settings.rescueAfter,
		JobTimeout:           q.settings.jobTimeout,
		Logger:               q.log,
	}
}

func (q *riverQueue) setup(ctx context.Context, pool *pgxpool.Pool) error {
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Schema: q.schema, Logger: q.log})
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("river migrations: %w", err)
	}
	q.pool, err = newPool(ctx, q.url, 32)
	if err != nil {
		return err
	}
	q.inserter, err = river.NewClient(riverpgxv5.New(q.pool), q.config(func(context.Context, int64) {}))
	return err
}

func (q *riverQueue) insertTx(ctx context.Context, tx pgx.Tx, rowID int64) error {
	_, err := q.inserter.InsertTx(ctx, tx, dialArgs{Row: rowID}, &river.InsertOpts{Queue: "dial"})
	return err
}

func (q *riverQueue) close() {
	if q.pool != nil {
		q.pool.Close()
	}
}

func (q *riverQueue) startWorker(ctx context.Context, id, queue string, work workFunc) (func(), error) {
	pool, err := newPool(ctx, q.url, 8)
	if err != nil {
		return nil, err
	}
	cfg := q.config(work)
	cfg.ID = id
	cfg.Queues = map[string]river.QueueConfig{queue: {MaxWorkers: q.slots}}
	client, err := river.NewClient(riverpgxv5.New(pool), cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	if err := client.Start(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := client.Stop(stopCtx); err != nil {
			_ = client.StopAndCancel(context.Background())
		}
		pool.Close()
	}, nil
}

// riverLeader returns the current leader's client ID, or "".
func riverLeader(ctx context.Context, pool *pgxpool.Pool, schema string) string {
	var id string
	_ = pool.QueryRow(ctx, "SELECT leader_id FROM "+schema+".river_leader WHERE expires_at > now()").Scan(&id)
	return id
}
