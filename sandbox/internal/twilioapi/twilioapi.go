// Package twilioapi holds what every engine of the sandbox shares: Twilio's error format,
// Basic auth against the sandbox account, SID minting, list paging, Twilio's time formats,
// signed webhook delivery, the timeline recorder, and the contracts between the engines.
package twilioapi

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Error is a Twilio REST error, answered as {"code","message","more_info","status"}.
type Error struct {
	Status  int    `json:"status"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%d %d: %s", e.Status, e.Code, e.Message) }

// Errorf builds an Error with Twilio's code and an HTTP status.
func Errorf(status, code int, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Common Twilio errors.
func NotFound(resource, sid string) *Error {
	return Errorf(http.StatusNotFound, 20404, "The requested resource %s was not found", resource+"/"+sid)
}

// MissingParam is Twilio's 20001 for a required parameter that was not given.
func MissingParam(name string) *Error {
	return Errorf(http.StatusBadRequest, 20001, "Missing required parameter %s in the post body", name)
}

// InvalidParam is Twilio's 20001 for a parameter with a bad value.
func InvalidParam(name, value string) *Error {
	return Errorf(http.StatusBadRequest, 20001, "Invalid value %q for parameter %s", value, name)
}

// WriteError answers err in Twilio's JSON error format. Errors that are not *Error become 500.
func WriteError(w http.ResponseWriter, err error) {
	te, ok := err.(*Error)
	if !ok {
		te = Errorf(http.StatusInternalServerError, 20500, "Internal server error: %v", err)
	}
	WriteJSON(w, te.Status, map[string]any{
		"code":      te.Code,
		"message":   te.Message,
		"more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", te.Code),
		"status":    te.Status,
	})
}

// WriteJSON answers v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Credentials are the sandbox account's: the account SID and auth token, and optionally an API key.
type Credentials struct {
	AccountSid string
	AuthToken  string
	APIKey     string
	APISecret  string
}

// Authenticate checks Basic auth as Twilio does: account SID + auth token, or API key + secret.
// It answers 401 with Twilio's 20003 otherwise.
func (c Credentials) Authenticate(r *http.Request) error {
	user, pass, ok := r.BasicAuth()
	if ok && ((user == c.AccountSid && pass == c.AuthToken) ||
		(c.APIKey != "" && user == c.APIKey && pass == c.APISecret)) {
		return nil
	}
	return Errorf(http.StatusUnauthorized, 20003, "Authenticate")
}

// NewSID mints a SID with Twilio's shape: a two-letter prefix and 32 hex digits.
func NewSID(prefix string) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// HasSIDShape reports whether s is prefix followed by 32 hex digits.
func HasSIDShape(s, prefix string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, prefix) {
		return false
	}
	_, err := hex.DecodeString(s[2:])
	return err == nil
}

// RFC3339 formats t as TaskRouter and Studio do.
func RFC3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// RFC2822 formats t as the 2010-04-01 API does ("Mon, 02 Jan 2006 15:04:05 +0000").
func RFC2822(t time.Time) string { return t.UTC().Format("Mon, 02 Jan 2006 15:04:05 -0700") }
