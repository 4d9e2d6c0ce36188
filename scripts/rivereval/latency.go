package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// arrival is how the inserting transactions arrive.
type arrival struct {
	label string
	// rate > 0: transaction i starts at i/rate, whether or not earlier ones are done (no
	// coordinated omission). rate == 0: a burst, burst transactions at a time, back to back.
	rate  float64
	burst int
}

// latencyResult is one run: commit → Work start, per job.
type latencyResult struct {
	queue, arrival     string
	n, duplicates      int
	p50, p90, p99, max time.Duration
	elapsed            time.Duration
}

func (r latencyResult) String() string {
	return fmt.Sprintf("| %s | %s | %d | %.2f | %.2f | %.2f | %.2f | %d |", r.queue, r.arrival, r.n,
		ms(r.p50), ms(r.p90), ms(r.p99), ms(r.max), r.duplicates)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// stamps records, per row, when its transaction began to commit and when a worker started its job.
type stamps struct {
	base     time.Time
	commit   []atomic.Int64 // ns since base; 0: not yet
	started  []atomic.Int64
	runs     []atomic.Int32
	finished atomic.Int64
	all      chan struct{}
}

func newStamps(n int) *stamps {
	return &stamps{base: time.Now(), commit: make([]atomic.Int64, n+1), started: make([]atomic.Int64, n+1),
		runs: make([]atomic.Int32, n+1), all: make(chan struct{})}
}

func (s *stamps) work(_ context.Context, row int64) {
	if s.runs[row].Add(1) > 1 {
		return
	}
	s.started[row].Store(int64(time.Since(s.base)))
	if s.finished.Add(1) == int64(len(s.commit)-1) {
		close(s.all)
	}
}

// measureLatency starts replicas workers on q, then runs n transactions that each store a row and
// queue its job, arriving as a says, and returns commit → Work start.
func measureLatency(ctx context.Context, pool *pgxpool.Pool, q jobQueue, replicas, n int, a arrival) (latencyResult, error) {
	st := newStamps(n)
	for i := range replicas {
		stop, err := q.startWorker(ctx, fmt.Sprintf("replica-%d", i+1), "dial", st.work)
		if err != nil {
			return latencyResult{}, err
		}
		defer stop()
	}
	time.Sleep(500 * time.Millisecond) // let the workers settle (listeners up, first fetch done)
	start := time.Now()
	if err := insertAll(ctx, pool, q, st, n, a); err != nil {
		return latencyResult{}, err
	}
	select {
	case <-st.all:
	case <-time.After(2 * time.Minute):
		return latencyResult{}, fmt.Errorf("%s: only %d of %d jobs started within 2 minutes", q.name(), st.finished.Load(), n)
	}
	res := latencyResult{queue: q.name(), arrival: a.label, n: n, elapsed: time.Since(start)}
	lat := make([]time.Duration, 0, n)
	for i := 1; i <= n; i++ {
		lat = append(lat, time.Duration(st.started[i].Load()-st.commit[i].Load()))
		if st.runs[i].Load() > 1 {
			res.duplicates++
		}
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	res.p50, res.p90, res.p99, res.max = pct(0.50), pct(0.90), pct(0.99), lat[len(lat)-1]
	return res, nil
}

// insertAll runs the n transactions: INSERT a row, queue its job, COMMIT. The clock starts just
// before COMMIT: the job cannot be seen before it.
func insertAll(ctx context.Context, pool *pgxpool.Pool, q jobQueue, st *stamps, n int, a arrival) error {
	var (
		wg    sync.WaitGroup
		first atomic.Pointer[error]
	)
	one := func(row int64) {
		defer wg.Done()
		if err := insertOne(ctx, pool, q, st, row); err != nil {
			first.CompareAndSwap(nil, &err)
		}
	}
	if a.rate > 0 {
		start := time.Now()
		for i := 1; i <= n; i++ {
			time.Sleep(time.Until(start.Add(time.Duration(float64(i-1) / a.rate * float64(time.Second)))))
			wg.Add(1)
			go one(int64(i))
		}
	} else {
		next := atomic.Int64{}
		for range a.burst {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for row := next.Add(1); row <= int64(n); row = next.Add(1) {
					wg.Add(1)
					one(row)
				}
			}()
		}
	}
	wg.Wait()
	if err := first.Load(); err != nil {
		return *err
	}
	return nil
}

func insertOne(ctx context.Context, pool *pgxpool.Pool, q jobQueue, st *stamps, row int64) error {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "INSERT INTO "+q.schemaName()+".rows (id) VALUES ($1)", row); err != nil {
		return err
	}
	if err := q.insertTx(ctx, tx, row); err != nil {
		return err
	}
	st.commit[row].Store(int64(time.Since(st.base)))
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if w, ok := q.(interface{ afterCommit() }); ok {
		w.afterCommit()
	}
	return nil
}
