package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// takeoverResult is how long the jobs of a SIGKILLed worker process waited for another.
type takeoverResult struct {
	queue, killed string
	first, last   time.Duration
}

func (r takeoverResult) String() string {
	return fmt.Sprintf("| %s | %s | %.1f | %.1f |", r.queue, r.killed, r.first.Seconds(), r.last.Seconds())
}

// child is a worker process (this program with -role worker).
type child struct {
	id  string
	cmd *exec.Cmd
}

// spawn starts a worker process on queue and waits until it says it is ready.
func spawn(ctx context.Context, o *options, impl, schema, id, queue string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "-role", "worker", "-impl", impl, "-schema", schema, "-id", id,
		"-queue", queue, "-db", o.db, "-lease", o.lease.String())
	if o.verbose {
		cmd.Stderr = os.Stderr
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{id: id, cmd: cmd}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && strings.TrimSpace(line) != "ready" {
			err = fmt.Errorf("worker %s said %q", id, line)
		}
		ready <- err
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case err = <-ready:
	case <-time.After(30 * time.Second):
		err = errors.New("not ready within 30 s")
	}
	if err != nil {
		c.kill()
		return nil, fmt.Errorf("worker %s: %w", id, err)
	}
	return c, nil
}

func (c *child) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
}

// measureTakeover: process A claims jobs that run for minutes, process C starts idle, A is
// SIGKILLed; the result is from the kill to C starting the first and the last of A's jobs. For
// River, killLeader chooses whether A is the elected leader (the rescuer runs on the leader) or
// a third process L is.
func measureTakeover(ctx context.Context, o *options, pool *pgxpool.Pool, q jobQueue, impl string, killLeader bool, jobs int) (takeoverResult, error) {
	schema := q.schemaName()
	res := takeoverResult{queue: q.name(), killed: "a worker"}
	var children []*child
	defer func() {
		for _, c := range children {
			c.kill()
		}
	}()
	start := func(id, queue string) (*child, error) {
		c, err := spawn(ctx, o, impl, schema, id, queue)
		if err == nil {
			children = append(children, c)
		}
		return c, err
	}
	if impl == "river" {
		res.killed = "a worker, not the leader"
		if killLeader {
			res.killed = "the leader"
		} else if _, err := start("L", "idle"); err != nil {
			return res, err
		} else if err := waitFor(ctx, 40*time.Second, func() bool { return riverLeader(ctx, pool, schema) == "L" }); err != nil {
			return res, fmt.Errorf("worker L never became leader: %w", err)
		}
	}
	a, err := start("A", "dial")
	if err != nil {
		return res, err
	}
	if impl == "river" && killLeader {
		if err := waitFor(ctx, 40*time.Second, func() bool { return riverLeader(ctx, pool, schema) == "A" }); err != nil {
			return res, fmt.Errorf("worker A never became leader: %w", err)
		}
	}
	for i := 1; i <= jobs; i++ {
		if err := insertOne(ctx, pool, q, newStamps(jobs), int64(i)); err != nil {
			return res, err
		}
	}
	if err := waitFor(ctx, 30*time.Second, func() bool { return runsBy(ctx, pool, schema, "A") == jobs }); err != nil {
		return res, fmt.Errorf("worker A did not start its jobs: %w", err)
	}
	if _, err := start("C", "dial"); err != nil {
		return res, err
	}
	a.kill()
	killed := time.Now()
	if err := waitFor(ctx, 3*time.Minute, func() bool { return runsBy(ctx, pool, schema, "C") == jobs }); err != nil {
		return res, fmt.Errorf("worker C did not take A's jobs over: %w", err)
	}
	var first, last time.Time
	err = pool.QueryRow(ctx, "SELECT min(started_at), max(started_at) FROM "+schema+".runs WHERE worker = 'C'").Scan(&first, &last)
	res.first, res.last = first.Sub(killed), last.Sub(killed)
	return res, err
}

func runsBy(ctx context.Context, pool *pgxpool.Pool, schema, worker string) int {
	var n int
	_ = pool.QueryRow(ctx, "SELECT count(DISTINCT row_id) FROM "+schema+".runs WHERE worker = $1", worker).Scan(&n)
	return n
}

// waitFor polls cond every 50 ms until it holds or within passes.
func waitFor(ctx context.Context, within time.Duration, cond func() bool) error {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// runWorker is the -role worker process: it records each job's start in the runs table, then
// holds the job (a dial in flight) until killed.
func runWorker(ctx context.Context, o *options, q jobQueue) error {
	pool, err := newPool(ctx, o.db, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	work := func(_ context.Context, row int64) {
		_, err := pool.Exec(context.Background(), "INSERT INTO "+q.schemaName()+".runs (row_id, worker, started_at) VALUES ($1, $2, $3)",
			row, o.id, time.Now())
		if err != nil {
			fmt.Fprintln(os.Stderr, "recording run:", err)
		}
		time.Sleep(10 * time.Minute)
	}
	stop, err := q.startWorker(ctx, o.id, o.queue, work)
	if err != nil {
		return err
	}
	defer stop()
	fmt.Println("ready")
	<-ctx.Done()
	return nil
}
