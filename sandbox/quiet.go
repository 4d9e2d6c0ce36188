package sandbox

import (
	"context"
	"fmt"
)

// Activity sums the engines' work in progress (calls doing work, webhooks and event callbacks
// in flight) and the work started since the sandbox was built. With a clock.Manual, the
// sandbox starts work only when the clock moves or a request reaches it: a driver that reads
// the same started count before and after looking at the application knows that nothing was
// set in motion here meanwhile (scripts/simday runs a whole day this way, deterministically).
func (s *Sandbox) Activity() (inProgress int, started uint64) {
	vn, vs := s.voice.Activity()
	tn, ts := s.tr.EventsInFlight()
	return vn + tn, vs + ts
}

// Settle waits until the sandbox has nothing in progress: every call waits on the clock or on
// another party, and every webhook and event callback has been answered (or given up). It
// returns the started count (see Activity) at that moment. The application may still hold
// work of its own that will reach the sandbox later.
func (s *Sandbox) Settle(ctx context.Context) (started uint64, err error) {
	for {
		_, before := s.Activity()
		if err := s.voice.Settle(ctx); err != nil {
			return 0, fmt.Errorf("sandbox: settle: %w", err)
		}
		if err := s.tr.SettleEvents(ctx); err != nil {
			return 0, fmt.Errorf("sandbox: settle: %w", err)
		}
		n, after := s.Activity()
		if n == 0 && after == before {
			return after, nil
		}
	}
}
