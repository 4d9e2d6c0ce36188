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
