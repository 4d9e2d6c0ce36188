package taskrouter

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Defaults: Twilio's and TaskRouter's own, in one place for the bridge, its configuration and
// provisioning.
const (
	// DefaultRingTimeout is Calls.create's Timeout default.
	DefaultRingTimeout = 60 * time.Second
	// DefaultAMDTimeout is Calls.create's MachineDetectionTimeout default.
	DefaultAMDTimeout = 30 * time.Second
	// DefaultReservationTimeout is a workflow's TaskReservationTimeout default.
	DefaultReservationTimeout = 120 * time.Second
	// DefaultLegReportWait gives a leg Twilio created time to send its `initiated` callback
	// (sent as Twilio starts dialing it) before the calls are listed.
	DefaultLegReportWait = 10 * time.Second
	// DefaultJobLease is how long a claimed job is another process's: the dispatcher extends
	// the leases of the jobs it runs every third of it, so a job may run longer (three Twilio
	// requests of up to 10 s each), and a dead process's jobs are claimed again by another one
	// sharing the store within a lease (plus the claim's wake-up).
	DefaultJobLease = 5 * time.Second
	// DefaultConfirmTimeout is how long the agent has to press AGENT_CONFIRM_KEY once the
	// whisper ends (Gather's timeout, Twilio's default for it too).
	DefaultConfirmTimeout = 5 * time.Second
	// WhisperAllowance bounds the time the whisper and the confirmation prompt take to say
	// (about 25 words at the usual text-to-speech pace): what the reservation timeout must
	// leave room for, beside ring and AMD time.
	WhisperAllowance = 10 * time.Second
)

// URLs builds the URLs Twilio is given for an agent leg. The HTTP layer owns the paths and
// implements it; the domain only asks.
type URLs interface {
	// AgentAnswer is the leg's TwiML URL (and its Dial's action URL), keyed by the reservation.
	AgentAnswer(reservationSID, taskSID string) string
	// AgentStatus is the leg's status callback URL.
	AgentStatus(reservationSID, taskSID string) string
	// AgentConfirm is the action URL of the confirmation's Gather: the agent's key press, for
	// the given attempt (1, then 2 after a wrong key).
	AgentConfirm(reservationSID, taskSID string, attempt int) string
}

// OptionError is an invalid option, named as the Options field; configuration maps the field
// to the setting a user wrote.
type OptionError struct {
	Option string
	Value  any
	Want   string
}

func (e *OptionError) Error() string { return fmt.Sprintf("%s %v: %s", e.Option, e.Value, e.Want) }

// Options tune the bridge. Zero values take the defaults given on each field.
type Options struct {
	// URLs builds the agent leg's TwiML and status callback URLs (required).
	URLs URLs
	// CallerID is the agent leg's From. Twilio refuses (21210) a From the account neither owns
	// nor has verified, so the default (empty) is the number the caller dialed (task attribute
	// "to", which the account owns); a fixed E.164 number is used as is; CallerIDCaller passes
	// the caller's own number, which works only where the account has verified it.
	CallerID string
	// MachineDetection is Enable (default) or DetectMessageEnd; "off" disables AMD.
	MachineDetection string
	// RingTimeout is how long the agent's phone rings (default 60 s, Twilio's).
	RingTimeout time.Duration
	// AMDTimeout is MachineDetectionTimeout (default 30 s, Twilio's).
	AMDTimeout time.Duration
	// SpeechThreshold, SpeechEndThreshold, SilenceTimeout tune AMD; zero keeps Twilio's defaults.
	SpeechThreshold, SpeechEndThreshold, SilenceTimeout time.Duration
	// UnknownAnswer is what AnsweredBy=unknown does (default connect).
	UnknownAnswer UnknownPolicy
	// PostWorkActivitySID, when set, is the worker's activity after the bridged call.
	PostWorkActivitySID string
	// NoAnswerActivitySID, when set, is the worker's activity after a reject for a leg the agent
	// did not pick up (no-answer, busy, voicemail, fax), so an absent agent stops receiving calls.
	NoAnswerActivitySID string
	// Whisper, when true, has the agent hear the call before the caller is connected: the
	// task's department, the caller's number masked and the time the caller waited (confirm.go).
	Whisper bool
	// ConfirmKey, when set (a digit or *), has the agent press it after the whisper before the
	// caller is dequeued; a leg that does not (no key, a wrong key twice, a hang-up) is rejected
	// as not confirmed. Setting it implies Whisper.
	ConfirmKey string
	// ConfirmTimeout is how long the agent has to press the key (default DefaultConfirmTimeout).
	ConfirmTimeout time.Duration
	// RestAfter, when positive, rests a worker who missed that many legs in a row (no-answer,
	// busy, a machine, not confirmed: Outcome.Missed): they are moved to RestActivitySID (rest.go).
	RestAfter int
	// RestActivitySID is the activity a rested worker is moved to (required with RestAfter).
	RestActivitySID string
	// RestFor, when positive, is the cool-down after which a rested worker still in
	// RestActivitySID is moved to ReturnActivitySID; zero leaves them resting until they (or a
	// supervisor) change their activity.
	RestFor time.Duration
	// ReturnActivitySID is the activity a rested worker returns to (required with RestFor).
	ReturnActivitySID string
	// ReservationTimeout is the workflow's reservation timeout (default 120 s, TaskRouter's);
	// ReservationTimeouts overrides it per workflow SID.
	ReservationTimeout  time.Duration
	ReservationTimeouts map[string]time.Duration
	// Workers is how many jobs run at once (default 64). A job mostly waits (on Twilio's answer
	// and on durable commits), so this bounds the dial rate: with 16, a burst of 2,000
	// reservations a second queued up hundreds of milliseconds (docs/BENCHMARKS.md). A 429 from
	// Twilio beyond its concurrency limit is retried.
	Workers int
	// LegReportWait is how long an interrupted dial (a Calls.create that timed out or failed
	// with a 5xx) waits for its leg to report through its status callback before the calls are
	// looked up (default DefaultLegReportWait).
	LegReportWait time.Duration
	// JobLease is how long a claimed job is leased (default DefaultJobLease); the dispatcher
	// extends the leases of the jobs it runs. A job neither finished nor rescheduled when its
	// lease ends was stranded by a crash or by a store that refused the write ending it, and is
	// claimed again. It is on Now's clock, and the extensions tick in real time (keepLeases):
	// with a clock faster than real time, scale it by the clock's speed.
	JobLease time.Duration
	// RetryBase and RetryMax bound the exponential backoff of retried Twilio requests
	// (defaults 200 ms and 10 s).
	RetryBase, RetryMax time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// CallerIDCaller is the CallerID that passes the caller's own number as the agent leg's From.
const CallerIDCaller = "caller"

// callerID picks the agent leg's From for a task (see Options.CallerID).
func (o Options) callerID(task map[string]any) string {
	switch o.CallerID {
	case "":
		return firstNonEmpty(stringAttr(task, "to"), stringAttr(task, "called"))
	case CallerIDCaller:
		return firstNonEmpty(stringAttr(task, "from"), stringAttr(task, "caller"))
	}
	return o.CallerID
}

// Machine detection modes.
const (
	AMDEnable           = "Enable"
	AMDDetectMessageEnd = "DetectMessageEnd"
	AMDOff              = "off"
)

func (o Options) withDefaults() Options {
	if o.MachineDetection == "" {
		o.MachineDetection = AMDEnable
	}
	if o.RingTimeout == 0 {
		o.RingTimeout = DefaultRingTimeout
	}
	if o.AMDTimeout == 0 {
		o.AMDTimeout = DefaultAMDTimeout
	}
	if o.UnknownAnswer == "" {
		o.UnknownAnswer = UnknownConnect
	}
	if o.ReservationTimeout == 0 {
		o.ReservationTimeout = DefaultReservationTimeout
	}
	if o.Workers <= 0 {
		o.Workers = 64
	}
	if o.LegReportWait <= 0 {
		o.LegReportWait = DefaultLegReportWait
	}
	if o.JobLease <= 0 {
		o.JobLease = DefaultJobLease
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 200 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Second
	}
	if o.ConfirmTimeout <= 0 {
		o.ConfirmTimeout = DefaultConfirmTimeout
	}
	if o.ConfirmKey != "" {
		o.Whisper = true
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Validate checks the options that do not need Twilio to be checked. Its errors are
// *OptionError.
func (o Options) Validate() error {
	o = o.withDefaults()
	if o.URLs == nil {
		return &OptionError{"URLs", nil, "required"}
	}
	switch o.MachineDetection {
	case AMDEnable, AMDDetectMessageEnd, AMDOff:
	default:
		return &OptionError{"MachineDetection", o.MachineDetection, "want Enable, DetectMessageEnd or off"}
	}
	if s := o.RingTimeout.Seconds(); s < 5 || s > 600 {
		return &OptionError{"RingTimeout", o.RingTimeout, "Twilio accepts 5 to 600 seconds"}
	}
	if s := o.AMDTimeout.Seconds(); s < 3 || s > 59 {
		return &OptionError{"AMDTimeout", o.AMDTimeout, "Twilio accepts 3 to 59 seconds"}
	}
	switch o.UnknownAnswer {
	case UnknownConnect, UnknownReject:
	default:
		return &OptionError{"UnknownAnswer", o.UnknownAnswer, "want connect or reject"}
	}
	if o.CallerID != "" && o.CallerID != CallerIDCaller && !ValidContactURI(o.CallerID) {
		return &OptionError{"CallerID", o.CallerID, "want an E.164 number the account owns such as +15551234567, or \"caller\""}
	}
	return o.validateAgentSide()
}

// validateAgentSide checks the whisper, confirmation and rest options.
func (o Options) validateAgentSide() error {
	if k := o.ConfirmKey; k != "" && (len(k) != 1 || !strings.ContainsAny(k, "0123456789*")) {
		return &OptionError{"ConfirmKey", k, "want one key: a digit 0-9 or *"}
	}
	if s := o.ConfirmTimeout.Seconds(); s < 1 || s > 60 || o.ConfirmTimeout%time.Second != 0 {
		return &OptionError{"ConfirmTimeout", o.ConfirmTimeout, "want whole seconds from 1 to 60"}
	}
	switch {
	case o.RestAfter < 0:
		return &OptionError{"RestAfter", o.RestAfter, "must not be negative"}
	case o.RestAfter > 0 && o.RestActivitySID == "":
		return &OptionError{"RestActivitySID", "", "required to rest workers: the activity they are moved to"}
	case o.RestFor < 0:
		return &OptionError{"RestFor", o.RestFor, "must not be negative"}
	case o.RestAfter > 0 && o.RestFor > 0 && o.ReturnActivitySID == "":
		return &OptionError{"ReturnActivitySID", "", "required with a cool-down: the activity rested workers return to"}
	}
	return nil
}

// ConfirmTime is the longest the whisper and the confirmation keep an answered leg before the
// dequeue: the whisper alone, or two prompts (one repeat after a wrong key) each followed by the
// key's timeout. The reservation timeout must cover it beside ring and AMD time.
func (o Options) ConfirmTime() time.Duration {
	o = o.withDefaults()
	switch {
	case o.ConfirmKey != "":
		return 2 * (WhisperAllowance + o.ConfirmTimeout)
	case o.Whisper:
		return WhisperAllowance
	}
	return 0
}

// LegTimeouts are the agent leg's ring and AMD timeouts, defaults applied: what a workflow's
// reservation timeout must cover.
func (o Options) LegTimeouts() (ring, amd time.Duration) {
	o = o.withDefaults()
	return o.RingTimeout, o.AMDTimeout
}

// CheckTiming is the start-up check that the agent leg fits in a reservation: ring time plus AMD
// time (plus the whisper and confirmation's, when on) must be shorter than the workflow's
// reservation timeout, or TaskRouter would time the reservation out while the agent is still
// being rung, classified or asked to confirm.
func (o Options) CheckTiming(workflow string, reservationTimeout time.Duration) error {
	o = o.withDefaults()
	need := o.legTime()
	if need >= reservationTimeout {
		confirm := ""
		if c := o.ConfirmTime(); c > 0 {
			confirm = fmt.Sprintf(" + whisper and confirmation %v", c)
		}
		return fmt.Errorf("workflow %s: ring timeout %v + AMD timeout %v%s = %v does not fit in its reservation timeout %v: "+
			"lower the ring or AMD timeout, or raise the workflow's TaskReservationTimeout above %v",
			workflow, o.RingTimeout, o.AMDTimeout, confirm, need, reservationTimeout, need)
	}
	return nil
}

// legTime is the longest an agent leg may take from Calls.create to the dequeue, defaults
// applied: ring, AMD when on, the whisper and confirmation when on.
func (o Options) legTime() time.Duration {
	need := o.RingTimeout + o.ConfirmTime()
	if o.MachineDetection != AMDOff {
		need += o.AMDTimeout
	}
	return need
}

func (o Options) reservationTimeout(workflowSID string) time.Duration {
	if d, ok := o.ReservationTimeouts[workflowSID]; ok && d > 0 {
		return d
	}
	return o.ReservationTimeout
}

// ValidContactURI reports whether s can be dialed as an agent leg: an E.164 number, or a
// sip: or client: URI.
func ValidContactURI(s string) bool {
	switch {
	case strings.HasPrefix(s, "sip:"), strings.HasPrefix(s, "client:"):
		return len(s) > len("client:") && !strings.ContainsAny(s, " \t\r\n")
	case strings.HasPrefix(s, "+"):
		digits := s[1:]
		if len(digits) < 2 || len(digits) > 15 || digits[0] == '0' {
			return false
		}
		for _, c := range digits {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	return false
}
