package main

import (
	"context"
	"fmt"
	"time"

	"queuebridge/sandbox"
	"queuebridge/sandbox/clock"
)

// driver runs a day as a discrete-event simulation on a manual clock: it moves the clock to
// the next timer only once the sandbox and the bridge are quiescent (no call doing work, no
// webhook, event callback or REST request in flight, the bridge's outbox empty and no job
// running), and runs one timer at a time, timers due at the same instant in the order they
// were scheduled. Nothing then depends on how fast the machine is or how goroutines are
// scheduled: the same seed gives the same day.
type driver struct {
	clk   *clock.Manual
	sb    *sandbox.Sandbox
	jobs  func(context.Context) (int, error) // the bridge's queued and running jobs
	speed float64                            // > 0: at most this many times real time
	// quiet, when set, runs at every quiescent point before the next step: it may look at
	// the state and schedule timers, not start work.
	quiet func()

	steps     int
	realStart time.Time
	simStart  time.Time
}

// stallLimit is how long quiescence may take before the day is declared stuck.
const stallLimit = 2 * time.Minute

func newDriver(clk *clock.Manual, sb *sandbox.Sandbox, jobs func(context.Context) (int, error), speed float64) *driver {
	return &driver{clk: clk, sb: sb, jobs: jobs, speed: speed}
}

// quiesce waits until nothing is in progress anywhere. The sandbox settles first; then the
// bridge's outbox must be empty; then the sandbox must still be idle with no work started
// since it settled. A job that ran meanwhile would have reached the sandbox and started work
// there (every REST request that changes something does), and a webhook that reached the
// bridge was the sandbox's work in progress: either shows, and the wait starts over.
func (d *driver) quiesce(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, stallLimit)
	defer cancel()
	pause := 20 * time.Microsecond
	for {
		settled, err := d.sb.Settle(ctx)
		if err != nil {
			return fmt.Errorf("waiting for the sandbox: %w", err)
		}
		n, err := d.jobs(ctx)
		if err != nil {
			return fmt.Errorf("reading the bridge's outbox: %w", err)
		}
		if n > 0 {
			select {
			case <-ctx.Done():
				return fmt.Errorf("the bridge still holds %d jobs: %w", n, ctx.Err())
			case <-time.After(pause):
			}
			pause = min(2*pause, 2*time.Millisecond)
			continue
		}
		if busy, started := d.sb.Activity(); busy == 0 && started == settled {
			return nil
		}
	}
}

// run steps the clock until stop says so (it sees the next timer's instant) or no timer is
// left, waiting for quiescence before each step.
func (d *driver) run(ctx context.Context, stop func(next time.Time) bool) error {
	d.realStart, d.simStart = time.Now(), d.clk.Now()
	for {
		if err := d.quiesce(ctx); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.quiet != nil {
			d.quiet()
		}
		next, ok := d.clk.NextAt()
		if !ok || stop(next) {
			return nil
		}
		d.pace(ctx, next)
		d.clk.Step()
		d.steps++
	}
}

// pace holds the clock back to at most speed times real time (for watching a day); 0 runs
// as fast as the machine allows. It changes nothing in the day itself.
func (d *driver) pace(ctx context.Context, next time.Time) {
	if d.speed <= 0 {
		return
	}
	due := d.realStart.Add(time.Duration(float64(next.Sub(d.simStart)) / d.speed))
	if wait := time.Until(due); wait > 0 {
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}
