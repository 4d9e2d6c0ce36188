package taskrouter

import (
	"fmt"
	"strings"
)

// OutcomeKind says why a reservation ended where it did. The set is closed: metrics label by
// it and the worker-caused rule switches on it, so a new way for a reservation to end is a new
// kind, never a new free string.
type OutcomeKind string

// The outcome kinds. Detail, where a kind has one, is said on each.
const (
	// OutcomeBridged: a human took the call and the caller was dequeued to them.
	OutcomeBridged OutcomeKind = "bridged"
	// OutcomeAnsweredBy: AMD said machine_*, fax, or unknown under UNKNOWN_ANSWER=reject.
	// Detail: the AnsweredBy verdict.
	OutcomeAnsweredBy OutcomeKind = "answered_by"
	// OutcomeLegEnded: the agent leg ended unanswered. Detail: its CallStatus (no-answer, busy,
	// failed, canceled).
	OutcomeLegEnded OutcomeKind = "leg_ended"
	// OutcomeHungUpBeforeBridge: the leg was answered and ended before the dequeue bridged it
	// (the agent hung up while AMD listened, say).
	OutcomeHungUpBeforeBridge OutcomeKind = "hung_up_before_bridge"
	// OutcomeDequeueFailed: <Dial><Queue> did not bridge. Detail: the DialCallStatus.
	OutcomeDequeueFailed OutcomeKind = "dequeue_failed"
	// OutcomeEndedAtTaskRouter: TaskRouter ended the reservation. Detail: the event type
	// (reservation.timeout, .canceled, .rescinded, .rejected), with " before reservation.created"
	// when it came first.
	OutcomeEndedAtTaskRouter OutcomeKind = "ended_at_taskrouter"
	// OutcomeTaskCanceled: the task was canceled (the caller hung up, say). Detail: its reason.
	OutcomeTaskCanceled OutcomeKind = "task_canceled"
	// OutcomeNoContactURI: the worker has no dialable contact_uri. Detail: the value it has.
	OutcomeNoContactURI OutcomeKind = "no_contact_uri"
	// OutcomeNoCallerID: no usable From for the agent leg. Detail: the value found.
	OutcomeNoCallerID OutcomeKind = "no_caller_id"
	// OutcomeCallRefused: Twilio refused Calls.create for good. Detail: Twilio's error.
	OutcomeCallRefused OutcomeKind = "call_refused"
	// OutcomeDialOutOfTime: Calls.create kept failing until the reservation's deadline. Detail:
	// the last error.
	OutcomeDialOutOfTime OutcomeKind = "dial_out_of_time"
	// OutcomeDialNotFound: a dial was interrupted (crash, timeout) and no call of it was found.
	OutcomeDialNotFound OutcomeKind = "dial_interrupted"
	// OutcomeNotConfirmed: AMD let the leg through but the agent did not press AGENT_CONFIRM_KEY
	// (a voicemail that fooled AMD, an agent who hung up or pressed another key twice). Counted
	// apart from AMD's verdicts. Detail: one of the NotConfirmed* reasons.
	OutcomeNotConfirmed OutcomeKind = "not_confirmed"
)

// Why a leg was not confirmed (OutcomeNotConfirmed's detail).
const (
	NotConfirmedNoKey    = "no key"
	NotConfirmedWrongKey = "wrong key"
	NotConfirmedHungUp   = "hung up"
)

// Outcome is why a reservation ended where it did: a kind, and a detail for people.
type Outcome struct {
	Kind   OutcomeKind
	Detail string
}

// outcomePhrases say each kind for people; %s is the detail.
var outcomePhrases = map[OutcomeKind]string{
	OutcomeAnsweredBy:         "answered by %s",
	OutcomeLegEnded:           "%s",
	OutcomeHungUpBeforeBridge: "agent leg ended before the bridge",
	OutcomeDequeueFailed:      "dequeue failed: %s",
	OutcomeEndedAtTaskRouter:  "%s",
	OutcomeTaskCanceled:       "task canceled: %s",
	OutcomeNoContactURI:       "%s",
	OutcomeNoCallerID:         "no usable caller ID: %s",
	OutcomeCallRefused:        "Twilio refused the agent leg: %s",
	OutcomeDialOutOfTime:      "could not place the agent leg in time: %s",
	OutcomeDialNotFound:       "dial interrupted, %s",
	OutcomeNotConfirmed:       "not confirmed: %s",
}

// String is the outcome for logs and people, e.g. "answered by machine_start".
func (o Outcome) String() string {
	phrase, ok := outcomePhrases[o.Kind]
	switch {
	case !ok:
		return strings.TrimSuffix(string(o.Kind)+": "+o.Detail, ": ")
	case strings.Contains(phrase, "%s"):
		return strings.TrimSuffix(fmt.Sprintf(phrase, o.Detail), ": ")
	}
	return phrase
}

// Label is the outcome as a bounded metric label: the kind, refined by the detail only where the
// detail is itself one of Twilio's closed sets (an AMD verdict, a call status).
func (o Outcome) Label() string {
	switch o.Kind {
	case OutcomeAnsweredBy:
		if _, err := ParseAnsweredBy(o.Detail); err == nil && o.Detail != "" {
			return "answered_by_" + o.Detail
		}
	case OutcomeLegEnded, OutcomeDequeueFailed:
		if _, err := ParseCallStatus(o.Detail); err == nil {
			return string(o.Kind) + "_" + o.Detail
		}
	case "":
		return "none"
	}
	return string(o.Kind)
}

// WorkerCaused reports whether the agent's phone, not the caller or queuebridge, ended the
// reservation: no answer, busy, unreachable, voicemail, fax, undecided, hung up, no usable
// contact_uri, or a leg Twilio refused. Such rejects carry NOANSWER_ACTIVITY so TaskRouter
// stops offering that agent calls; the others leave the agent's activity alone.
func (o Outcome) WorkerCaused() bool {
	switch o.Kind {
	case OutcomeAnsweredBy, OutcomeHungUpBeforeBridge, OutcomeNoContactURI, OutcomeCallRefused, OutcomeNotConfirmed:
		return true
	case OutcomeLegEnded:
		return o.Detail != string(CallCanceled)
	}
	return false
}

// Missed reports whether the agent missed the call on a leg that reached their phone: it rang
// out (no-answer), was busy, was answered by a machine (or AMD could not tell, under
// UNKNOWN_ANSWER=reject), the agent hung up before the bridge, or did not confirm. These count
// toward REST_AFTER_MISSES; a failed leg (the network's), a refused one (the configuration's) and
// every end TaskRouter or the caller decided do not.
func (o Outcome) Missed() bool {
	switch o.Kind {
	case OutcomeAnsweredBy, OutcomeHungUpBeforeBridge, OutcomeNotConfirmed:
		return true
	case OutcomeLegEnded:
		return o.Detail == string(CallNoAnswer) || o.Detail == string(CallBusy)
	}
	return false
}
