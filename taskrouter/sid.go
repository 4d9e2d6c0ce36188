package taskrouter

import "strings"

// SID prefixes of the resources queuebridge handles.
const (
	PrefixReservation = "WR"
	PrefixTask        = "WT"
	PrefixWorker      = "WK"
	PrefixWorkspace   = "WS"
	PrefixWorkflow    = "WW"
	PrefixActivity    = "WA"
	PrefixEvent       = "EV"
	PrefixCall        = "CA"
	PrefixAccount     = "AC"
)

// ValidSID reports whether s is a Twilio SID with the given prefix: two letters and 32 hex digits.
func ValidSID(s, prefix string) bool {
	if len(s) != 34 || !strings.HasPrefix(s, prefix) {
		return false
	}
	for i := 2; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// checkSID returns an EInvalid error naming the field when s is not a SID with prefix.
func checkSID(field, s, prefix string) error {
	if s == "" {
		return Errorf(EInvalid, "%s is missing", field)
	}
	if !ValidSID(s, prefix) {
		return Errorf(EInvalid, "%s %q is not a %s… SID", field, s, prefix)
	}
	return nil
}
