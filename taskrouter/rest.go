package taskrouter

import (
	"context"
	"time"
)

// Resting agents who miss calls (REST_AFTER_MISSES, REST_ACTIVITY, REST_COOLDOWN). An agent who
// keeps missing calls keeps being rung, and every caller waits out their ring time. The store
// keeps, per worker, the count of consecutive missed legs (Outcome.Missed: no-answer, busy, a
// machine, not confirmed, hung up before the bridge). The count is taken by the job that rejects
// the missed reservation, before the reject is sent: durable, and once per reservation however
// often the job runs. At RestAfter misses in a row the reject carries RestActivitySID as the
// worker's new activity (so TaskRouter does not offer the worker the task again meanwhile), and
// the same transaction that resets the count queues a job that moves the worker there (the
// reject may fail: the reservation may have ended at TaskRouter) and, with a cool-down, a job
// due after it that brings the worker back to ReturnActivitySID if they are still resting. Both
// are outbox jobs: they survive restarts, and run once whichever replica claims them. The job
// that completes a bridged call's task resets the count.

// Rest events, for Hooks.Rest.
const (
	RestRested   = "rested"
	RestReturned = "returned"
	// RestMovedOn: at the end of the cool-down the worker was no longer in the rest activity
	// (they or a supervisor changed it): left alone.
	RestMovedOn = "moved_on"
)

// RestEvents lists the events Hooks.Rest reports (a bounded metric label).
func RestEvents() []string { return []string{RestRested, RestReturned, RestMovedOn} }

// restJobDeadline bounds the retries of the rest and return jobs (from when they are due).
const restJobDeadline = 24 * time.Hour

// tally counts r's leg in its worker's record: a miss (one more in a row) or a bridged call (the
// count starts again). It reports whether this miss rests the worker. A reservation already
// counted is not counted again.
func (b *Bridge) tally(ctx context.Context, r Reservation, bridged bool) (bool, error) {
	if b.opts.RestAfter <= 0 || r.WorkerSID == "" {
		return false, nil
	}
	now := b.opts.Now()
	rest := false
	w, err := b.store.UpdateWorker(ctx, r.WorkerSID, func(w WorkerRecord, _ bool) (WorkerChange, error) {
		rest = false
		if w.LastReservation == r.SID {
			return WorkerChange{}, nil // this reservation was counted already
		}
		w.SID, w.LastReservation, w.UpdatedAt = r.WorkerSID, r.SID, now
		if bridged {
			w.Misses = 0
			return WorkerChange{Worker: &w}, nil
		}
		w.Misses++
		if w.Misses < b.opts.RestAfter {
			return WorkerChange{Worker: &w}, nil
		}
		rest = true
		w.Misses, w.RestedAt = 0, now
		jobs := []Job{{Kind: JobRestWorker, ReservationSID: r.SID, Deadline: now.Add(restJobDeadline)}}
		if b.opts.RestFor > 0 {
			due := now.Add(b.opts.RestFor)
			jobs = append(jobs, Job{Kind: JobReturnWorker, ReservationSID: r.SID, NotBefore: due, Deadline: due.Add(restJobDeadline)})
		}
		return WorkerChange{Worker: &w, Jobs: jobs}, nil
	})
	if err != nil {
		return false, err
	}
	if b.hooks.Misses != nil {
		b.hooks.Misses(r.WorkerSID, w.Misses)
	}
	log := b.logger(r).With("misses", w.Misses)
	switch {
	case rest:
		log.Warn("worker missed too many calls in a row: resting them", "after", b.opts.RestAfter, "for", b.opts.RestFor)
	case bridged:
		log.Debug("worker took a call: missed calls counted from zero")
	default:
		log.Debug("worker missed a call")
	}
	return rest, nil
}

// rejectReservation rejects a reservation the bridge turned down. A worker-caused end moves the
// worker to NOANSWER_ACTIVITY when set; a miss is counted first, and the miss that rests the
// worker moves them to REST_ACTIVITY instead.
func (b *Bridge) rejectReservation(ctx context.Context, r Reservation) error {
	if r.State == StateAccepted || r.State == StateWrapping || r.State == StateCompleted {
		return nil // TaskRouter reports the reservation bridged after all: nothing to reject
	}
	activity := ""
	if r.Outcome.WorkerCaused() {
		activity = b.opts.NoAnswerActivitySID
	}
	if r.Outcome.Missed() {
		rest, err := b.tally(ctx, r, false)
		if err != nil {
			return err
		}
		if rest {
			activity = b.opts.RestActivitySID
		}
	}
	return b.twilio("reject_reservation", func() error {
		return b.router.RejectReservation(ctx, r.WorkspaceSID, r.TaskSID, r.SID, activity)
	})
}

// completeTask completes a bridged call's task after wrap-up; the call resets its worker's count
// of missed legs.
func (b *Bridge) completeTask(ctx context.Context, r Reservation) error {
	if _, err := b.tally(ctx, r, true); err != nil {
		return err
	}
	return b.twilio("complete_task", func() error {
		return b.router.CompleteTask(ctx, r.WorkspaceSID, r.TaskSID, "call ended: "+firstNonEmpty(r.Outcome.String(), "wrapup"))
	})
}

// restWorker moves r's worker to the rest activity.
func (b *Bridge) restWorker(ctx context.Context, r Reservation) error {
	err := b.twilio("update_worker", func() error {
		return b.router.SetWorkerActivity(ctx, r.WorkspaceSID, r.WorkerSID, b.opts.RestActivitySID)
	})
	if err == nil {
		b.logger(r).Info("worker rested", "activity", b.opts.RestActivitySID)
		b.restHook(RestRested)
	}
	return err
}

// returnWorker ends a rest: r's worker, still in the rest activity, goes back to the return
// activity; a worker who left it meanwhile is left where they are.
func (b *Bridge) returnWorker(ctx context.Context, r Reservation) error {
	var now string
	err := b.twilio("fetch_worker", func() (err error) {
		now, err = b.router.WorkerActivity(ctx, r.WorkspaceSID, r.WorkerSID)
		return err
	})
	if err != nil {
		return err
	}
	if now != b.opts.RestActivitySID {
		b.logger(r).Info("rest over, but the worker left the rest activity meanwhile: left alone", "activity", now)
		b.restHook(RestMovedOn)
		return nil
	}
	err = b.twilio("update_worker", func() error {
		return b.router.SetWorkerActivity(ctx, r.WorkspaceSID, r.WorkerSID, b.opts.ReturnActivitySID)
	})
	if err == nil {
		b.logger(r).Info("rest over: worker back", "activity", b.opts.ReturnActivitySID)
		b.restHook(RestReturned)
	}
	return err
}

func (b *Bridge) restHook(event string) {
	if b.hooks.Rest != nil {
		b.hooks.Rest(event)
	}
}
