package taskrouter

import (
	"errors"
	"fmt"
)

// Application error codes. The HTTP adapter maps each to one status, in one place.
const (
	EInvalid      = "invalid"      // the request is malformed: 400
	EUnauthorized = "unauthorized" // the request is not Twilio's: 403
	ENotFound     = "not_found"    // the resource does not exist: 404
	EConflict     = "conflict"     // the resource is not in a state that allows this: 409
	EInternal     = "internal"     // anything else: 500, logged, never shown
)

// Error is queuebridge's one application error: a code and a message fit for the caller.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Errorf returns an *Error with the code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the *Error in err's chain, or EInternal.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the message of the *Error in err's chain, or a generic one, so that
// internal details never reach a response.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// ErrNotFound is returned by a Store for an unknown reservation.
var ErrNotFound = Errorf(ENotFound, "not found")

// FailureKind says what a failed request to Twilio means for sending it again. Adapters (the
// twilio-go one, test fakes) report their failures as a *RemoteError of one kind, so the
// dispatcher never depends on any client library's error types.
type FailureKind int

// The failure kinds.
const (
	// Ambiguous: the request may have been acted on (a timeout, a connection dropped after
	// sending). For Calls.create, which has no idempotency key, look before trying again.
	Ambiguous FailureKind = iota
	// Permanent: refused (a 4xx other than 429); the same request would be refused again.
	Permanent
	// Retryable: Twilio answered that it failed (a 5xx). An idempotent request may be sent
	// again; a create may still have taken effect before the failure.
	Retryable
	// NotSent: certainly not acted on (429, or the connection was never made): even a create
	// may be sent again.
	NotSent
)

func (k FailureKind) String() string {
	switch k {
	case Permanent:
		return "permanent"
	case Retryable:
		return "retryable"
	case NotSent:
		return "not_sent"
	}
	return "ambiguous"
}

// RemoteError is a failed request to Twilio, as an adapter classified it.
type RemoteError struct {
	Kind FailureKind
	// Status is the HTTP status Twilio answered, 0 when there was no answer.
	Status int
	// Code is Twilio's error code (e.g. 21210), 0 when unknown.
	Code int
	Err  error
}

func (e *RemoteError) Error() string { return e.Err.Error() }
func (e *RemoteError) Unwrap() error { return e.Err }

// FailureOf returns the kind of the *RemoteError in err's chain. An error no adapter classified
// is Ambiguous: nothing is known of what it did.
func FailureOf(err error) FailureKind {
	var re *RemoteError
	if errors.As(err, &re) {
		return re.Kind
	}
	return Ambiguous
}
