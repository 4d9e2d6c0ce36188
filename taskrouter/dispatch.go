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
// acknowledged before a crash is carried out after it. While a job runs, its lease is extended
// (keepLeases), so that a job running longer than JobLease is not claimed again; a process that
// dies stops extending, and its jobs are claimed again (by another process sharing the store,
// or by this one restarted) when their leases end.
//
// With a store that signals jobs queued by other processes (JobSignal), the loop also wakes on
// that signal, and it never sleeps longer than JobLease: a job another process rescheduled and
// then left (it died) is found at most a lease after it is due.
func (b *Bridge) Run(ctx context.Context) error {
	n, err := b.store.ResumeJobs(ctx)
	if err != nil {
		return fmt.Errorf("resuming jobs: %w", err)
	}
	if n > 0 {
		b.log.Info("resumed jobs left by the previous run", "jobs", n)
	}
	var (
		wg sync.WaitGroup
		// slots holds a token per running job: at most Workers run at once.
		slots = make(chan struct{}, b.opts.Workers)
		// done wakes the loop when a job ends; a full buffer already means "look again".
		done = make(chan struct{}, 1)
		// running holds the jobs this process runs: a job claimed again while it still runs
		// here (a retry due at once, or a lease that ended) is not started twice; its run
		// goes once more when the current one ends, on the new claim.
		running = inflight{jobs: map[int64]*Job{}}
	)
	var queued <-chan struct{}
	maxWait := time.Minute
	if sig, ok := jobSignal(b.store); ok {
		queued, maxWait = sig.JobsQueued(), b.opts.JobLease
	}
	stopKeeping, kept := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(kept)
		b.keepLeases(stopKeeping, &running)
	}()
	defer func() {
		wg.Wait()
		close(stopKeeping)
		<-kept
	}()
	for {
		claimFailed := false
		if free := cap(slots) - len(slots); free > 0 {
			jobs, err := b.store.ClaimJobs(ctx, b.opts.Now(), b.opts.JobLease, free)
			if err != nil && ctx.Err() == nil {
				b.log.Error("claiming jobs", "err", err)
				claimFailed = true
			}
			for _, j := range jobs {
				if !running.start(j) {
					continue
				}
				slots <- struct{}{}
				wg.Add(1)
				go func(j Job) {
					defer wg.Done()
					for again := true; again; j, again = running.end(j.ID) {
						// In-flight jobs finish even when ctx ends: they are short, bounded by
						// the HTTP client's timeout, and leaving them would leave calls half placed.
						b.runJob(context.WithoutCancel(ctx), j)
					}
					<-slots
					select {
					case done <- struct{}{}:
					default:
					}
				}(j)
			}
		}
		var timeout <-chan time.Time
		var timer *time.Timer
		switch {
		case claimFailed:
			timeout = time.After(time.Second) // the store is failing: do not spin on it
		case len(slots) == cap(slots):
			// Every worker is busy: only a job ending (or shutdown) frees one.
		default:
			wait := maxWait
			if next, ok, err := b.store.NextJobAt(ctx); err == nil && ok {
				wait = min(maxWait, max(0, next.Sub(b.opts.Now())))
			}
			timer = time.NewTimer(wait)
			timeout = timer.C
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case <-b.wake:
		case <-queued:
		case <-done:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// inflight tracks the jobs this process is running, and those claimed again meanwhile.
type inflight struct {
	mu   sync.Mutex
	jobs map[int64]*Job // running job → its new claim, if claimed again while it ran
}

// start records a claimed job; false when it is running already (its new claim is kept for end).
func (f *inflight) start(j Job) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, busy := f.jobs[j.ID]; busy {
		f.jobs[j.ID] = &j
		return false
	}
	f.jobs[j.ID] = nil
	return true
}

// ids lists the jobs running.
func (f *inflight) ids() []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]int64, 0, len(f.jobs))
	for id := range f.jobs {
		out = append(out, id)
	}
	return out
}

// keepLeases extends the leases of the jobs running here by JobLease, every third of JobLease,
// until stop. The ticks are real time while leases are on Options.Now's clock: with a clock
// that runs faster than real time, JobLease must be scaled by its speed.
func (b *Bridge) keepLeases(stop <-chan struct{}, running *inflight) {
	t := time.NewTicker(max(b.opts.JobLease/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ids := running.ids()
		if len(ids) == 0 {
			continue
		}
		if err := b.store.ExtendLeases(context.Background(), ids, b.opts.Now().Add(b.opts.JobLease)); err != nil {
			b.log.Warn("extending job leases: they may be claimed again while they run", "jobs", len(ids), "err", err)
		}
	}
}

// end records that a run of the job ended and returns its new claim if it was claimed again.
func (f *inflight) end(id int64) (Job, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if next := f.jobs[id]; next != nil {
		f.jobs[id] = nil
		return *next, true
	}
	delete(f.jobs, id)
	return Job{}, false
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
		err = b.rejectReservation(ctx, r)
	case JobHangup:
		err = b.hangup(ctx, r, j.CallSID)
	case JobCompleteTask:
		err = b.completeTask(ctx, r)
	case JobRestWorker:
		err = b.restWorker(ctx, r)
	case JobReturnWorker:
		err = b.returnWorker(ctx, r)
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
		if w := (*waitError)(nil); errors.As(err, &w) {
			log.Debug("job waits", "for", w.what, "until", w.until)
		} else {
			log.Warn("job failed, will retry", "err", err)
		}
		b.retry(ctx, j, r, err)
	}
}

// finalError marks a failure that retrying cannot mend.
type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// twilio runs one Twilio request, reports it to the hooks, and classifies its error: a
// permanent refusal is final; the other failures are worth retrying.
func (b *Bridge) twilio(op string, f func() error) error {
	start := time.Now()
	err := f()
	if b.hooks.TwilioRequest != nil {
		b.hooks.TwilioRequest(op, time.Since(start), err, FailureOf(err))
	}
	if err != nil && FailureOf(err) == Permanent {
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
	at := b.opts.Now().Add(b.backoff(j.Attempts))
	if w := (*waitError)(nil); errors.As(cause, &w) {
		at = w.until
	}
	if !j.Deadline.IsZero() && at.After(j.Deadline) {
		b.log.Warn("job out of time", "job", string(j.Kind), "reservation", j.ReservationSID, "err", cause)
		b.finish(ctx, j, "out of time: "+cause.Error())
		if j.Kind == JobDial {
			b.giveUpDial(ctx, j.ReservationSID, Outcome{OutcomeDialOutOfTime, cause.Error()})
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

// backoff is the delay before attempt n+1: exponential from RetryBase, capped at RetryMax, with
// jitter (half to all of it) so retries of many jobs spread out.
func (b *Bridge) backoff(attempts int) time.Duration {
	delay := b.opts.RetryBase << min(attempts, 16)
	if delay > b.opts.RetryMax || delay <= 0 {
		delay = b.opts.RetryMax
	}
	return delay/2 + rand.N(delay/2+1)
}

// giveUpDial rejects a reservation whose agent leg cannot be placed (or found).
func (b *Bridge) giveUpDial(ctx context.Context, sid string, why Outcome) {
	now := b.opts.Now()
	rejected := false // this call, not an earlier one, rejected the reservation
	res, _, err := b.store.UpdateReservation(ctx, sid, "", "", func(s Snapshot) (Change, error) {
		rejected = false
		r := s.Reservation
		if !s.Found || (r.State != StatePending && r.State != StateDialing) || r.CallSID != "" {
			return Change{}, nil
		}
		rejected = true
		r.State, r.Outcome, r.UpdatedAt = StateRejected, why, now
		// The reservation's own deadline may have passed already: the reject still gets a minute.
		return Change{Reservation: &r, Jobs: []Job{{Kind: JobReject, Deadline: later(r.Deadline, now.Add(time.Minute))}}}, nil
	})
	if err != nil {
		b.log.Error("rejecting reservation", "reservation", sid, "err", err)
		return
	}
	if rejected && res.State == StateRejected {
		b.logger(res).Warn("reservation rejected", "why", why.String())
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
		if !r.DialingAt.IsZero() && r.CallSID == "" {
			// It ended while an ambiguous dial was unresolved: a call may ring for nobody.
			return b.endOrphanDial(ctx, r)
		}
		return nil // canceled, answered, or rejected meanwhile: nothing to place
	}
	now := b.opts.Now()
	r, _, err := b.store.UpdateReservation(ctx, r.SID, r.TaskSID, "", func(s Snapshot) (Change, error) {
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
		URL:            b.opts.URLs.AgentAnswer(r.SID, r.TaskSID),
		StatusCallback: b.opts.URLs.AgentStatus(r.SID, r.TaskSID),
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
			b.callerIDRefused(r, err)
			b.giveUpDial(ctx, r.SID, Outcome{OutcomeCallRefused, err.Error()})
			return nil
		case FailureOf(err) == NotSent:
			// Twilio did not create the call: back to pending, and the job retries.
			_, _, uerr := b.store.UpdateReservation(ctx, r.SID, r.TaskSID, "", func(s Snapshot) (Change, error) {
				x := s.Reservation
				if x.State != StateDialing || x.CallSID != "" {
					return Change{}, nil
				}
				x.State, x.UpdatedAt = StatePending, b.opts.Now()
				return Change{Reservation: &x}, nil
			})
			return errors.Join(err, uerr)
		default:
			// A timeout, a dropped connection or a 5xx: Twilio may have created the call. It
			// stays dialing; the retry looks for the call instead of placing another.
			return err
		}
	}
	if b.hooks.CallPlaced != nil {
		b.hooks.CallPlaced(b.opts.Now().Sub(r.CreatedAt))
	}
	return b.adoptCall(ctx, r.SID, r.TaskSID, callSID, "")
}

// ErrCodeCallerIDRefused is Twilio's error for a From the account neither owns nor verified.
const ErrCodeCallerIDRefused = 21210

// callerIDRefused reports a 21210: every agent leg from that number will fail the same way
// until CALLER_ID (or the number the callers dial) is fixed, so it is logged at ERROR, once per
// number, and counted.
func (b *Bridge) callerIDRefused(r Reservation, err error) {
	var re *RemoteError
	if !errors.As(err, &re) || re.Code != ErrCodeCallerIDRefused {
		return
	}
	if b.hooks.CallerIDRefused != nil {
		b.hooks.CallerIDRefused()
	}
	if _, seen := b.refusedFrom.LoadOrStore(r.CallerID, true); !seen {
		b.logger(r).Error("Twilio refuses the agent leg's caller ID (21210): set CALLER_ID to a number the account owns or has verified",
			"from", r.CallerID, "err", err)
	}
}

// adoptCall stores the agent leg's SID. If the reservation ended while the call was being
// created, the fresh leg is hung up at once.
func (b *Bridge) adoptCall(ctx context.Context, sid, taskSID, callSID string, status CallStatus) error {
	now := b.opts.Now()
	res, _, err := b.store.UpdateReservation(ctx, sid, taskSID, "", func(s Snapshot) (Change, error) {
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

// recoverDial resolves an ambiguous dial (a timeout, a dropped connection or a 5xx: Twilio may
// have created the call). The leg's own status callbacks carry the reservation SID, so a leg
// that exists reports to this reservation and is adopted there; recoverDial first waits
// LegReportWait for that. Then it looks the call up: exactly one candidate is adopted, and with
// none (or several) the reservation is rejected so TaskRouter routes the task again, rather than
// risking a second call to the same agent.
func (b *Bridge) recoverDial(ctx context.Context, r Reservation) error {
	until := r.DialingAt.Add(b.opts.LegReportWait)
	if !r.Deadline.IsZero() && until.After(r.Deadline) {
		until = r.Deadline // the look-up still happens in time to reject
	}
	if b.opts.Now().Before(until) {
		return &waitError{until: until, what: "the leg of an interrupted dial to report"}
	}
	call, found, err := b.findOwnCall(ctx, r)
	var fe *finalError
	switch {
	case errors.As(err, &fe):
		// Twilio refuses the look-up (a restricted API key may not list calls): the call can
		// never be found, so the reservation must not wait in dialing for it.
		b.giveUpDial(ctx, r.SID, Outcome{OutcomeDialNotFound, "calls could not be listed (" + err.Error() + "): rejected so TaskRouter routes again"})
		return nil
	case err != nil:
		return err
	case !found:
		b.giveUpDial(ctx, r.SID, Outcome{OutcomeDialNotFound, "no call found: rejected so TaskRouter routes again"})
		return nil
	}
	b.logger(r).Info("found the agent leg of an interrupted dial", "leg", call.SID, "status", string(call.Status))
	if call.Status.Final() {
		if err := b.adoptCall(ctx, r.SID, r.TaskSID, call.SID, ""); err != nil {
			return err
		}
		return b.AgentCallStatus(ctx, CallUpdate{ReservationSID: r.SID, CallSID: call.SID, Status: call.Status})
	}
	return b.adoptCall(ctx, r.SID, r.TaskSID, call.SID, call.Status)
}

// waitError asks for the job to run again at until, not after the usual backoff: it waits for
// something Twilio will report, and is not a failure.
type waitError struct {
	until time.Time
	what  string
}

func (e *waitError) Error() string { return "waiting for " + e.what }

// createdResolution is the precision of a call's DateCreated (RFC 2822, whole seconds).
const createdResolution = time.Second

// findOwnCall looks for the call an interrupted dial of r may have created: to the same agent,
// from the same caller ID, created no earlier than the attempt (to DateCreated's precision), not
// answered (an answered leg of ours would have asked this reservation's /dial-queue and been
// adopted there), and owned by no reservation (a leg that reported to another reservation is
// that one's). Anything but exactly one such call is not trusted.
func (b *Bridge) findOwnCall(ctx context.Context, r Reservation) (CallInfo, bool, error) {
	since := r.DialingAt.Truncate(createdResolution)
	var calls []CallInfo
	err := b.twilio("list_calls", func() error {
		var err error
		calls, err = b.voice.FindCalls(ctx, r.ContactURI, r.CallerID, since)
		return err
	})
	if err != nil {
		return CallInfo{}, false, err
	}
	var mine []CallInfo
	for _, c := range calls {
		if c.CreatedAt.IsZero() || c.CreatedAt.Before(since) || c.Status == CallInProgress || c.Status == CallCompleted {
			continue
		}
		owner, err := b.store.CallOwner(ctx, c.SID)
		if err != nil {
			return CallInfo{}, false, err
		}
		if owner == "" || owner == r.SID {
			mine = append(mine, c)
		}
	}
	if len(mine) != 1 {
		if len(mine) > 1 {
			b.logger(r).Warn("several calls could be the interrupted dial's: adopting none", "calls", len(mine))
		}
		return CallInfo{}, false, nil
	}
	return mine[0], true, nil
}

// endOrphanDial hangs up the call an interrupted dial may have created for a reservation that
// ended meanwhile, and records it as that reservation's so no later recovery adopts it.
func (b *Bridge) endOrphanDial(ctx context.Context, r Reservation) error {
	call, found, err := b.findOwnCall(ctx, r)
	if err != nil || !found {
		return err
	}
	now := b.opts.Now()
	_, _, err = b.store.UpdateReservation(ctx, r.SID, r.TaskSID, "", func(s Snapshot) (Change, error) {
		x := s.Reservation
		if x.CallSID != "" {
			return Change{}, nil
		}
		x.CallSID, x.CallStatus, x.UpdatedAt = call.SID, call.Status, now
		change := Change{Reservation: &x}
		if !call.Status.Final() {
			change.Jobs = []Job{{Kind: JobHangup, CallSID: call.SID, Deadline: now.Add(5 * time.Minute)}}
		}
		return change, nil
	})
	if err == nil {
		b.logger(r).Info("hanging up the leg of an interrupted dial whose reservation ended", "call", call.SID)
		b.notify()
	}
	return err
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// hangup ends an agent leg. A leg that may still ring is canceled; Twilio ignores a cancel of a
// call that was answered meanwhile (200, status in-progress), so the status it answers decides
// whether a completed must follow. A leg known to be answered is completed at once.
func (b *Bridge) hangup(ctx context.Context, r Reservation, callSID string) error {
	answered := callSID == r.CallSID && (r.CallStatus == CallInProgress || r.AnsweredBy != "")
	if !answered {
		var after CallStatus
		err := b.twilio("end_call", func() (err error) {
			after, err = b.voice.EndCall(ctx, callSID, CallCanceled)
			return err
		})
		var fe *finalError
		switch {
		case err != nil && !errors.As(err, &fe):
			return err // retried: the next attempt reads the status again
		case err == nil && after != CallInProgress:
			return nil // canceled, or over already
		}
		// Refused, or answered while we canceled: hang it up.
	}
	return b.twilio("end_call", func() error {
		_, err := b.voice.EndCall(ctx, callSID, CallCompleted)
		return err
	})
}

// jobSignal finds a JobSignal in the store, looking through wrappers (the Transition hook's
// store) that offer Unwrap.
func jobSignal(s Store) (JobSignal, bool) {
	for {
		if sig, ok := s.(JobSignal); ok {
			return sig, true
		}
		u, ok := s.(interface{ Unwrap() Store })
		if !ok {
			return nil, false
		}
		s = u.Unwrap()
	}
}
