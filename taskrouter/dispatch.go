package taskrouter

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Run processes queued jobs until ctx is done, then waits for the jobs in flight to finish
// (graceful shutdown). Jobs a previous process left running are resumed first: that is how work
// acknowledged before a crash is carried out after it.
func (b *Bridge) Run(ctx context.Context) error {
	n, err := b.store.ResumeJobs(ctx)
	if err != nil {
		return fmt.Errorf("resuming jobs: %w", err)
	}
	if n > 0 {
		b.log.Info("resumed jobs left by the previous run", "jobs", n)
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		inFlight int
		done     = make(chan struct{}, b.opts.Workers)
	)
	defer wg.Wait()
	for {
		mu.Lock()
		free := b.opts.Workers - inFlight
		mu.Unlock()
		if free > 0 {
			jobs, err := b.store.ClaimJobs(ctx, b.opts.Now(), free)
			if err != nil && ctx.Err() == nil {
				b.log.Error("claiming jobs", "err", err)
			}
			for _, j := range jobs {
				mu.Lock()
				inFlight++
				mu.Unlock()
				wg.Add(1)
				go func(j Job) {
					defer wg.Done()
					// In-flight jobs finish even when ctx ends: they are short, bounded by the
					// HTTP client's timeout, and leaving them would leave calls half placed.
					b.runJob(context.WithoutCancel(ctx), j)
					mu.Lock()
					inFlight--
					mu.Unlock()
					select { // a wake-up only: when one is pending already, the loop will look anyway
					case done <- struct{}{}:
					default:
					}
				}(j)
			}
		}
		mu.Lock()
		busy := inFlight >= b.opts.Workers
		mu.Unlock()
		wait := time.Minute
		if !busy { // when every worker is busy, a finishing job wakes the loop: no need to poll
			if next, ok, err := b.store.NextJobAt(ctx); err == nil && ok {
				wait = max(0, next.Sub(b.opts.Now()))
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-b.wake:
		case <-done:
		case <-timer.C:
		}
		timer.Stop()
	}
}

func (b *Bridge) runJob(ctx context.Context, j Job) {
	r, err := b.store.Reservation(ctx, j.ReservationSID)
	if err != nil {
		b.retry(ctx, j, r, fmt.Errorf("reading reservation: %w", err))
		return
	}
	log := b.logger(r).With("job", string(j.Kind), "attempt", j.Attempts+1)
	switch j.Kind {
	case JobDial:
		err = b.dial(ctx, r)
	case JobReject:
		activity := ""
		if r.CallStatus == CallNoAnswer || r.CallStatus == CallBusy || r.AnsweredBy.IsMachine() || r.AnsweredBy == AnsweredUnknown {
			activity = b.opts.NoAnswerActivitySID
		}
		err = b.twilio("reject_reservation", func() error {
			return b.router.RejectReservation(ctx, r.WorkspaceSID, r.TaskSID, r.SID, activity)
		})
	case JobHangup:
		err = b.hangup(ctx, r, j.CallSID)
	case JobCompleteTask:
		err = b.twilio("complete_task", func() error {
			return b.router.CompleteTask(ctx, r.WorkspaceSID, r.TaskSID, "call ended: "+firstNonEmpty(r.Outcome, "wrapup"))
		})
	default:
		err = &finalError{fmt.Errorf("unknown job kind %q", j.Kind)}
	}
	var fe *finalError
	switch {
	case err == nil:
		log.Debug("job done")
		b.finish(ctx, j, "done")
	case errors.As(err, &fe):
		log.Warn("job given up", "err", err)
		b.finish(ctx, j, "given up: "+err.Error())
	default:
		log.Warn("job failed, will retry", "err", err)
		b.retry(ctx, j, r, err)
	}
}

// finalError marks a failure that retrying cannot mend.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// twilio runs one Twilio request, reports it to the hooks, and classifies its error: a Twilio
// 4xx other than 429 is final; 429, 5xx and transport errors are worth retrying.
func (b *Bridge) twilio(op string, f func() error) error {
	start := time.Now()
	err := f()
	if b.hooks.TwilioRequest != nil {
		b.hooks.TwilioRequest(op, time.Since(start), err)
	}
	if err != nil && Classify(err) == Permanent {
		return &finalError{fmt.Errorf("%s: %w", op, err)}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

func (b *Bridge) finish(ctx context.Context, j Job, outcome string) {
	if err := b.store.FinishJob(ctx, j.ID, outcome); err != nil {
		b.log.Error("finishing job", "job", j.ID, "err", err)
	}
}

// retry schedules the job again with exponential backoff and jitter, unless that would pass its
// deadline; a dial past its deadline rejects the reservation instead, so it never stays pending.
func (b *Bridge) retry(ctx context.Context, j Job, r Reservation, cause error) {
	delay := b.opts.RetryBase << min(j.Attempts, 16)
	if delay > b.opts.RetryMax || delay <= 0 {
		delay = b.opts.RetryMax
	}
	delay = delay/2 + rand.N(delay/2+1)
	at := b.opts.Now().Add(delay)
	if !j.Deadline.IsZero() && at.After(j.Deadline) {
		b.log.Warn("job out of time", "job", string(j.Kind), "reservation", j.ReservationSID, "err", cause)
		b.finish(ctx, j, "out of time: "+cause.Error())
		if j.Kind == JobDial {
			b.giveUpDial(ctx, r.SID, "could not place the agent leg in time: "+cause.Error())
		}
		return
	}
	if b.hooks.JobRetried != nil {
		b.hooks.JobRetried(j.Kind)
	}
	if err := b.store.RetryJob(ctx, j.ID, at, cause.Error()); err != nil {
		b.log.Error("rescheduling job", "job", j.ID, "err", err)
	}
}

// giveUpDial rejects a reservation whose agent leg cannot be placed (or found).
func (b *Bridge) giveUpDial(ctx context.Context, sid, why string) {
	now := b.opts.Now()
	res, _, err := b.store.UpdateReservation(ctx, sid, "", "", func(s Snapshot) (Change, error) {
		r := s.Reservation
		if !s.Found || (r.State != StatePending && r.State != StateDialing) || r.CallSID != "" {
			return Change{}, nil
		}
		r.State, r.Outcome, r.UpdatedAt = StateRejected, why, now
		return Change{Reservation: &r, Jobs: []Job{{Kind: JobReject, Deadline: r.Deadline}}}, nil
	})
	if err != nil {
		b.log.Error("rejecting reservation", "reservation", sid, "err", err)
		return
	}
	if res.State == StateRejected && res.UpdatedAt.Equal(now) {
		b.logger(res).Warn("reservation rejected", "why", why)
		b.final(res)
		b.notify()
	}
}

// dial places the agent leg. It marks the reservation dialing before sending Calls.create, which
// has no idempotency key: a reservation found dialing here was being dialed when a previous
// attempt failed ambiguously or the process stopped, and it is never dialed blindly again.
func (b *Bridge) dial(ctx context.Context, r Reservation) error {
	switch r.State {
	case StatePending:
	case StateDialing:
		if r.CallSID == "" {
			return b.recoverDial(ctx, r)
		}
		return nil
	default:
		return nil // canceled, answered, or rejected meanwhile: nothing to place
	}
	now := b.opts.Now()
	r, _, err := b.store.UpdateReservation(ctx, r.SID, "", "", func(s Snapshot) (Change, error) {
		x := s.Reservation
		if x.State != StatePending {
			return Change{}, nil
		}
		x.State, x.DialingAt, x.UpdatedAt = StateDialing, now, now
		return Change{Reservation: &x}, nil
	})
	if err != nil {
		return err
	}
	if r.State != StateDialing || !r.DialingAt.Equal(now) {
		return nil
	}
	req := CallRequest{
		To: r.ContactURI, From: r.CallerID,
		URL:            b.DialQueueURL(r.SID, r.TaskSID),
		StatusCallback: b.StatusCallbackURL(r.SID),
		Timeout:        int(b.opts.RingTimeout.Seconds()),
	}
	if b.opts.MachineDetection != AMDOff {
		req.MachineDetection = b.opts.MachineDetection
		req.AMDTimeout = int(b.opts.AMDTimeout.Seconds())
		req.SpeechThreshold = int(b.opts.SpeechThreshold.Milliseconds())
		req.SpeechEndThreshold = int(b.opts.SpeechEndThreshold.Milliseconds())
		req.SilenceTimeout = int(b.opts.SilenceTimeout.Milliseconds())
	}
	var callSID string
	err = b.twilio("create_call", func() error {
		var err error
		callSID, err = b.voice.PlaceCall(ctx, req)
		return err
	})
	if err != nil {
		var fe *finalError
		switch {
		case errors.As(err, &fe):
			b.giveUpDial(ctx, r.SID, "Twilio refused the agent leg: "+err.Error())
			return nil
		case Classify(err) == Retryable:
			// Twilio did not create the call: back to pending, and the job retries.
			_, _, uerr := b.store.UpdateReservation(ctx, r.SID, "", "", func(s Snapshot) (Change, error) {
				x := s.Reservation
				if x.State != StateDialing || x.CallSID != "" {
					return Change{}, nil
				}
				x.State, x.UpdatedAt = StatePending, b.opts.Now()
				return Change{Reservation: &x}, nil
			})
			return errors.Join(err, uerr)
		default:
			return err // ambiguous: stays dialing; the retry looks for the call
		}
	}
	if b.hooks.CallPlaced != nil {
		b.hooks.CallPlaced(b.opts.Now().Sub(r.CreatedAt))
	}
	return b.adoptCall(ctx, r.SID, callSID, "")
}

// adoptCall stores the agent leg's SID. If the reservation ended while the call was being
// created, the fresh leg is hung up at once.
func (b *Bridge) adoptCall(ctx context.Context, sid, callSID string, status CallStatus) error {
	now := b.opts.Now()
	res, _, err := b.store.UpdateReservation(ctx, sid, "", "", func(s Snapshot) (Change, error) {
		x := s.Reservation
		if x.CallSID == callSID {
			return Change{}, nil // a status callback or the answer stored it first
		}
		if x.CallSID != "" {
			// Another leg is already this reservation's: this one is an orphan.
			return Change{Jobs: []Job{{Kind: JobHangup, CallSID: callSID, Deadline: now.Add(5 * time.Minute)}}}, nil
		}
		x.CallSID, x.UpdatedAt = callSID, now
		if status != "" {
			x.CallStatus = status
		}
		if x.State == StateDialing {
			x.State = StateRinging
			return Change{Reservation: &x}, nil
		}
		// Ended while we were dialing: hang the new leg up.
		return Change{Reservation: &x, Jobs: []Job{{Kind: JobHangup, CallSID: callSID, Deadline: now.Add(5 * time.Minute)}}}, nil
	})
	if err != nil {
		return fmt.Errorf("storing call %s: %w", callSID, err)
	}
	b.logger(res).Info("agent leg placed", "state", res.State)
	b.notify()
	return nil
}

// recoverDial resolves an ambiguous dial: it looks for the call Twilio may have created (same
// To and From, created since the attempt, not some other reservation's) and adopts it; when
// there is none it rejects the reservation so TaskRouter routes the task again, rather than
// risking a second call to the same agent.
func (b *Bridge) recoverDial(ctx context.Context, r Reservation) error {
	var calls []CallInfo
	err := b.twilio("list_calls", func() error {
		var err error
		calls, err = b.voice.FindCalls(ctx, r.ContactURI, r.CallerID, r.DialingAt.Add(-time.Minute))
		return err
	})
	if err != nil {
		return err
	}
	for _, c := range calls {
		owner, err := b.store.CallOwner(ctx, c.SID)
		if err != nil {
			return err
		}
		if owner != "" && owner != r.SID {
			continue
		}
		b.logger(r).Info("found the agent leg of an interrupted dial", "call", c.SID, "status", string(c.Status))
		if c.Status.Final() {
			return b.AgentCallStatus(ctx, CallUpdate{ReservationSID: r.SID, CallSID: c.SID, Status: c.Status})
		}
		return b.adoptCall(ctx, r.SID, c.SID, c.Status)
	}
	b.giveUpDial(ctx, r.SID, "dial interrupted and no call found: rejected so TaskRouter routes again")
	return nil
}

// hangup ends an agent leg: canceled while it may still be ringing, completed once answered.
// A cancel Twilio refuses (the call was answered meanwhile) is followed by a completed.
func (b *Bridge) hangup(ctx context.Context, r Reservation, callSID string) error {
	answered := callSID == r.CallSID && (r.CallStatus == CallInProgress || r.AnsweredBy != "")
	if !answered {
		err := b.twilio("end_call", func() error { return b.voice.EndCall(ctx, callSID, CallCanceled) })
		var fe *finalError
		if err == nil || !errors.As(err, &fe) {
			return err
		}
	}
	return b.twilio("end_call", func() error { return b.voice.EndCall(ctx, callSID, CallCompleted) })
}
