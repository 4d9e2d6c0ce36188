package taskrouter

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Bridge is the reservation state machine: it turns TaskRouter events and the agent leg's
// webhooks into stored transitions and queued jobs, and runs those jobs (see Run).
type Bridge struct {
	store  Store
	voice  Voice
	router Router
	opts   Options
	log    *slog.Logger
	// wake tells the dispatcher that jobs may have been queued, after a write that may have
	// queued some; nil when the store says so itself (JobSignal), exactly when it commits jobs.
	wake  chan struct{}
	hooks Hooks
	// refusedFrom holds the From numbers Twilio refused (21210): each is logged at ERROR once.
	refusedFrom sync.Map
	// talkChecked is when the reconciler last checked the conversations (talkCheckDue).
	talkMu      sync.Mutex
	talkChecked time.Time
}

// Hooks let an observer (metrics) see what the bridge decides. Every field is optional.
type Hooks struct {
	// Outcome is called once per reservation when it reaches a final state of ours.
	Outcome func(state State, outcome Outcome)
	// CallPlaced is called after Calls.create returned, with the time since reservation.created.
	CallPlaced func(sinceCreated time.Duration)
	// TwilioRequest is called after every Twilio REST request the bridge makes; failed tells
	// how it failed when err is not nil.
	TwilioRequest func(op string, took time.Duration, err error, failed FailureKind)
	// JobRetried is called when a job is scheduled again after a failure.
	JobRetried func(kind JobKind)
	// CallerIDRefused is called when Twilio refuses the agent leg's From (21210): a
	// configuration error, not the agent's.
	CallerIDRefused func()
	// Repaired is called when the reconciler applies an update the webhooks failed to deliver;
	// what is bounded ("taskrouter_canceled", "leg_no-answer", …).
	Repaired func(what string)
	// Transition is called after every committed change of a reservation, whoever made it (a
	// webhook, the dispatcher, the reconciler), with the reservation as it was (zero when it was
	// new) and as stored. It runs on that goroutine, outside the store's transaction: it must not
	// block. Two changes of one reservation committed close together may be reported in either
	// order. See transitions.go.
	Transition func(before, after Reservation)
	// Confirmation is called once per decision on an agent's confirmation (confirm.go); result
	// is one of the Confirm* results.
	Confirmation func(result string)
	// Rest is called when a worker is rested or returned (rest.go); event is one of the Rest*
	// events.
	Rest func(event string)
	// Misses is called with a worker's count of consecutive missed legs each time it is taken
	// (REST_AFTER_MISSES on): after a miss, a bridged call (0) or a rest (0).
	Misses func(workerSID string, misses int)
}

// NewBridge returns a bridge over the store and Twilio. Call Run to process jobs.
func NewBridge(store Store, voice Voice, router Router, opts Options, hooks Hooks) (*Bridge, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if hooks.Transition != nil {
		store = transitionStore{Store: store, transition: hooks.Transition}
	}
	b := &Bridge{store: store, voice: voice, router: router, opts: opts, hooks: hooks, log: opts.Logger}
	if _, signals := jobSignal(store); !signals {
		b.wake = make(chan struct{}, 1)
	}
	return b, nil
}

// Instruction is what the agent leg is told to do; the HTTP adapter renders it as TwiML.
type Instruction struct {
	Kind InstructionKind
	// ReservationSID and PostWorkActivitySID, for Connect.
	ReservationSID      string
	PostWorkActivitySID string
	// ActionURL receives the Dial's outcome, for Connect.
	ActionURL string
	// Message is said to the agent before hanging up, for Goodbye; the whisper and the prompt
	// the Gather says, for Confirm.
	Message string
	// Whisper is said to the agent before the caller is dequeued, for Connect (AGENT_WHISPER
	// without confirmation); empty says nothing.
	Whisper string
	// ConfirmTimeout is the Gather's timeout in seconds, for Confirm; ActionURL receives the key.
	ConfirmTimeout int
}

// InstructionKind is the kind of an Instruction.
type InstructionKind string

// The instructions.
const (
	// Connect dequeues the caller through the reservation: <Dial action><Queue reservationSid/></Dial>.
	Connect InstructionKind = "connect"
	// Hangup ends the leg silently (a machine, a fax, a finished bridge).
	Hangup InstructionKind = "hangup"
	// Goodbye tells the agent briefly why, then hangs up.
	Goodbye InstructionKind = "goodbye"
	// Confirm says the whisper and asks for one key: <Gather numDigits="1" action
	// actionOnEmptyResult><Say/></Gather>; the action learns the key, or that none came.
	Confirm InstructionKind = "confirm"
)

// Messages said to agents.
const (
	MsgCallerGone    = "Sorry, the caller is no longer waiting. Goodbye."
	MsgNotNeeded     = "Sorry, this call is no longer needed. Goodbye."
	MsgDequeueFailed = "Sorry, the caller could not be connected. Goodbye."
	MsgTaken         = "Sorry, another agent has taken this call. Goodbye."
	MsgNotConfirmed  = "The call was not taken. Goodbye."
)

// notify wakes the dispatcher after a write that may have queued jobs, unless the store signals
// queued jobs itself: then every webhook's wake-up would be a claim and a look-up (two round
// trips on PostgreSQL) that find nothing most of the time.
func (b *Bridge) notify() {
	if b.wake == nil {
		return
	}
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Bridge) logger(r Reservation) *slog.Logger {
	return b.log.With("reservation", r.SID, "task", r.TaskSID, "worker", r.WorkerSID, "call", r.CallSID)
}

// final records the end of a reservation's open life once, for hooks.
func (b *Bridge) final(r Reservation) {
	if b.hooks.Outcome != nil {
		b.hooks.Outcome(r.State, r.Outcome)
	}
}

// HandleEvent acts on one TaskRouter event. Duplicates (same event SID) and reordered events
// change nothing that was decided already.
func (b *Bridge) HandleEvent(ctx context.Context, e Event) error {
	var err error
	switch e.Type {
	case EventReservationCreated:
		err = b.reservationCreated(ctx, e)
	case EventReservationAccepted:
		err = b.reservationFollows(ctx, e, StateAccepted, "accepted")
	case EventReservationWrapup:
		err = b.reservationFollows(ctx, e, StateWrapping, "wrapup")
	case EventReservationCompleted:
		err = b.reservationFollows(ctx, e, StateCompleted, "completed")
	case EventReservationRejected:
		err = b.reservationEnded(ctx, e, StateRejected)
	case EventReservationTimeout, EventReservationCanceled, EventReservationRescinded:
		err = b.reservationEnded(ctx, e, StateCanceled)
	case EventTaskCanceled:
		err = b.taskCanceled(ctx, e)
	case EventTaskCompleted:
		err = b.taskCompleted(ctx, e)
	default:
		b.log.Debug("event ignored", "event", e.Type, "sid", e.SID, "task", e.TaskSID)
	}
	if err != nil {
		return fmt.Errorf("event %s %s (reservation %s, task %s): %w", e.Type, e.SID, e.ReservationSID, e.TaskSID, err)
	}
	b.notify()
	return nil
}

func (b *Bridge) reservationCreated(ctx context.Context, e Event) error {
	now := b.opts.Now()
	res, dup, err := b.store.UpdateReservation(ctx, e.ReservationSID, e.TaskSID, e.SID, func(s Snapshot) (Change, error) {
		if s.Found {
			return Change{}, nil // a duplicate, or an event about it that came first
		}
		r := Reservation{
			SID: e.ReservationSID, TaskSID: e.TaskSID, WorkspaceSID: e.WorkspaceSID, WorkflowSID: e.WorkflowSID,
			WorkerSID: e.WorkerSID, WorkerName: e.WorkerName,
			ContactURI: stringAttr(e.WorkerAttrs, "contact_uri"),
			CallerID:   b.opts.callerID(e.TaskAttributes),
			State:      StatePending, CreatedAt: now, UpdatedAt: now,
			Deadline: now.Add(b.opts.reservationTimeout(e.WorkflowSID)),
		}
		whisperFacts(&r, e, now)
		switch {
		case s.TaskCanceled != "":
			r.State, r.Outcome = StateCanceled, Outcome{OutcomeTaskCanceled, s.TaskCanceled + " (before reservation.created)"}
			return Change{Reservation: &r}, nil
		case !ValidContactURI(r.ContactURI):
			r.State, r.Outcome = StateRejected, Outcome{OutcomeNoContactURI, fmt.Sprintf("worker has no usable contact_uri (%q)", r.ContactURI)}
			return Change{Reservation: &r, Jobs: []Job{{Kind: JobReject, Deadline: r.Deadline}}}, nil
		case !ValidContactURI(r.CallerID):
			r.State, r.Outcome = StateRejected, Outcome{OutcomeNoCallerID, fmt.Sprintf("the task has no usable number for the agent leg's From (got %q): set CALLER_ID to a number the account owns", r.CallerID)}
			return Change{Reservation: &r, Jobs: []Job{{Kind: JobReject, Deadline: r.Deadline}}}, nil
		}
		return Change{Reservation: &r, Jobs: []Job{{Kind: JobDial, Deadline: r.Deadline}}}, nil
	})
	if err != nil || dup {
		return err
	}
	switch res.State {
	case StatePending:
		b.logger(res).Info("reservation created: dialing agent", "to", res.ContactURI)
	case StateRejected:
		b.logger(res).Warn("reservation rejected", "why", res.Outcome.String())
		b.final(res)
	}
	return nil
}

// reservationFollows applies an event that reports TaskRouter's truth after a bridge
// (accepted, wrapup, completed). It never moves a reservation backwards.
func (b *Bridge) reservationFollows(ctx context.Context, e Event, to State, what string) error {
	rank := map[State]int{StateAccepted: 1, StateWrapping: 2, StateCompleted: 3}
	now := b.opts.Now()
	res, dup, err := b.store.UpdateReservation(ctx, e.ReservationSID, e.TaskSID, e.SID, func(s Snapshot) (Change, error) {
		r := s.Reservation
		if !s.Found {
			r = Reservation{SID: e.ReservationSID, TaskSID: e.TaskSID, WorkspaceSID: e.WorkspaceSID, WorkflowSID: e.WorkflowSID,
				WorkerSID: e.WorkerSID, WorkerName: e.WorkerName, CreatedAt: now, Deadline: now}
		}
		if rank[r.State] >= rank[to] {
			return Change{}, nil
		}
		r.State, r.UpdatedAt = to, now
		if r.Outcome.Kind == "" || to == StateAccepted {
			r.Outcome = Outcome{Kind: OutcomeBridged}
		}
		change := Change{Reservation: &r}
		if to == StateWrapping {
			change.Jobs = []Job{{Kind: JobCompleteTask, Deadline: now.Add(time.Hour)}}
		}
		return change, nil
	})
	if err != nil || dup {
		return err
	}
	if res.State == to {
		b.logger(res).Info("reservation "+what, "state", to)
		if to == StateAccepted {
			b.final(res)
		}
	}
	return nil
}

// reservationEnded applies an event that ends the reservation at TaskRouter (timeout, canceled,
// rescinded, rejected): our agent leg, if any, is ended.
func (b *Bridge) reservationEnded(ctx context.Context, e Event, to State) error {
	now := b.opts.Now()
	why := Outcome{OutcomeEndedAtTaskRouter, e.Type}
	res, dup, err := b.store.UpdateReservation(ctx, e.ReservationSID, e.TaskSID, e.SID, func(s Snapshot) (Change, error) {
		if !s.Found {
			// It ended before we saw it created: remember, so a late reservation.created is not dialed.
			r := Reservation{SID: e.ReservationSID, TaskSID: e.TaskSID, WorkspaceSID: e.WorkspaceSID,
				WorkflowSID: e.WorkflowSID, WorkerSID: e.WorkerSID, WorkerName: e.WorkerName,
				State: to, Outcome: Outcome{why.Kind, why.Detail + " before reservation.created"}, CreatedAt: now, UpdatedAt: now, Deadline: now}
			return Change{Reservation: &r}, nil
		}
		return b.endLocked(s.Reservation, to, why, now), nil
	})
	if err != nil || dup {
		return err
	}
	if res.State == to && res.UpdatedAt.Equal(now) {
		b.logger(res).Info("reservation ended at TaskRouter", "state", to, "why", res.Outcome.String())
		b.final(res)
	}
	return nil
}

// endLocked ends an open reservation and, when the agent leg exists, queues its hang-up. A leg
// still being created (dialing, no SID) is ended by the dispatcher once its SID is known.
func (b *Bridge) endLocked(r Reservation, to State, why Outcome, now time.Time) Change {
	if !r.State.Open() {
		return Change{}
	}
	r.State, r.Outcome, r.UpdatedAt = to, why, now
	change := Change{Reservation: &r}
	if r.CallSID != "" && !r.CallStatus.Final() {
		change.Jobs = []Job{{Kind: JobHangup, CallSID: r.CallSID, Deadline: now.Add(5 * time.Minute)}}
	}
	return change
}

func (b *Bridge) taskCanceled(ctx context.Context, e Event) error {
	now := b.opts.Now()
	why := Outcome{OutcomeTaskCanceled, e.Reason}
	var ended []Reservation
	_, err := b.store.UpdateTask(ctx, e.TaskSID, firstNonEmpty(e.Reason, "canceled"), e.SID, func(s Snapshot) (Change, error) {
		c := b.endLocked(s.Reservation, StateCanceled, why, now)
		if c.Reservation != nil {
			ended = append(ended, *c.Reservation)
		}
		return c, nil
	})
	if err != nil {
		return err
	}
	for _, r := range ended {
		b.logger(r).Info("reservation ended: task canceled", "why", why.String())
		b.final(r)
	}
	return nil
}

// taskCompleted records the end of the task on its bridged reservation (reservation.completed
// usually says so first).
func (b *Bridge) taskCompleted(ctx context.Context, e Event) error {
	now := b.opts.Now()
	_, err := b.store.UpdateTask(ctx, e.TaskSID, "", e.SID, func(s Snapshot) (Change, error) {
		r := s.Reservation
		if r.State != StateAccepted && r.State != StateWrapping {
			return Change{}, nil
		}
		r.State, r.UpdatedAt = StateCompleted, now
		return Change{Reservation: &r}, nil
	})
	if err == nil {
		b.log.Info("task completed", "task", e.TaskSID, "why", e.Reason)
	}
	return err
}

// Answer is the agent leg's TwiML request: the call was answered and AMD has decided.
type Answer struct {
	ReservationSID string
	TaskSID        string
	CallSID        string
	AnsweredBy     AnsweredBy
}

// AgentAnswered decides what an answered agent leg does: a human is connected to the waiting
// caller, a machine or fax is hung up on and the reservation rejected, and a leg whose
// reservation is over (or that is not the reservation's leg at all) is told so and hung up on.
// A retried request for the same call gets the same answer.
func (b *Bridge) AgentAnswered(ctx context.Context, a Answer) (Instruction, error) {
	now := b.opts.Now()
	var ins Instruction
	decide := func(s Snapshot) (Change, error) {
		r := s.Reservation
		ins = Instruction{Kind: Goodbye, Message: MsgNotNeeded}
		if !s.Found || (r.CallSID != "" && r.CallSID != a.CallSID) {
			return Change{}, nil // not this reservation's leg: an orphan
		}
		connect := Instruction{Kind: Connect, ReservationSID: r.SID, PostWorkActivitySID: b.opts.PostWorkActivitySID,
			ActionURL: b.opts.URLs.AgentAnswer(r.SID, r.TaskSID)}
		switch r.State {
		case StateBridging:
			ins = b.withWhisper(connect, r) // Twilio retried the request
			return Change{}, nil
		case StateConfirming:
			ins = b.confirmPrompt(r, 1, "") // Twilio retried the request
			return Change{}, nil
		case StatePending, StateDialing, StateRinging:
		default:
			if r.State == StateRejected && r.CallSID == a.CallSID && r.AnsweredBy != "" && r.AnsweredBy == a.AnsweredBy {
				ins = Instruction{Kind: Hangup} // a retry after a machine verdict
			} else {
				ins = goodbyeFor(r)
			}
			return Change{}, nil
		}
		r.CallSID, r.AnsweredBy, r.UpdatedAt = a.CallSID, a.AnsweredBy, now
		if r.CallStatus == "" || !r.CallStatus.Final() {
			r.CallStatus = CallInProgress
		}
		verdict := a.AnsweredBy
		if verdict == "" && b.opts.MachineDetection != AMDOff {
			verdict = AnsweredUnknown // AMD was asked for and gave nothing: treat as undecided
		}
		switch {
		case verdict == "" || verdict == AnsweredHuman || (verdict == AnsweredUnknown && b.opts.UnknownAnswer == UnknownConnect):
			r.State, ins = b.humanAnswered(r, connect)
			return Change{Reservation: &r}, nil
		default: // a machine, a fax, or unknown under the reject policy
			r.State, r.Outcome = StateRejected, Outcome{OutcomeAnsweredBy, string(verdict)}
			ins = Instruction{Kind: Hangup}
			return Change{Reservation: &r, Jobs: []Job{{Kind: JobReject, Deadline: r.Deadline}}}, nil
		}
	}
	// A request that changes nothing (Twilio retrying for a reservation already decided, a leg
	// that is not the reservation's) is answered from a read: only a change takes the write path.
	res, err := b.store.Reservation(ctx, a.ReservationSID)
	wrote := false
	if err == nil || errors.Is(err, ErrNotFound) {
		if change, _ := decide(Snapshot{Reservation: res, Found: err == nil}); change.Reservation != nil || len(change.Jobs) > 0 {
			res, _, err = b.store.UpdateReservation(ctx, a.ReservationSID, a.TaskSID, "", decide)
			wrote = true
		} else {
			err = nil
		}
	}
	if err != nil {
		return Instruction{}, fmt.Errorf("answer for reservation %s (call %s): %w", a.ReservationSID, a.CallSID, err)
	}
	if !wrote && res.CallSID == a.CallSID && (ins.Kind == Connect || ins.Kind == Confirm) {
		// Twilio retried a request whose answer was given and logged: the same answer again,
		// without building a logger for a line nobody reads at the default level.
		if b.log.Enabled(ctx, slog.LevelDebug) {
			b.logger(res).Debug("agent leg request retried: the same answer", "instruction", string(ins.Kind))
		}
		return ins, nil
	}
	log := b.logger(res).With("answered_by", string(a.AnsweredBy))
	if res.CallSID != a.CallSID {
		log = log.With("leg", a.CallSID) // not the reservation's own leg
	}
	switch ins.Kind {
	case Connect:
		log.Info("agent answered: connecting caller", "whisper", ins.Whisper != "")
	case Confirm:
		log.Info("agent answered: whisper, waiting for the confirmation key")
	case Hangup:
		log.Info("agent leg not a human: hanging up, reservation rejected", "outcome", res.Outcome.String())
		if res.State == StateRejected && res.UpdatedAt.Equal(now) {
			b.final(res)
		}
	case Goodbye:
		log.Info("agent answered but the reservation is over", "state", res.State)
	}
	if wrote {
		b.notify()
	}
	return ins, nil
}

// DialResult is the Dial's action request: how the dequeue ended.
type DialResult struct {
	ReservationSID string
	// TaskSID is the task of the reservation (the action URL's task): with several agents rung
	// at once, another reservation of the task may have taken the call.
	TaskSID        string
	CallSID        string
	DialCallStatus CallStatus
}

// DialEnded handles the Dial's outcome. After a bridge that took place nothing more is said; when
// the dequeue failed (the caller left, the reservation was no longer pending) the agent is told
// briefly, and a reservation still open is rejected so TaskRouter routes the task again.
func (b *Bridge) DialEnded(ctx context.Context, d DialResult) (Instruction, error) {
	if d.DialCallStatus == CallCompleted || d.DialCallStatus == CallInProgress || d.DialCallStatus == "answered" {
		return Instruction{Kind: Hangup}, nil
	}
	now := b.opts.Now()
	winner, err := b.taskWinner(ctx, d.TaskSID, d.ReservationSID)
	if err != nil {
		return Instruction{}, fmt.Errorf("dial result for reservation %s (call %s): %w", d.ReservationSID, d.CallSID, err)
	}
	res, _, err := b.store.UpdateReservation(ctx, d.ReservationSID, d.TaskSID, "", func(s Snapshot) (Change, error) {
		r := s.Reservation
		if !s.Found || r.CallSID != d.CallSID || !r.State.Open() {
			return Change{}, nil
		}
		if winner.State == StateAccepted || winner.State == StateWrapping || winner.State == StateCompleted {
			// TaskRouter rescinds every other reservation when one is accepted: nothing to reject.
			r.State, r.Outcome, r.UpdatedAt = StateCanceled, Outcome{OutcomeEndedAtTaskRouter, EventReservationRescinded}, now
			return Change{Reservation: &r}, nil
		}
		r.State, r.Outcome, r.UpdatedAt = StateRejected, Outcome{OutcomeDequeueFailed, string(d.DialCallStatus)}, now
		return Change{Reservation: &r, Jobs: []Job{{Kind: JobReject, Deadline: r.Deadline}}}, nil
	})
	if err != nil {
		return Instruction{}, fmt.Errorf("dial result for reservation %s (call %s): %w", d.ReservationSID, d.CallSID, err)
	}
	ins := Instruction{Kind: Goodbye, Message: MsgDequeueFailed}
	if winner.SID != "" || rescinded(res) {
		ins.Message = MsgTaken
	}
	b.logger(res).Warn("dequeue failed: agent told, leg ended", "dial_call_status", string(d.DialCallStatus), "taken", ins.Message == MsgTaken)
	if !res.State.Open() && res.UpdatedAt.Equal(now) {
		b.final(res)
	}
	b.notify()
	return ins, nil
}

// CallUpdate is one status callback of the agent leg.
type CallUpdate struct {
	ReservationSID string
	// TaskSID is the reservation's task as the status callback URL names it ("" for a leg
	// placed before the URL carried it).
	TaskSID string
	CallSID string
	Status  CallStatus
}

// AgentCallStatus records the agent leg's status. A leg that ends without a human taking the
// call (busy, no-answer, failed, canceled by someone else, or hung up before the bridge) rejects
// the reservation while it is still open, so TaskRouter tries the next agent.
func (b *Bridge) AgentCallStatus(ctx context.Context, u CallUpdate) error {
	now := b.opts.Now()
	rejected := false // this update, not an earlier one, ended the reservation
	late := false     // this update found a leg of an interrupted dial, late
	res, _, err := b.store.UpdateReservation(ctx, u.ReservationSID, u.TaskSID, "", func(s Snapshot) (Change, error) {
		rejected, late = false, false
		r := s.Reservation
		if !s.Found || (r.CallSID != "" && r.CallSID != u.CallSID) {
			return Change{}, nil
		}
		if r.CallStatus.Final() || r.CallStatus == u.Status {
			return Change{}, nil // late or repeated callback
		}
		if r.CallStatus == CallInProgress && !u.Status.Final() {
			return Change{}, nil // a callback from before the answer, delivered late
		}
		if r.CallSID == "" && r.State != StateDialing && r.State != StatePending {
			change := lateLeg(r, u, now)
			late = change.Reservation != nil
			return change, nil
		}
		r.CallSID, r.CallStatus, r.UpdatedAt = u.CallSID, u.Status, now
		change := Change{Reservation: &r}
		if r.State == StateDialing || r.State == StatePending {
			r.State = StateRinging
		}
		if u.Status.Final() && r.State.Open() {
			reject := Job{Kind: JobReject, Deadline: r.Deadline}
			if r.State == StateBridging {
				// The dequeue may have happened and reservation.accepted not arrived yet: the
				// reject waits a little and is skipped if TaskRouter reports the bridge.
				reject.NotBefore = now.Add(5 * time.Second)
				reject.Deadline = later(r.Deadline, reject.NotBefore.Add(time.Minute))
			}
			was := r.State
			r.State, rejected = StateRejected, true
			if u.Status == CallCompleted {
				r.Outcome = hungUpBeforeBridge(was)
			} else {
				r.Outcome = Outcome{OutcomeLegEnded, string(u.Status)}
			}
			change.Jobs = []Job{reject}
		}
		return change, nil
	})
	if err != nil {
		return fmt.Errorf("status %s for reservation %s (call %s): %w", u.Status, u.ReservationSID, u.CallSID, err)
	}
	if late {
		b.logger(res).Info("a leg of an interrupted dial reported after its reservation ended: hanging it up",
			"status", string(u.Status))
	}
	if rejected {
		b.logger(res).Info("agent leg ended without a bridge: reservation rejected", "status", string(u.Status), "outcome", res.Outcome.String())
		b.final(res)
		if res.Outcome.Kind == OutcomeNotConfirmed && b.hooks.Confirmation != nil {
			b.hooks.Confirmation(ConfirmHungUp)
		}
	}
	b.notify()
	return nil
}

// lateLeg handles the first report of a leg placed by a dial whose outcome was unknown (a
// timeout, a 5xx) for a reservation that ended before the leg showed up. The reservation SID is
// in the status callback URL, so the leg is this reservation's own: it is recorded (so no other
// reservation's recovery adopts it) and, still ringing, hung up so the agent is not rung for
// nobody.
func lateLeg(r Reservation, u CallUpdate, now time.Time) Change {
	if r.DialingAt.IsZero() {
		return Change{} // never dialed by us: not a leg of ours
	}
	r.CallSID, r.CallStatus, r.UpdatedAt = u.CallSID, u.Status, now
	change := Change{Reservation: &r}
	if !u.Status.Final() {
		change.Jobs = []Job{{Kind: JobHangup, CallSID: u.CallSID, Deadline: now.Add(5 * time.Minute)}}
	}
	return change
}

// Reservation returns the stored reservation (for operators and tests).
func (b *Bridge) Reservation(ctx context.Context, sid string) (Reservation, error) {
	return b.store.Reservation(ctx, sid)
}
