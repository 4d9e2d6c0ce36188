package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// overlapResult says how often jobs that run longer than usual were run again while still running.
type overlapResult struct {
	queue              string
	jobs               int
	runs               int
	twice, concurrent  int
	jobLength, spacing time.Duration
}

func (r overlapResult) String() string {
	return fmt.Sprintf("| %s | %d jobs of %s, one every %s | %d | %d | %d |", r.queue, r.jobs, r.jobLength, r.spacing,
		r.runs, r.twice, r.concurrent)
}

type jobRun struct {
	worker     string
	start, end time.Time
}

// runLog is the runs of each job, kept in memory (the workers are in this process).
type runLog struct {
	mu   sync.Mutex
	runs map[int64][]*jobRun
}

// worker returns the work of one replica: record the run, take length (whatever ctx says, as the
// bridge's dispatcher does: a dial in flight is finished, not abandoned), record its end.
func (l *runLog) worker(id string, length time.Duration) workFunc {
	return func(_ context.Context, row int64) {
		r := &jobRun{worker: id, start: time.Now()}
		l.mu.Lock()
		l.runs[row] = append(l.runs[row], r)
		l.mu.Unlock()
		time.Sleep(length)
		l.mu.Lock()
		r.end = time.Now()
		l.mu.Unlock()
	}
}

// measureOverlap queues jobs that each run length (a dial that waits up to LegReportWait for its
// leg to report, then lists calls), one every spacing, on two live replicas, and counts the jobs
// run twice, and run twice at the same time.
func measureOverlap(ctx context.Context, pool *pgxpool.Pool, q jobQueue, jobs int, length, spacing time.Duration) (overlapResult, error) {
	log := &runLog{runs: map[int64][]*jobRun{}}
	for _, id := range []string{"A", "B"} {
		stop, err := q.startWorker(ctx, id, "dial", log.worker(id, length))
		if err != nil {
			return overlapResult{}, err
		}
		defer stop()
	}
	for i := 1; i <= jobs; i++ {
		if err := insertOne(ctx, pool, q, newStamps(jobs), int64(i)); err != nil {
			return overlapResult{}, err
		}
		time.Sleep(spacing)
	}
	// Long enough for River's rescuer (every 30 s) to pass over every job at least once while it runs.
	time.Sleep(2*length + 35*time.Second)
	log.mu.Lock()
	defer log.mu.Unlock()
	res := overlapResult{queue: q.name(), jobs: jobs, jobLength: length, spacing: spacing}
	for _, runs := range log.runs {
		res.runs += len(runs)
		if len(runs) > 1 {
			res.twice++
		}
		if overlapping(runs) {
			res.concurrent++
		}
	}
	return res, nil
}

// overlapping reports whether a run started before an earlier one had ended.
func overlapping(runs []*jobRun) bool {
	for i := 1; i < len(runs); i++ {
		for _, prev := range runs[:i] {
			if prev.end.IsZero() || runs[i].start.Before(prev.end) {
				return true
			}
		}
	}
	return false
}
