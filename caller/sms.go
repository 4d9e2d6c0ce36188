package caller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"queuebridge/taskrouter"
)

// The SMS afterwards: a caller who left a voicemail, or hung up after waiting at least
// SMSSettings.AbandonedAfter in the queue, gets one SMS from the number they called, at most
// once per number and day, never to a number known to be unable to take it.
//
// At most once, not at least once: the claim of (number, day) is stored durably before Twilio
// is asked to create the message, and a create that fails or times out is never sent again (a
// timed-out create may well have been sent, and Twilio has no idempotency key). A crash between
// the claim and the create, or a create that failed for a passing reason, costs that caller
// their SMS for the day; nobody ever gets two.

// MaxSMSText is the longest body Twilio's Message resource takes (1,600 characters).
const MaxSMSText = 1600

// SMSSettings configure the SMS afterwards (SMS_TEXT, SMS_ABANDONED_AFTER, SMS_TIME_ZONE).
type SMSSettings struct {
	// Text is the body; empty turns the SMS off.
	Text string
	// AbandonedAfter is the least time in the queue (TaskRouter's TaskAge) after which a caller
	// who hung up gets the SMS; 0: only voicemails trigger it.
	AbandonedAfter time.Duration
	// Location is the time zone of the "day" of once a day (nil: UTC).
	Location *time.Location
}

// Enabled reports whether SMS are sent at all.
func (s SMSSettings) Enabled() bool { return s.Text != "" }

// Validate refuses settings Twilio would refuse on every message, or that mean nothing.
func (s SMSSettings) Validate() error {
	if n := utf8.RuneCountInString(s.Text); n > MaxSMSText {
		return fmt.Errorf("SMS_TEXT is %d characters long: Twilio takes at most %d", n, MaxSMSText)
	}
	if s.AbandonedAfter < 0 {
		return errors.New("SMS_ABANDONED_AFTER must not be negative")
	}
	return nil
}

// SMSReason says why a caller is texted.
type SMSReason string

const (
	SMSVoicemail SMSReason = "voicemail"
	SMSAbandoned SMSReason = "abandoned"
)

// SMSTrigger is one reason to text a caller: From is the number the caller called (the SMS goes
// from it), To is the caller.
type SMSTrigger struct {
	Reason   SMSReason
	From, To string
	CallSID  string
	At       time.Time
}

// Day is the calendar day of at in loc (UTC when nil), as "2026-12-01": the unit of once a day.
func Day(at time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	return at.In(loc).Format(time.DateOnly)
}

// Twilio's error codes that say a number cannot take an SMS from us: it is remembered and never
// texted again.
const (
	// ErrUnsubscribed (21610): the recipient replied STOP to this sender.
	ErrUnsubscribed = 21610
	// ErrNotMobile (21614): "'To' number is not a valid mobile number".
	ErrNotMobile = 21614
	// ErrLandline (21635): "'To' number cannot be a landline" (where Twilio does not attempt it).
	ErrLandline = 21635
	// ErrLandlineOrUnreachable (30006): a delivery attempted to a landline ended undelivered.
	ErrLandlineOrUnreachable = 30006
)

// Unreachable reports whether Twilio's error code means the number cannot take our SMS.
func Unreachable(code int) bool {
	switch code {
	case ErrUnsubscribed, ErrNotMobile, ErrLandline, ErrLandlineOrUnreachable:
		return true
	}
	return false
}

// Messages is what the SMS afterwards asks of Twilio.
type Messages interface {
	// SendSMS creates a message and returns its SID and status. A failure Twilio answered is a
	// *taskrouter.RemoteError carrying Twilio's error code.
	SendSMS(ctx context.Context, from, to, body, statusCallback string) (sid, status string, err error)
}

// The statuses of an SMS row besides Twilio's message statuses.
const (
	// SMSClaimed: claimed, the create not answered yet (or the process died meanwhile).
	SMSClaimed = "claimed"
	// SMSNotSent: Twilio refused the create (ErrorCode says why).
	SMSNotSent = "not-sent"
	// SMSUnknown: the create failed without an answer (a timeout): it may have been sent.
	SMSUnknown = "unknown"
)

// SMS is one SMS a caller was claimed for on a day, and what became of it.
type SMS struct {
	To         string    `json:"to"`
	Day        string    `json:"day"`
	From       string    `json:"from"`
	Reason     SMSReason `json:"reason"`
	CallSID    string    `json:"call_sid"`
	MessageSID string    `json:"message_sid,omitempty"`
	Status     string    `json:"status"`
	ErrorCode  int       `json:"error_code,omitempty"`
	CreatedAt  time.Time `json:"created_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Claim is what claiming a number's SMS of a day found.
type Claim int

const (
	// Claimed: this claim is the day's, the SMS may be sent.
	Claimed Claim = iota
	// AlreadyClaimed: the number was claimed that day already.
	AlreadyClaimed
	// KnownUnreachable: the number is known not to take our SMS.
	KnownUnreachable
)

// SMSStore keeps the SMS sent and the numbers that cannot take one.
type SMSStore interface {
	// ClaimSMS stores s (status SMSClaimed) unless s.To was claimed on s.Day already or is
	// known unreachable, in one transaction (replicas included): of any number of concurrent
	// claims of one (To, Day), exactly one is Claimed.
	ClaimSMS(ctx context.Context, s SMS) (Claim, error)
	// RecordSMS stores the create's result on the claim of (to, day): the message SID, and the
	// status unless a status callback already moved it on.
	RecordSMS(ctx context.Context, to, day, messageSID, status string, errorCode int, at time.Time) error
	// UpdateSMSStatus applies a status callback to the message (found by its SID, or, when the
	// callback beat RecordSMS, to the claim of to whose SID is not known yet); a final status
	// (delivered, undelivered, failed) is never replaced. found is false for an unknown message.
	UpdateSMSStatus(ctx context.Context, messageSID, to, status string, errorCode int, at time.Time) (s SMS, found bool, err error)
	// MarkUnreachable remembers that number cannot take our SMS (Twilio's code says why).
	MarkUnreachable(ctx context.Context, number string, code int, at time.Time) error
	// ListSMS returns the most recent claims first, at most limit.
	ListSMS(ctx context.Context, limit int) ([]SMS, error)
}

// SMSStatus is a message status callback's parameters.
type SMSStatus struct {
	MessageSID, Status, From, To string
	ErrorCode                    int
}

// messageStatuses are the Message resource's statuses (twilio-oai message_enum_status).
var messageStatuses = map[string]bool{
	"queued": true, "sending": true, "sent": true, "failed": true, "delivered": true, "undelivered": true,
	"receiving": true, "received": true, "accepted": true, "scheduled": true, "read": true,
	"partially_delivered": true, "canceled": true,
}

// ParseSMSStatus reads a message status callback (MessageSid, MessageStatus, ErrorCode, From, To).
func ParseSMSStatus(get func(string) string) (SMSStatus, error) {
	s := SMSStatus{MessageSID: get("MessageSid"), Status: get("MessageStatus"), From: get("From"), To: get("To")}
	if !taskrouter.ValidSID(s.MessageSID, "SM") && !taskrouter.ValidSID(s.MessageSID, "MM") {
		return s, taskrouter.Errorf(taskrouter.EInvalid, "MessageSid %q is not an SM… or MM… SID", s.MessageSID)
	}
	if !messageStatuses[s.Status] {
		return s, taskrouter.Errorf(taskrouter.EInvalid, "MessageStatus %q is not a message status", s.Status)
	}
	if v := get("ErrorCode"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return s, taskrouter.Errorf(taskrouter.EInvalid, "ErrorCode %q is not a number", v)
		}
		s.ErrorCode = n
	}
	return s, nil
}

// Final reports whether the status ends the message's story.
func (s SMSStatus) Final() bool {
	return s.Status == "delivered" || s.Status == "undelivered" || s.Status == "failed"
}

// SMSSenderConfig builds an SMSSender.
type SMSSenderConfig struct {
	Settings SMSSettings
	Store    SMSStore
	Messages Messages
	// StatusCallback is the URL Twilio reports each message's status to.
	StatusCallback string
	Logger         *slog.Logger
	// Now is the clock of the days (time.Now when nil).
	Now func() time.Time
	// QueueSize bounds the triggers waiting for the worker (default 256); SendTimeout is the
	// context a create gets (default 10 s). The twilio-go adapter cannot pass a context on
	// (twilio-go takes none): there its HTTP client's timeout is what bounds a create.
	QueueSize   int
	SendTimeout time.Duration
}

// SMSSender sends the SMS afterwards. Notify never blocks the webhook that triggers it: the
// triggers wait in a bounded queue for one worker; a trigger that finds the queue full is
// dropped, counted and logged.
type SMSSender struct {
	cfg     SMSSenderConfig
	queue   chan SMSTrigger
	mu      sync.Mutex
	closed  bool
	dropped int64
	done    chan struct{}
}

// NewSMSSender starts the sender's worker; Close stops it.
func NewSMSSender(cfg SMSSenderConfig) *SMSSender {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 10 * time.Second
	}
	s := &SMSSender{cfg: cfg, queue: make(chan SMSTrigger, cfg.QueueSize), done: make(chan struct{})}
	go s.run()
	return s
}

// Notify queues t without waiting; it reports whether t was queued (false: SMS off, the
// sender closed, or the queue full, which is counted and logged).
func (s *SMSSender) Notify(t SMSTrigger) bool {
	if !s.cfg.Settings.Enabled() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	select {
	case s.queue <- t:
		return true
	default:
		s.dropped++
		s.cfg.Logger.Warn("SMS afterwards: queue full, trigger dropped", "call", t.CallSID, "reason", string(t.Reason), "dropped", s.dropped)
		return false
	}
}

// Dropped is how many triggers found the queue full.
func (s *SMSSender) Dropped() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Voicemail triggers the SMS for a new voicemail: from the number the caller called to the caller.
func (s *SMSSender) Voicemail(v Voicemail) {
	s.Notify(SMSTrigger{Reason: SMSVoicemail, From: v.To, To: v.From, CallSID: v.CallSID, At: s.cfg.Now()})
}

// TaskEvent triggers the SMS for a caller who hung up in the queue after waiting at least
// AbandonedAfter: a task.canceled whose reason says hang-up, the numbers from the task's
// attributes (from: the caller, to: the number called, as <Enqueue> sets them).
func (s *SMSSender) TaskEvent(e taskrouter.Event) {
	after := s.cfg.Settings.AbandonedAfter
	if after <= 0 || e.Type != taskrouter.EventTaskCanceled || !HungUp(e.Reason) || e.TaskAge < after {
		return
	}
	from, _ := e.TaskAttributes["to"].(string)
	to, _ := e.TaskAttributes["from"].(string)
	callSID, _ := e.TaskAttributes["call_sid"].(string)
	s.Notify(SMSTrigger{Reason: SMSAbandoned, From: from, To: to, CallSID: callSID, At: s.cfg.Now()})
}

// HungUp reports whether a task's canceled reason says its caller hung up (the operator page
// reads it the same way).
func HungUp(reason string) bool {
	r := strings.ToLower(reason)
	return strings.Contains(r, "hangup") || strings.Contains(r, "hung up")
}

// Close stops taking triggers and waits until the queued ones are sent, or ctx ends.
func (s *SMSSender) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("SMS afterwards: %d triggers not sent: %w", len(s.queue), ctx.Err())
	}
}

func (s *SMSSender) run() {
	defer close(s.done)
	for t := range s.queue {
		s.send(t)
	}
}

// storeTimeout bounds each store operation of the worker.
const storeTimeout = 10 * time.Second

// send claims the caller's SMS of the day, durably, then asks Twilio once.
func (s *SMSSender) send(t SMSTrigger) {
	log := s.cfg.Logger.With("call", t.CallSID, "reason", string(t.Reason))
	if !phoneNumber(t.To) || !phoneNumber(t.From) {
		log.Info("SMS afterwards: no SMS, not a pair of phone numbers", "to", t.To, "from", t.From)
		return
	}
	day := Day(t.At, s.cfg.Settings.Location)
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	claim, err := s.cfg.Store.ClaimSMS(ctx, SMS{To: t.To, Day: day, From: t.From, Reason: t.Reason, CallSID: t.CallSID,
		Status: SMSClaimed, CreatedAt: t.At, UpdatedAt: t.At})
	cancel()
	switch {
	case err != nil:
		log.Error("SMS afterwards: claim failed, no SMS", "err", err)
		return
	case claim == AlreadyClaimed:
		log.Info("SMS afterwards: already texted today", "day", day)
		return
	case claim == KnownUnreachable:
		log.Info("SMS afterwards: the number cannot take our SMS")
		return
	}
	ctx, cancel = context.WithTimeout(context.Background(), s.cfg.SendTimeout)
	sid, status, err := s.cfg.Messages.SendSMS(ctx, t.From, t.To, s.cfg.Settings.Text, s.cfg.StatusCallback)
	cancel()
	code := 0
	if err != nil {
		status = SMSUnknown
		var re *taskrouter.RemoteError
		if errors.As(err, &re) && re.Kind == taskrouter.Permanent {
			status, code = SMSNotSent, re.Code
		}
		log.Warn("SMS afterwards: create failed, not retried", "err", err, "status", status, "code", code)
	} else {
		log.Info("SMS afterwards: sent", "message", sid, "status", status)
	}
	now := s.cfg.Now()
	ctx, cancel = context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	if Unreachable(code) {
		if err := s.cfg.Store.MarkUnreachable(ctx, t.To, code, now); err != nil {
			log.Error("SMS afterwards: remembering an unreachable number", "err", err)
		}
	}
	if err := s.cfg.Store.RecordSMS(ctx, t.To, day, sid, status, code, now); err != nil {
		log.Error("SMS afterwards: recording the create's result", "message", sid, "err", err)
	}
}

// ApplyStatus applies a message status callback; an undelivered or failed message whose code
// says the number cannot take SMS marks the number (its To, which Twilio signed).
func (s *SMSSender) ApplyStatus(ctx context.Context, st SMSStatus) error {
	now := s.cfg.Now()
	if (st.Status == "undelivered" || st.Status == "failed") && Unreachable(st.ErrorCode) && phoneNumber(st.To) {
		if err := s.cfg.Store.MarkUnreachable(ctx, st.To, st.ErrorCode, now); err != nil {
			return err
		}
	}
	_, found, err := s.cfg.Store.UpdateSMSStatus(ctx, st.MessageSID, st.To, st.Status, st.ErrorCode, now)
	if err != nil {
		return err
	}
	if !found {
		s.cfg.Logger.Info("SMS status for a message this bridge did not send", "message", st.MessageSID, "status", st.Status)
	}
	return nil
}

// ListSMS lists the most recent SMS claims first.
func (s *SMSSender) ListSMS(ctx context.Context, limit int) ([]SMS, error) {
	return s.cfg.Store.ListSMS(ctx, limit)
}

// phoneNumber reports whether s is an E.164 number (a client: or sip: caller takes no SMS).
func phoneNumber(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, r := range s[1:] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
