package taskrouter

import "context"

// transitionStore reports every committed change of a reservation to Hooks.Transition. It is
// the one place where a change's outcome is known: whoever changes a reservation (the event
// handlers, the agent leg's webhooks, the dispatcher, the reconciler) does so through the store,
// and only after the store returns is the change committed. The bridge wraps its store in it
// when the hook is set, so a bridge without the hook pays nothing.
type transitionStore struct {
	Store
	transition func(before, after Reservation)
}

// Unwrap returns the store underneath, for a caller that looks for an optional interface.
func (s transitionStore) Unwrap() Store { return s.Store }

// pendingTransition is a change fn decided, reported once the store committed it.
type pendingTransition struct{ before, after Reservation }

func (s transitionStore) UpdateReservation(ctx context.Context, sid, taskSID, eventSID string, fn UpdateFunc) (Reservation, bool, error) {
	var decided *pendingTransition
	res, dup, err := s.Store.UpdateReservation(ctx, sid, taskSID, eventSID, func(snap Snapshot) (Change, error) {
		c, err := fn(snap)
		decided = changeOf(snap, c, err) // the last run is the one committed, should the store run fn again
		return c, err
	})
	if err == nil && !dup && decided != nil {
		decided.after = res
		s.transition(decided.before, decided.after)
	}
	return res, dup, err
}

func (s transitionStore) UpdateTask(ctx context.Context, taskSID, canceledReason, eventSID string, fn UpdateFunc) (bool, error) {
	var order []string
	decided := map[string]*pendingTransition{}
	dup, err := s.Store.UpdateTask(ctx, taskSID, canceledReason, eventSID, func(snap Snapshot) (Change, error) {
		c, err := fn(snap)
		sid := snap.Reservation.SID
		if _, seen := decided[sid]; !seen {
			order = append(order, sid)
		}
		decided[sid] = changeOf(snap, c, err)
		return c, err
	})
	if err != nil || dup {
		return dup, err
	}
	for _, sid := range order {
		if t := decided[sid]; t != nil {
			s.transition(t.before, t.after)
		}
	}
	return dup, nil
}

// changeOf is the transition fn's decision makes, or nil when it stores nothing.
func changeOf(snap Snapshot, c Change, err error) *pendingTransition {
	if err != nil || c.Reservation == nil {
		return nil
	}
	t := &pendingTransition{after: *c.Reservation}
	if snap.Found {
		t.before = snap.Reservation
	}
	return t
}
