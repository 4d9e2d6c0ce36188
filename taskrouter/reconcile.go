package taskrouter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Twilio retries a webhook once, and only when the connection fails: an event or a status
// callback can be lost, and a reservation would then wait for TaskRouter's own time-out (the
// caller waiting for nothing) or keep an agent's phone ringing for a reservation that is over.
// The reconciler compares the reservations that stayed open longer than their timing allows
// with TaskRouter (the reservation's status) and Voice (the leg's status), and applies what was
// missed through the same state machine the webhooks drive.

// Reconciler tuning.
const (
	// reconcileSlack is added to ring + AMD (+ confirmation) time before an open reservation counts as overdue:
	// creating the call and its webhooks. It is well inside bootstrap's reservation margin
	// (provision.SpecReservationMargin, 15 s), so that a pass finds a lost update before
	// TaskRouter times the reservation out and moves the agent to its time-out activity.
	reconcileSlack = 5 * time.Second
	// talkCheckEvery spaces the checks of accepted reservations whose leg is, as far as the
	// bridge knows, still connected (conversations): one TaskRouter request each, once a
	// minute, finds a reservation.wrapup lost together with the leg's completed callback (the
	// agent would stay in wrap-up). An accepted reservation whose leg ended is checked at
	// every pass until its wrap-up arrives.
	talkCheckEvery = time.Minute
	// reconcileBatch bounds the reservations looked at in one pass.
	reconcileBatch = 200
	// DefaultReconcileEvery is how often the reconciler runs: a pass costs one indexed query
	// and Twilio requests only for reservations overdue, and two passes fit in the margin
	// between reconcileSlack and the reservation time-out.
	DefaultReconcileEvery = 5 * time.Second
	// DefaultReconcilePace spaces the reconciler's Twilio requests: 5 a second at most.
	DefaultReconcilePace = 200 * time.Millisecond
)

// reservationEvents maps a reservation status TaskRouter reports to the event that says it.
var reservationEvents = map[string]string{
	"accepted": EventReservationAccepted, "wrapping": EventReservationWrapup, "completed": EventReservationCompleted,
	"rejected": EventReservationRejected, "timeout": EventReservationTimeout, "canceled": EventReservationCanceled,
	"rescinded": EventReservationRescinded,
}

// overdue is how long after reservation.created an open reservation has outlived its timing.
func (b *Bridge) overdue() time.Duration {
	return b.opts.legTime() + reconcileSlack
}

// RunReconciler reconciles at once and then every interval until ctx ends.
func (b *Bridge) RunReconciler(ctx context.Context, every, pace time.Duration) {
	for {
		if n, err := b.Reconcile(ctx, b.opts.Now(), pace); err != nil && ctx.Err() == nil {
			b.log.Warn("reconciling", "err", err, "repaired", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

// Reconcile checks the reservations open and overdue at now against Twilio, one request per
// pace at most, and applies what the webhooks failed to tell. It returns how many it repaired.
func (b *Bridge) Reconcile(ctx context.Context, now time.Time, pace time.Duration) (int, error) {
	list, err := b.store.OpenReservations(ctx, now.Add(-b.overdue()), reconcileBatch)
	if err != nil {
		return 0, err
	}
	tick := time.NewTicker(max(pace, time.Millisecond))
	defer tick.Stop()
	repaired := 0
	var errs []error
	talks := b.talkCheckDue(now)
	for _, r := range list {
		if ctx.Err() != nil {
			break // shutting down: the next start reconciles again
		}
		if r.State == StateAccepted && !r.CallStatus.Final() && !talks {
			continue // bridged, and talking as far as the bridge knows
		}
		what, err := b.reconcileOne(ctx, r, tick.C)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if what != "" {
			repaired++
			b.logger(r).Warn("reconciler applied a missed update", "repair", what)
			if b.hooks.Repaired != nil {
				b.hooks.Repaired(what)
			}
		}
	}
	return repaired, errors.Join(errs...)
}

// talkCheckDue reports whether this pass checks conversations too (once per talkCheckEvery).
func (b *Bridge) talkCheckDue(now time.Time) bool {
	b.talkMu.Lock()
	defer b.talkMu.Unlock()
	if now.Sub(b.talkChecked) < talkCheckEvery {
		return false
	}
	b.talkChecked = now
	return true
}

// reconcileOne asks TaskRouter, then Voice, about one reservation and applies what it learns. It
// returns what it repaired ("" when the reservation was as stored), as a bounded label.
func (b *Bridge) reconcileOne(ctx context.Context, r Reservation, tick <-chan time.Time) (string, error) {
	if err := wait(ctx, tick); err != nil {
		return "", err
	}
	var status string
	err := b.twilio("fetch_reservation", func() (err error) {
		status, err = b.router.ReservationStatus(ctx, r.WorkspaceSID, r.TaskSID, r.SID)
		return err
	})
	var re *RemoteError
	switch {
	case errors.As(err, &re) && re.Status == http.StatusNotFound && r.State == StateBridging:
		// TaskRouter deletes a task minutes after it ended: the dequeue may have bridged the
		// call (its accepted event lost). Ending the leg could cut a live conversation; the
		// leg's own status decides below.
		status = "pending"
	case errors.As(err, &re) && re.Status == http.StatusNotFound:
		status = "canceled" // the task is gone, and the caller with it
	case err != nil:
		return "", err
	}
	if typ, ok := reservationEvents[status]; ok {
		return b.applyIfChanged(ctx, r, "taskrouter_"+status, func() error {
			return b.HandleEvent(ctx, Event{Type: typ, WorkspaceSID: r.WorkspaceSID, WorkflowSID: r.WorkflowSID,
				TaskSID: r.TaskSID, ReservationSID: r.SID, WorkerSID: r.WorkerSID, WorkerName: r.WorkerName})
		})
	}
	if status != "pending" || r.CallSID == "" || r.CallStatus.Final() {
		return "", nil
	}
	if err := wait(ctx, tick); err != nil {
		return "", err
	}
	var call CallInfo
	if err := b.twilio("fetch_call", func() (err error) { call, err = b.voice.FetchCall(ctx, r.CallSID); return err }); err != nil {
		return "", err
	}
	if !call.Status.Final() {
		return "", nil
	}
	return b.applyIfChanged(ctx, r, "leg_"+string(call.Status), func() error {
		return b.AgentCallStatus(ctx, CallUpdate{ReservationSID: r.SID, CallSID: r.CallSID, Status: call.Status})
	})
}

// wait waits for the next tick of the pace, or for ctx to end.
func wait(ctx context.Context, tick <-chan time.Time) error {
	select {
	case <-tick:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// applyIfChanged applies an update and reports what if the stored reservation changed.
func (b *Bridge) applyIfChanged(ctx context.Context, before Reservation, what string, apply func() error) (string, error) {
	if err := apply(); err != nil {
		return "", fmt.Errorf("reconciling reservation %s: %w", before.SID, err)
	}
	after, err := b.store.Reservation(ctx, before.SID)
	if err != nil {
		return "", err
	}
	if after.State == before.State && after.CallStatus == before.CallStatus {
		return "", nil
	}
	return what, nil
}
