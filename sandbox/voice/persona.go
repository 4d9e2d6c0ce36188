package voice

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// PersonaKind says what sits at the far end of a number.
type PersonaKind string

// The kinds of far end the sandbox can play.
const (
	KindHuman     PersonaKind = "human"
	KindVoicemail PersonaKind = "voicemail"
	KindNoAnswer  PersonaKind = "no-answer"
	KindBusy      PersonaKind = "busy"
	KindFail      PersonaKind = "fail"
	KindFax       PersonaKind = "fax"
	KindSilent    PersonaKind = "silent"
)

// What a voicemail greeting ends with, which decides DetectMessageEnd's verdict.
const (
	GreetingEndsWithBeep    = "beep"
	GreetingEndsWithSilence = "silence"
	GreetingEndsWithOther   = "other"
)

// Persona is the scripted behaviour of whoever (or whatever) answers a number, or of a caller
// who dials one of the sandbox's numbers. All durations are clock time.
//
// The model:
//   - AnswerAfter: ringing time before the persona picks up (callees).
//   - Greeting: the first thing heard after answering: a human's "Hello?" (short, below
//     MachineDetectionSpeechThreshold) or a voicemail greeting (long). AMD judges it.
//   - GreetingEnd: what follows a voicemail greeting (beep, silence or other noise).
//   - TalkFor: how long the persona stays once bridged with another party (a <Dial>ed agent or
//     a dequeued caller) before hanging up; 0 means it waits for the other side to hang up.
//     A human alone with TwiML listens until the TwiML ends.
//   - HangUpAfter: the time after the answer at which the persona drops the line whatever is
//     happening (IVR, queue, bridge): machines have one; a caller given one abandons at that
//     stage (0: never).
//   - Patience: for callers, how long they wait in a queue (<Enqueue>) before hanging up;
//     0 means forever.
//   - Digits: pressed at the first <Gather> of the call, PressAfter after its prompts end. A
//     comma-separated list presses each part at the next <Gather> ("9,1": a wrong key at the
//     first, 1 at the second); an empty part presses nothing at that one.
//   - PressAfter: how long after a <Gather>'s prompts the persona presses (0: one second). A
//     persona who would press after the Gather's timeout presses nothing.
//   - MessageLength: what the persona says to a <Record>; 0 means it stays silent.
//   - QueueDigits: pressed at a <Gather> of the queue's wait music once the caller has waited
//     QueueDigitsAfter in the queue (once per call).
//   - Transcript: the text a transcription of the persona's message gives (a default names
//     the message's length).
type Persona struct {
	Kind             PersonaKind
	AnswerAfter      time.Duration
	Greeting         time.Duration
	GreetingEnd      string
	TalkFor          time.Duration
	HangUpAfter      time.Duration
	Patience         time.Duration
	Digits           string
	PressAfter       time.Duration
	MessageLength    time.Duration
	QueueDigits      string
	QueueDigitsAfter time.Duration
	Transcript       string
}

// digitsAt returns what the persona presses at its n-th <Gather> (from 0).
func (p Persona) digitsAt(n int) string {
	if p.Digits == "" {
		return ""
	}
	parts := strings.Split(p.Digits, ",")
	if n >= len(parts) {
		return ""
	}
	return strings.TrimSpace(parts[n])
}

// pressDelay is how long after a <Gather>'s prompts the persona presses.
func (p Persona) pressDelay() time.Duration {
	if p.PressAfter > 0 {
		return p.PressAfter
	}
	return digitsPressed
}

// humanHello is how long a human's first words ("Hello?") last: well below Twilio's default
// speech threshold of 2.4 s, so AMD hears a human.
const humanHello = time.Second

// DefaultPersona answers a number that has no persona: a human who picks up after 2 s and
// talks for 30 s once bridged.
func DefaultPersona() Persona { return Human(2*time.Second, 30*time.Second) }

// Human answers after answerAfter, says "Hello?" (1 s) and talks for talkFor once bridged.
func Human(answerAfter, talkFor time.Duration) Persona {
	return Persona{Kind: KindHuman, AnswerAfter: answerAfter, Greeting: humanHello, TalkFor: talkFor}
}

// Voicemail answers after answerAfter and plays a greeting of the given length, followed by a
// beep or by silence; it drops the line 60 s after the greeting.
func Voicemail(answerAfter, greeting time.Duration, beep bool) Persona {
	end := GreetingEndsWithSilence
	if beep {
		end = GreetingEndsWithBeep
	}
	return Persona{Kind: KindVoicemail, AnswerAfter: answerAfter, Greeting: greeting, GreetingEnd: end,
		HangUpAfter: greeting + 60*time.Second}
}

// NoAnswer rings until the ring timeout.
func NoAnswer() Persona { return Persona{Kind: KindNoAnswer} }

// Busy answers every call with a busy signal (SIP 486).
func Busy() Persona { return Persona{Kind: KindBusy} }

// Fail makes every call to the number fail (unreachable, SIP 500).
func Fail() Persona { return Persona{Kind: KindFail} }

// Fax answers after answerAfter with a fax tone and drops the line after 30 s.
func Fax(answerAfter time.Duration) Persona {
	return Persona{Kind: KindFax, AnswerAfter: answerAfter, HangUpAfter: 30 * time.Second}
}

// Silent answers after answerAfter and says nothing: AMD cannot tell (unknown).
func Silent(answerAfter time.Duration) Persona {
	return Persona{Kind: KindSilent, AnswerAfter: answerAfter}
}

// Unknown is Silent under the name of the AMD verdict it produces.
func Unknown(answerAfter time.Duration) Persona { return Silent(answerAfter) }

// WithPatience returns p waiting at most d in a queue.
func (p Persona) WithPatience(d time.Duration) Persona { p.Patience = d; return p }

// WithDigits returns p pressing digits at the first <Gather> (comma-separated: one part per
// <Gather>, in order).
func (p Persona) WithDigits(digits string) Persona { p.Digits = digits; return p }

// WithPressAfter returns p pressing its digits d after a <Gather>'s prompts end.
func (p Persona) WithPressAfter(d time.Duration) Persona { p.PressAfter = d; return p }

// ShortVoicemail is a voicemail whose greeting ("Hi, it's Bob", 1.5 s, then silence) is shorter
// than AMD's speech threshold (2.4 s by default): AMD hears a human, as Twilio describes the
// threshold ("durations lower than this value will be interpreted as a human"). Like every
// machine, it presses no key.
func ShortVoicemail(answerAfter time.Duration) Persona {
	return Voicemail(answerAfter, 1500*time.Millisecond, false)
}

// WithQueueDigits returns p pressing digits at a <Gather> of the wait music once it has waited
// after in the queue.
func (p Persona) WithQueueDigits(digits string, after time.Duration) Persona {
	p.QueueDigits, p.QueueDigitsAfter = digits, after
	return p
}

// WithTranscript returns p whose message transcribes as text.
func (p Persona) WithTranscript(text string) Persona { p.Transcript = text; return p }

// WithMessage returns p leaving a message of length d to a <Record>.
func (p Persona) WithMessage(d time.Duration) Persona { p.MessageLength = d; return p }

// WithHangUpAfter returns p dropping the line d after the answer, wherever the call is.
func (p Persona) WithHangUpAfter(d time.Duration) Persona { p.HangUpAfter = d; return p }

// WithTalkFor returns p staying d once bridged.
func (p Persona) WithTalkFor(d time.Duration) Persona { p.TalkFor = d; return p }

// WithGreeting returns p with a greeting of length d, ending as given (voicemail only).
func (p Persona) WithGreeting(d time.Duration, end string) Persona {
	p.Greeting = d
	if end != "" {
		p.GreetingEnd = end
	}
	return p
}

// personaJSON is a Persona on the wire (the sandbox's control surface): durations as Go
// duration strings ("2s", "1m30s").
type personaJSON struct {
	Kind             PersonaKind `json:"kind"`
	AnswerAfter      string      `json:"answer_after,omitempty"`
	Greeting         string      `json:"greeting,omitempty"`
	GreetingEnd      string      `json:"greeting_end,omitempty"`
	Beep             *bool       `json:"beep,omitempty"`
	TalkFor          string      `json:"talk_for,omitempty"`
	HangUpAfter      string      `json:"hang_up_after,omitempty"`
	Patience         string      `json:"patience,omitempty"`
	Digits           string      `json:"digits,omitempty"`
	PressAfter       string      `json:"press_after,omitempty"`
	MessageLength    string      `json:"message_length,omitempty"`
	QueueDigits      string      `json:"queue_digits,omitempty"`
	QueueDigitsAfter string      `json:"queue_digits_after,omitempty"`
	Transcript       string      `json:"transcript,omitempty"`
}

func fmtDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// MarshalJSON writes p with duration strings.
func (p Persona) MarshalJSON() ([]byte, error) {
	return json.Marshal(personaJSON{
		Kind: p.Kind, AnswerAfter: fmtDuration(p.AnswerAfter), Greeting: fmtDuration(p.Greeting),
		GreetingEnd: p.GreetingEnd, TalkFor: fmtDuration(p.TalkFor), HangUpAfter: fmtDuration(p.HangUpAfter),
		Patience: fmtDuration(p.Patience), Digits: p.Digits, PressAfter: fmtDuration(p.PressAfter), MessageLength: fmtDuration(p.MessageLength),
		QueueDigits: p.QueueDigits, QueueDigitsAfter: fmtDuration(p.QueueDigitsAfter), Transcript: p.Transcript,
	})
}

// UnmarshalJSON reads a persona: the kind's constructor gives the defaults (a human's 1 s
// hello, a voicemail's hang-up 60 s after its greeting, a fax's 30 s), the fields given
// override them. "beep" is a shorthand for greeting_end beep or silence.
func (p *Persona) UnmarshalJSON(data []byte) error {
	var j personaJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("persona: %w", err)
	}
	given := map[string]bool{}
	var answer, greeting, talk, hangUp, patience, message, press, queueAfter time.Duration
	for name, spec := range map[string]struct {
		s    string
		into *time.Duration
	}{
		"answer_after": {j.AnswerAfter, &answer}, "greeting": {j.Greeting, &greeting}, "talk_for": {j.TalkFor, &talk},
		"hang_up_after": {j.HangUpAfter, &hangUp}, "patience": {j.Patience, &patience}, "message_length": {j.MessageLength, &message},
		"press_after":        {j.PressAfter, &press},
		"queue_digits_after": {j.QueueDigitsAfter, &queueAfter},
	} {
		if spec.s == "" {
			continue
		}
		d, err := time.ParseDuration(spec.s)
		if err != nil || d < 0 {
			return fmt.Errorf("persona: %s %q is not a duration", name, spec.s)
		}
		*spec.into = d
		given[name] = true
	}
	var out Persona
	switch j.Kind {
	case KindHuman, "":
		out = Human(answer, talk)
	case KindVoicemail:
		out = Voicemail(answer, greeting, j.Beep != nil && *j.Beep)
		if j.Beep == nil && j.GreetingEnd == "" {
			out.GreetingEnd = GreetingEndsWithBeep
		}
	case KindNoAnswer:
		out = NoAnswer()
	case KindBusy:
		out = Busy()
	case KindFail:
		out = Fail()
	case KindFax:
		out = Fax(answer)
	case KindSilent:
		out = Silent(answer)
	default:
		return fmt.Errorf("persona: unknown kind %q", j.Kind)
	}
	if given["greeting"] {
		out.Greeting = greeting
	}
	if given["talk_for"] {
		out.TalkFor = talk
	}
	if given["hang_up_after"] {
		out.HangUpAfter = hangUp
	}
	switch j.GreetingEnd {
	case "":
	case GreetingEndsWithBeep, GreetingEndsWithSilence, GreetingEndsWithOther:
		out.GreetingEnd = j.GreetingEnd
	default:
		return fmt.Errorf("persona: greeting_end %q is not beep, silence or other", j.GreetingEnd)
	}
	out.Patience, out.Digits, out.PressAfter, out.MessageLength = patience, j.Digits, press, message
	out.QueueDigits, out.QueueDigitsAfter, out.Transcript = j.QueueDigits, queueAfter, j.Transcript
	*p = out
	return nil
}
