package taskrouter

import "slices"

// AnsweredBy is the AMD verdict Twilio reports on the agent leg's TwiML request.
type AnsweredBy string

// The verdicts of MachineDetection=Enable (human, machine_start, fax, unknown) and
// DetectMessageEnd (human, machine_end_*, fax, unknown).
const (
	AnsweredHuman             AnsweredBy = "human"
	AnsweredMachineStart      AnsweredBy = "machine_start"
	AnsweredMachineEndBeep    AnsweredBy = "machine_end_beep"
	AnsweredMachineEndSilence AnsweredBy = "machine_end_silence"
	AnsweredMachineEndOther   AnsweredBy = "machine_end_other"
	AnsweredFax               AnsweredBy = "fax"
	AnsweredUnknown           AnsweredBy = "unknown"
)

// ParseAnsweredBy parses Twilio's AnsweredBy. An empty value (AMD not run) is returned as is.
func ParseAnsweredBy(s string) (AnsweredBy, error) {
	a := AnsweredBy(s)
	if a == "" || slices.Contains(answeredByValues, a) {
		return a, nil
	}
	return "", Errorf(EInvalid, "AnsweredBy %q is not a Twilio AMD verdict", s)
}

var answeredByValues = []AnsweredBy{AnsweredHuman, AnsweredMachineStart, AnsweredMachineEndBeep,
	AnsweredMachineEndSilence, AnsweredMachineEndOther, AnsweredFax, AnsweredUnknown}

// IsMachine reports whether AMD recognised an answering machine or a fax: never bridge a caller to it.
func (a AnsweredBy) IsMachine() bool {
	switch a {
	case AnsweredMachineStart, AnsweredMachineEndBeep, AnsweredMachineEndSilence, AnsweredMachineEndOther, AnsweredFax:
		return true
	}
	return false
}

// CallStatus is a Voice call's status as Twilio reports it in status callbacks.
type CallStatus string

// Twilio's call statuses.
const (
	CallQueued     CallStatus = "queued"
	CallInitiated  CallStatus = "initiated"
	CallRinging    CallStatus = "ringing"
	CallInProgress CallStatus = "in-progress"
	CallCompleted  CallStatus = "completed"
	CallBusy       CallStatus = "busy"
	CallFailed     CallStatus = "failed"
	CallNoAnswer   CallStatus = "no-answer"
	CallCanceled   CallStatus = "canceled"
)

// ParseCallStatus parses Twilio's CallStatus.
func ParseCallStatus(s string) (CallStatus, error) {
	if c := CallStatus(s); slices.Contains(callStatusValues, c) {
		return c, nil
	}
	if s == "" {
		return "", Errorf(EInvalid, "CallStatus is missing")
	}
	return "", Errorf(EInvalid, "CallStatus %q is not a Twilio call status", s)
}

var callStatusValues = []CallStatus{CallQueued, CallInitiated, CallRinging, CallInProgress, CallCompleted,
	CallBusy, CallFailed, CallNoAnswer, CallCanceled}

// Final reports whether the call is over.
func (c CallStatus) Final() bool {
	switch c {
	case CallCompleted, CallBusy, CallFailed, CallNoAnswer, CallCanceled:
		return true
	}
	return false
}

// NeverAnswered reports whether the call ended without being answered (Twilio never fetched its Url).
func (c CallStatus) NeverAnswered() bool {
	return c == CallBusy || c == CallFailed || c == CallNoAnswer || c == CallCanceled
}

// UnknownPolicy is what an AnsweredBy=unknown verdict does (UNKNOWN_ANSWER).
type UnknownPolicy string

// The two policies.
const (
	UnknownConnect UnknownPolicy = "connect"
	UnknownReject  UnknownPolicy = "reject"
)
