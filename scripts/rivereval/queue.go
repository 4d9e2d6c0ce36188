package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// workFunc is what a job does: rowID names the stored row the job was queued with.
type workFunc func(ctx context.Context, rowID int64)

// jobQueue is one of the two designs under evaluation, bound to one schema.
type jobQueue interface {
	// name describes the design and its settings, for the report.
	name() string
	// schemaName is the schema holding its tables (and the rows and runs tables).
	schemaName() string
	// setup creates the queue's tables in the schema (pool's database).
	setup(ctx context.Context, pool *pgxpool.Pool) error
	// insertTx queues the job for rowID inside tx: it exists (and wakes a worker) only if tx commits.
	insertTx(ctx context.Context, tx pgx.Tx, rowID int64) error
	// startWorker starts one replica's worker on the named queue; stop ends it.
	startWorker(ctx context.Context, id, queue string, work workFunc) (stop func(), err error)
	// close releases what setup opened.
	close()
}

// newPool opens a pool of at most size connections.
func newPool(ctx context.Context, url string, size int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("DATABASE URL: %w", err)
	}
	cfg.MaxConns = size
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("PostgreSQL at %s: %w", cfg.ConnConfig.Host, err)
	}
	return pool, nil
}

// freshSchema creates an empty schema named after this process and n, with the rows table the
// inserting transactions write to and the runs table workers record their runs in.
func freshSchema(ctx context.Context, pool *pgxpool.Pool, n int) (string, error) {
	schema := fmt.Sprintf("rivereval_%d_%d", pidOf(), n)
	_, err := pool.Exec(ctx, fmt.Sprintf(`DROP SCHEMA IF EXISTS %[1]s CASCADE;
CREATE SCHEMA %[1]s;
CREATE TABLE %[1]s.rows (id bigint PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE %[1]s.runs (row_id bigint NOT NULL, worker text NOT NULL, started_at timestamptz NOT NULL,
	ended_at timestamptz)`, schema))
	return schema, err
}

func dropSchema(pool *pgxpool.Pool, schema string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = pool.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE")
}
