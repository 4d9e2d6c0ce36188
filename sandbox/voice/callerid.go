package voice

import (
	"net/http"
	"strings"
	"time"

	"queuebridge/sandbox/internal/twilioapi"
)

// callerID is a verified outgoing caller ID (an OutgoingCallerId resource): a number the
// account does not own but may use as the From of the calls it places.
type callerID struct {
	sid, phone, friendlyName string
	created                  time.Time
}

// VerifyCallerID makes e164 a verified outgoing caller ID of the account (what Twilio's
// verification call does) and returns its SID (PN…). Verifying a number twice returns the
// existing SID.
func (e *Engine) VerifyCallerID(e164 string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.callerIDs {
		if c.phone == e164 {
			return c.sid
		}
	}
	c := &callerID{sid: twilioapi.NewSID("PN"), phone: e164, friendlyName: e164, created: e.clock.Now()}
	e.callerIDs = append(e.callerIDs, c)
	return c.sid
}

// mayCallFromLocked reports whether from may be the From of a call the API creates: one of the
// account's numbers (IncomingPhoneNumbers) or a verified outgoing caller ID. Client
// identities are not phone numbers and are not checked.
func (e *Engine) mayCallFromLocked(from string) bool {
	if strings.HasPrefix(from, "client:") || e.numberByPhoneLocked(from) != nil {
		return true
	}
	for _, c := range e.callerIDs {
		if c.phone == from {
			return true
		}
	}
	return false
}

// errUnverifiedFrom is Twilio's 21210 for a From the account neither owns nor has verified.
func errUnverifiedFrom(from string) error {
	return twilioapi.Errorf(http.StatusBadRequest, 21210, "The source phone number provided, %s, is not yet verified for your account. You may only make calls from phone numbers that you've verified or purchased from Twilio.", from)
}

// callerIDJSON is Twilio's OutgoingCallerId resource.
type callerIDJSON struct {
	Sid          string `json:"sid"`
	DateCreated  string `json:"date_created"`
	DateUpdated  string `json:"date_updated"`
	FriendlyName string `json:"friendly_name"`
	AccountSid   string `json:"account_sid"`
	PhoneNumber  string `json:"phone_number"`
	URI          string `json:"uri"`
}

// listCallerIDs answers the OutgoingCallerIds list, filtered by PhoneNumber and FriendlyName
// (exact matches, as the API documents them).
func (e *Engine) listCallerIDs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	phone, friendly := q.Get("PhoneNumber"), q.Get("FriendlyName")
	e.mu.Lock()
	items := []callerIDJSON{}
	for _, c := range e.callerIDs {
		if (phone != "" && c.phone != phone) || (friendly != "" && c.friendlyName != friendly) {
			continue
		}
		items = append(items, callerIDJSON{
			Sid: c.sid, DateCreated: twilioapi.RFC2822(c.created), DateUpdated: twilioapi.RFC2822(c.created),
			FriendlyName: c.friendlyName, AccountSid: e.creds.AccountSid, PhoneNumber: c.phone,
			URI: "/2010-04-01/Accounts/" + e.creds.AccountSid + "/OutgoingCallerIds/" + c.sid + ".json",
		})
	}
	e.mu.Unlock()
	twilioapi.List2010(w, r, "outgoing_caller_ids", items)
}

// OwnsNumber reports whether phone is one of the account's phone numbers (an
// IncomingPhoneNumber): what Messaging accepts as a From.
func (e *Engine) OwnsNumber(phone string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.numberByPhoneLocked(phone) != nil
}
