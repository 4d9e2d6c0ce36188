package taskrouter

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// The whisper and the confirmation (AGENT_WHISPER, AGENT_CONFIRM_KEY). AMD is right most of the
// time, not always: a voicemail greeting short enough to sound like a person ("Hi, it's Bob")
// passes for a human. With confirmation on, a leg AMD lets through hears a short whisper built
// from the task and must press the key within ConfirmTimeout; only then is it given
// <Dial><Queue reservationSid>, which accepts the reservation and dequeues the caller. Until then
// the reservation stays pending and the caller waits in the queue, hearing nothing of it. No key
// (a voicemail box presses none), a hang-up, or a wrong key twice ends the leg and rejects the
// reservation as not confirmed, so TaskRouter routes the task on. Every decision is a stored
// transition keyed by the leg's call SID, so Twilio's retries of the Gather action get the same
// answer.

// Confirmation results, for Hooks.Confirmation.
const (
	ConfirmConfirmed = "confirmed"
	ConfirmRepeated  = "wrong_key_repeated"
	ConfirmNoKey     = "no_key"
	ConfirmWrongKey  = "wrong_key"
	ConfirmHungUp    = "hung_up"
	ConfirmTaken     = "taken"
)

// ConfirmResults lists the results Hooks.Confirmation reports (a bounded metric label).
func ConfirmResults() []string {
	return []string{ConfirmConfirmed, ConfirmRepeated, ConfirmNoKey, ConfirmWrongKey, ConfirmHungUp, ConfirmTaken}
}

// maxConfirmAttempts is how often the prompt is said: once, and once more after a wrong key.
const maxConfirmAttempts = 2

// Confirmation is the confirmation Gather's action request: the key the agent pressed ("" when
// the Gather timed out), for the given attempt.
type Confirmation struct {
	ReservationSID string
	TaskSID        string
	CallSID        string
	Digits         string
	Attempt        int
}

// whisperFacts records on a new reservation what its whisper says of the task.
func whisperFacts(r *Reservation, e Event, now time.Time) {
	r.Department = cleanWords(stringAttr(e.TaskAttributes, "department"), 40)
	r.CallerLast4 = lastDigits(firstNonEmpty(stringAttr(e.TaskAttributes, "from"), stringAttr(e.TaskAttributes, "caller")), 4)
	r.EnqueuedAt = now.Add(-e.TaskAge)
}

// cleanWords keeps letters, digits and spaces of s (an IVR attribute said to the agent), at most
// max runes.
func cleanWords(s string, max int) string {
	out := strings.Map(func(c rune) rune {
		if unicode.IsLetter(c) || unicode.IsDigit(c) || c == ' ' || c == '-' {
			return c
		}
		return ' '
	}, s)
	out = strings.Join(strings.Fields(out), " ")
	if r := []rune(out); len(r) > max {
		out = string(r[:max])
	}
	return out
}

// lastDigits returns the last n digits of a phone number, or "" when it has fewer.
func lastDigits(number string, n int) string {
	var digits []rune
	for _, c := range number {
		if c >= '0' && c <= '9' {
			digits = append(digits, c)
		}
	}
	if len(digits) < n {
		return ""
	}
	return string(digits[len(digits)-n:])
}

// whisperText is what the agent hears of the call: "Call for sales, from a number ending in
// 0 1 2 3, waiting 42 seconds."
func whisperText(r Reservation, now time.Time) string {
	var b strings.Builder
	b.WriteString("Call")
	if r.Department != "" {
		b.WriteString(" for " + r.Department)
	}
	if r.CallerLast4 != "" {
		b.WriteString(", from a number ending in " + strings.Join(strings.Split(r.CallerLast4, ""), " "))
	}
	if !r.EnqueuedAt.IsZero() {
		waited := max(0, now.Sub(r.EnqueuedAt).Round(time.Second))
		b.WriteString(fmt.Sprintf(", waiting %d seconds", int(waited.Seconds())))
	}
	b.WriteString(".")
	return b.String()
}

// spokenKey is how the prompt names the key.
func spokenKey(k string) string {
	if k == "*" {
		return "star"
	}
	return k
}

// humanAnswered is the transition of a leg AMD let through: with confirmation on it waits for
// the key (StateConfirming); otherwise the caller is dequeued at once, after the whisper when on.
func (b *Bridge) humanAnswered(r Reservation, connect Instruction) (State, Instruction) {
	if b.opts.ConfirmKey != "" {
		return StateConfirming, b.confirmPrompt(r, 1, "")
	}
	return StateBridging, b.withWhisper(connect, r)
}

// withWhisper adds the whisper to a Connect when AGENT_WHISPER is on without confirmation.
func (b *Bridge) withWhisper(connect Instruction, r Reservation) Instruction {
	if b.opts.Whisper && b.opts.ConfirmKey == "" {
		connect.Whisper = whisperText(r, b.opts.Now())
	}
	return connect
}

// confirmPrompt is the Gather of the given attempt: the whisper and the key to press, led by
// why it is said again.
func (b *Bridge) confirmPrompt(r Reservation, attempt int, lead string) Instruction {
	msg := whisperText(r, b.opts.Now()) + " Press " + spokenKey(b.opts.ConfirmKey) + " to take the call."
	if lead != "" {
		msg = lead + " " + msg
	}
	return Instruction{Kind: Confirm, Message: msg, ActionURL: b.opts.URLs.AgentConfirm(r.SID, r.TaskSID, attempt),
		ConfirmTimeout: int(b.opts.ConfirmTimeout.Seconds())}
}

// rescinded reports whether TaskRouter ended the reservation because another was accepted.
func rescinded(r Reservation) bool {
	return r.State == StateCanceled && r.Outcome.Kind == OutcomeEndedAtTaskRouter &&
		strings.HasPrefix(r.Outcome.Detail, EventReservationRescinded)
}

// goodbyeFor tells an agent whose leg answered after its reservation ended why: another agent
// took the call (several rung at once), or the caller is gone.
func goodbyeFor(r Reservation) Instruction {
	if rescinded(r) {
		return Instruction{Kind: Goodbye, Message: MsgTaken}
	}
	return Instruction{Kind: Goodbye, Message: MsgCallerGone}
}

// hungUpBeforeBridge is the outcome of an answered leg that ended before the dequeue, from the
// state it was in: during the confirmation it was not confirmed.
func hungUpBeforeBridge(was State) Outcome {
	if was == StateConfirming {
		return Outcome{OutcomeNotConfirmed, NotConfirmedHungUp}
	}
	return Outcome{Kind: OutcomeHungUpBeforeBridge}
}

// taskWinner returns the reservation of the task, other than sid, that took the call (bridging,
// accepted, wrapping or completed), or the zero Reservation. Several reservations of one task
// exist when its queue rings several agents at once (MaxReservedWorkers > 1).
func (b *Bridge) taskWinner(ctx context.Context, taskSID, sid string) (Reservation, error) {
	if taskSID == "" {
		return Reservation{}, nil
	}
	list, err := b.store.TaskReservations(ctx, taskSID)
	if err != nil {
		return Reservation{}, err
	}
	var winner Reservation
	for _, r := range list {
		switch r.State {
		case StateAccepted, StateWrapping, StateCompleted:
			if r.SID != sid {
				return r, nil
			}
		case StateBridging:
			if r.SID != sid {
				winner = r
			}
		}
	}
	return winner, nil
}

// AgentConfirmed decides what the agent's key press does: the key dequeues the caller, a wrong
// key repeats the prompt once, no key (or a second wrong key) ends the leg and rejects the
// reservation as not confirmed. A leg whose reservation is over is told why and hung up on. A
// retried request for the same call and attempt gets the same answer.
func (b *Bridge) AgentConfirmed(ctx context.Context, c Confirmation) (Instruction, error) {
	now := b.opts.Now()
	var ins Instruction
	result := ""
	res, _, err := b.store.UpdateReservation(ctx, c.ReservationSID, c.TaskSID, "", func(s Snapshot) (Change, error) {
		r := s.Reservation
		ins, result = Instruction{Kind: Goodbye, Message: MsgNotNeeded}, ""
		if !s.Found || r.CallSID != c.CallSID {
			return Change{}, nil // not this reservation's leg
		}
		switch {
		case r.State == StateBridging:
			ins = b.connect(r) // Twilio retried the request after the key
			return Change{}, nil
		case r.State == StateRejected && r.Outcome.Kind == OutcomeNotConfirmed:
			ins = notConfirmed(r.Outcome.Detail) // a retry after the leg was turned down
			return Change{}, nil
		case r.State != StateConfirming:
			ins = goodbyeFor(r)
			if rescinded(r) {
				result = ConfirmTaken
			}
			return Change{}, nil
		}
		r.UpdatedAt = now
		switch {
		case c.Digits == b.opts.ConfirmKey:
			r.State, ins, result = StateBridging, b.connect(r), ConfirmConfirmed
			return Change{Reservation: &r}, nil
		case c.Digits != "" && c.Attempt < maxConfirmAttempts:
			ins, result = b.confirmPrompt(r, c.Attempt+1, "That was not the key."), ConfirmRepeated
			return Change{}, nil
		}
		why, what := NotConfirmedNoKey, ConfirmNoKey
		if c.Digits != "" {
			why, what = NotConfirmedWrongKey, ConfirmWrongKey
		}
		r.State, r.Outcome, ins, result = StateRejected, Outcome{OutcomeNotConfirmed, why}, notConfirmed(why), what
		return Change{Reservation: &r, Jobs: []Job{{Kind: JobReject, Deadline: r.Deadline}}}, nil
	})
	if err != nil {
		return Instruction{}, fmt.Errorf("confirmation for reservation %s (call %s): %w", c.ReservationSID, c.CallSID, err)
	}
	b.logConfirmation(res, c, ins, result, now)
	b.notify()
	return ins, nil
}

// connect is the instruction that dequeues the caller through r.
func (b *Bridge) connect(r Reservation) Instruction {
	return Instruction{Kind: Connect, ReservationSID: r.SID, PostWorkActivitySID: b.opts.PostWorkActivitySID,
		ActionURL: b.opts.URLs.AgentAnswer(r.SID, r.TaskSID)}
}

// notConfirmed ends a leg that was not confirmed: silently when no key came (a voicemail box, or
// nobody there), with a word when a person pressed the wrong key twice.
func notConfirmed(why string) Instruction {
	if why == NotConfirmedWrongKey {
		return Instruction{Kind: Goodbye, Message: MsgNotConfirmed}
	}
	return Instruction{Kind: Hangup}
}

func (b *Bridge) logConfirmation(res Reservation, c Confirmation, ins Instruction, result string, now time.Time) {
	log := b.logger(res).With("digits", c.Digits, "attempt", c.Attempt)
	if res.CallSID != c.CallSID {
		log = log.With("leg", c.CallSID)
	}
	switch result {
	case ConfirmConfirmed:
		log.Info("agent confirmed: connecting caller")
	case ConfirmRepeated:
		log.Info("agent pressed another key: prompt repeated")
	case ConfirmNoKey, ConfirmWrongKey:
		log.Info("agent leg not confirmed: hanging up, reservation rejected", "outcome", res.Outcome.String())
	default:
		log.Info("confirmation for a leg whose reservation is over", "state", res.State, "instruction", string(ins.Kind))
	}
	if result != "" && b.hooks.Confirmation != nil {
		b.hooks.Confirmation(result)
	}
	if res.State == StateRejected && res.UpdatedAt.Equal(now) && res.Outcome.Kind == OutcomeNotConfirmed {
		b.final(res)
	}
}
