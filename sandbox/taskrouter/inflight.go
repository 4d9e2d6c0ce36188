package taskrouter

import (
	"context"
	"fmt"
	"sync"
)

// eventCount counts the events handed to the senders and not yet delivered or dropped, and
// every event ever handed over, so that a driver can wait for the event callbacks to be
// answered before it moves the clock (scripts/simday). The zero value is ready.
type eventCount struct {
	mu     sync.Mutex
	n      int
	queued uint64
	idle   chan struct{} // closed while n == 0; nil until the first event
}

func (c *eventCount) add(d int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	was := c.n
	c.n += d
	if d > 0 {
		c.queued += uint64(d)
	}
	switch {
	case was == 0 && c.n > 0:
		c.idle = make(chan struct{})
	case was > 0 && c.n <= 0:
		c.n = 0
		close(c.idle)
	}
}

func (c *eventCount) snapshot() (int, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n, c.queued
}

func (c *eventCount) wait(ctx context.Context) error {
	for {
		c.mu.Lock()
		if c.n == 0 {
			c.mu.Unlock()
			return nil
		}
		ch := c.idle
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("taskrouter events still in flight: %w", ctx.Err())
		}
	}
}

// EventsInFlight reports the event callbacks queued or being delivered, and how many have been
// queued since the engine was built: a driver that reads the same count before and after
// looking elsewhere knows no event was emitted in between.
func (e *Engine) EventsInFlight() (inFlight int, queued uint64) { return e.events.snapshot() }

// SettleEvents waits until every event queued so far has been delivered, or dropped after its
// attempts failed.
func (e *Engine) SettleEvents(ctx context.Context) error { return e.events.wait(ctx) }
