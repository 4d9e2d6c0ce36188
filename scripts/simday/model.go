package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"queuebridge/sandbox/voice"
)

// The day's model. Every number here is either sourced in docs/SIMDAY.md or named there as a
// choice of ours; the ones a reader may want to vary are flags.

// dayStart and dayLength bound the opening hours: callers arrive from 08:00 to 18:00.
var dayStart = time.Date(2026, 3, 2, 8, 0, 0, 0, time.UTC)

const dayLength = 10 * time.Hour

// Arrival intensity: a base rate plus a morning and an afternoon peak (Gaussian bumps), the
// shape call centres report (docs/SIMDAY.md). Relative units: only the shape matters, the
// number of callers is fixed.
const (
	arrivalBase       = 0.35
	morningPeak       = 2*time.Hour + 30*time.Minute // 10:30
	afternoonPeak     = 6*time.Hour + 30*time.Minute // 14:30
	morningHeight     = 1.0
	afternoonHeight   = 0.8
	peakWidth         = 50 * time.Minute // standard deviation of each bump
	patienceMean      = 4 * time.Minute  // exponential patience in the queue
	talkMedian        = 150 * time.Second
	talkSigma         = 0.6 // lognormal talk time: median 2.5 min, mean ≈ 3 min
	messageShare      = 0.7 // callers sent to the voicemail box who leave a message
	ivrNoKeyShare     = 0.1 // callers who press no key (the "general" department)
	ivrSalesShare     = 0.5 // of those who press a key, the share that press 1 (sales)
	voicemailPickup   = 20 * time.Second
	missedCallNotice  = 30 * time.Second // least time before an agent notices a missed call
	missedCallNoticed = 3 * time.Minute  // most time
	lunchLengthMin    = 30 * time.Minute
	lunchLengthMax    = 45 * time.Minute
	shortBreak        = 15 * time.Minute
)

// amdErrors are the per-leg probabilities that AMD misjudges who answered (flags).
type amdErrors struct {
	HumanAsMachine float64 `json:"human_as_machine"` // a human with a long greeting
	MachineAsHuman float64 `json:"machine_as_human"` // a voicemail with a short greeting
}

// stream numbers the independent random streams drawn from the seed, so that changing how
// many values one consumer draws never shifts another's.
const (
	streamArrivals = iota + 1
	streamCallers
	streamSchedules
	streamLegs = 1000 // + agent index
)

func newRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

func uniform(r *rand.Rand, lo, hi time.Duration) time.Duration {
	return lo + time.Duration(r.Float64()*float64(hi-lo))
}

// intensity is the relative arrival rate at offset t into the day.
func intensity(t time.Duration) float64 {
	bump := func(peak time.Duration, h float64) float64 {
		z := float64(t-peak) / float64(peakWidth)
		return h * math.Exp(-z*z/2)
	}
	return arrivalBase + bump(morningPeak, morningHeight) + bump(afternoonPeak, afternoonHeight)
}

// arrivals draws n arrival offsets of a non-homogeneous Poisson process with the intensity
// above, conditioned on n arrivals in the day: n independent draws from the normalised
// intensity (by rejection), sorted.
func arrivals(seed uint64, n int) []time.Duration {
	r := newRand(seed, streamArrivals)
	peak := 0.0
	for t := time.Duration(0); t <= dayLength; t += time.Minute {
		peak = max(peak, intensity(t))
	}
	out := make([]time.Duration, 0, n)
	for len(out) < n {
		t := time.Duration(r.Float64() * float64(dayLength))
		if r.Float64()*peak <= intensity(t) {
			out = append(out, t.Round(time.Millisecond))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// caller is one caller of the day: when they call and how they behave.
type caller struct {
	Number  string
	At      time.Duration // offset into the day
	Persona voice.Persona
}

// callers draws the day's callers: the IVR key, patience in the queue (exponential), how long
// they talk once connected (lognormal), and whether they leave a message in the voicemail box.
func callers(seed uint64, n int) []caller {
	at := arrivals(seed, n)
	r := newRand(seed, streamCallers)
	out := make([]caller, n)
	for i := range out {
		digits := ""
		if r.Float64() >= ivrNoKeyShare {
			digits = "2"
			if r.Float64() < ivrSalesShare {
				digits = "1"
			}
		}
		patience := time.Duration(r.ExpFloat64() * float64(patienceMean)).Round(time.Second)
		talk := time.Duration(float64(talkMedian) * math.Exp(talkSigma*r.NormFloat64())).Round(time.Second)
		var message time.Duration
		if r.Float64() < messageShare {
			message = uniform(r, 10*time.Second, 45*time.Second).Round(time.Second)
		}
		p := voice.Human(0, talk).WithDigits(digits).WithPatience(max(patience, time.Second)).WithMessage(message)
		out[i] = caller{Number: fmt.Sprintf("+1555%07d", i+1), At: at[i], Persona: p}
	}
	return out
}

// profile is how an agent behaves at the phone.
type profile struct {
	Name string
	// AnswerMin and AnswerMax bound how long the agent lets the phone ring when at the desk.
	AnswerMin, AnswerMax time.Duration
	// AwayEvery is the mean time between the agent's unannounced absences from the phone
	// (still Available in TaskRouter); AwayMin and AwayMax bound each absence.
	AwayEvery, AwayMin, AwayMax time.Duration
	// Voicemail: the phone's voicemail picks up after voicemailPickup when nobody answers;
	// otherwise it rings out.
	Voicemail bool
	// MissShare is the share of calls the agent lets ring out although at the desk.
	MissShare float64
	// ExtraBreaks are short breaks taken through TaskRouter, on top of lunch.
	ExtraBreaks int
}

// profiles are cycled over the agents: of every ten, four steady, two slow, two whose
// voicemail answers while they are away, one who misses calls, one who takes extra breaks.
var profiles = []profile{
	{Name: "steady", AnswerMin: 2 * time.Second, AnswerMax: 8 * time.Second, AwayEvery: 4 * time.Hour, AwayMin: 2 * time.Minute, AwayMax: 5 * time.Minute},
	{Name: "steady", AnswerMin: 2 * time.Second, AnswerMax: 8 * time.Second, AwayEvery: 4 * time.Hour, AwayMin: 2 * time.Minute, AwayMax: 5 * time.Minute, Voicemail: true},
	{Name: "steady", AnswerMin: 2 * time.Second, AnswerMax: 8 * time.Second, AwayEvery: 4 * time.Hour, AwayMin: 2 * time.Minute, AwayMax: 5 * time.Minute},
	{Name: "steady", AnswerMin: 2 * time.Second, AnswerMax: 8 * time.Second, AwayEvery: 4 * time.Hour, AwayMin: 2 * time.Minute, AwayMax: 5 * time.Minute, Voicemail: true},
	{Name: "slow", AnswerMin: 12 * time.Second, AnswerMax: 18 * time.Second, AwayEvery: 4 * time.Hour, AwayMin: 2 * time.Minute, AwayMax: 5 * time.Minute},
	{Name: "slow", AnswerMin: 12 * time.Second, AnswerMax: 18 * time.Second, AwayEvery: 4 * time.Hour, AwayMin: 2 * time.Minute, AwayMax: 5 * time.Minute},
	{Name: "voicemail", AnswerMin: 3 * time.Second, AnswerMax: 8 * time.Second, AwayEvery: 50 * time.Minute, AwayMin: 5 * time.Minute, AwayMax: 15 * time.Minute, Voicemail: true},
	{Name: "voicemail", AnswerMin: 3 * time.Second, AnswerMax: 8 * time.Second, AwayEvery: 50 * time.Minute, AwayMin: 5 * time.Minute, AwayMax: 15 * time.Minute, Voicemail: true},
	{Name: "misses", AnswerMin: 3 * time.Second, AnswerMax: 10 * time.Second, AwayEvery: 50 * time.Minute, AwayMin: 5 * time.Minute, AwayMax: 15 * time.Minute, MissShare: 0.1},
	{Name: "breaks", AnswerMin: 2 * time.Second, AnswerMax: 8 * time.Second, AwayEvery: 4 * time.Hour, AwayMin: 2 * time.Minute, AwayMax: 5 * time.Minute, ExtraBreaks: 2},
}

// span is a stretch of the day, as offsets.
type span struct{ From, To time.Duration }

func (s span) has(t time.Duration) bool { return t >= s.From && t < s.To }

// agent is one agent of the day: who, their phone, their profile, and their schedule.
type agent struct {
	Name, Number string
	Skills       []string
	Profile      profile
	Away         []span // unannounced absences (the phone rings, nobody picks up)
	Breaks       []span // announced: TaskRouter activity Unavailable
}

// agents draws the agents' schedules. Skills: of every five, one takes both queues, then
// sales and support alternate.
func agents(seed uint64, n int) []agent {
	r := newRand(seed, streamSchedules)
	out := make([]agent, n)
	for i := range out {
		p := profiles[i%len(profiles)]
		skills := []string{"support"}
		switch {
		case i%5 == 0:
			skills = []string{"sales", "support"}
		case i%2 == 0:
			skills = []string{"sales"}
		}
		a := agent{Name: fmt.Sprintf("Agent%02d", i+1), Number: fmt.Sprintf("+1500556%04d", i+1), Skills: skills, Profile: p}
		for t := time.Duration(r.ExpFloat64() * float64(p.AwayEvery)); t < dayLength; t += time.Duration(r.ExpFloat64() * float64(p.AwayEvery)) {
			d := uniform(r, p.AwayMin, p.AwayMax)
			a.Away = append(a.Away, span{t.Round(time.Second), (t + d).Round(time.Second)})
			t += d
		}
		lunch := uniform(r, 3*time.Hour+30*time.Minute, 5*time.Hour+30*time.Minute).Round(time.Minute)
		a.Breaks = append(a.Breaks, span{lunch, lunch + uniform(r, lunchLengthMin, lunchLengthMax).Round(time.Minute)})
		for b := range p.ExtraBreaks {
			at := uniform(r, time.Duration(b)*dayLength/2+time.Hour, time.Duration(b+1)*dayLength/2-time.Hour).Round(time.Minute)
			if !overlaps(a.Breaks, span{at, at + shortBreak}) {
				a.Breaks = append(a.Breaks, span{at, at + shortBreak})
			}
		}
		sort.Slice(a.Breaks, func(i, j int) bool { return a.Breaks[i].From < a.Breaks[j].From })
		out[i] = a
	}
	return out
}

func overlaps(list []span, s span) bool {
	for _, x := range list {
		if s.From < x.To && x.From < s.To {
			return true
		}
	}
	return false
}

// awayUntil reports whether the agent is away from the phone at t, and until when.
func (a agent) awayUntil(t time.Duration) (time.Duration, bool) {
	for _, s := range a.Away {
		if s.has(t) {
			return s.To, true
		}
	}
	return 0, false
}

// Leg kinds: who answers an agent leg. The two "fools AMD" kinds are AMD's errors.
const (
	legHuman          = "human"
	legHumanLongHello = "human, long greeting (AMD: machine)"
	legVoicemail      = "voicemail"
	legVoicemailShort = "voicemail, short greeting (AMD: human)"
	legNoAnswer       = "no-answer"
)

// draw is the persona of one agent leg, decided when the bridge places it.
type draw struct {
	Kind    string
	Persona voice.Persona
}

// legPersona decides who answers the agent's phone at t: the agent (after their ring time) if
// at the desk and not letting it ring, else the voicemail (if the phone has one) or nobody.
// AMD's errors are realised in the greeting, which is what the sandbox's AMD judges
// (sandbox/voice/amd.go): a human whose "Hello, you've reached Alice at Acme sales, how can
// I help?" outlasts the 2.4 s speech threshold is taken for a machine; a voicemail whose
// greeting is only a name is taken for a human.
func legPersona(r *rand.Rand, a agent, t time.Duration, errs amdErrors) draw {
	_, away := a.awayUntil(t)
	missed := r.Float64() < a.Profile.MissShare
	answer := uniform(r, a.Profile.AnswerMin, a.Profile.AnswerMax).Round(100 * time.Millisecond)
	fooled := r.Float64()
	greeting := uniform(r, 6*time.Second, 12*time.Second).Round(100 * time.Millisecond)
	switch {
	case !away && !missed:
		// A person presses the confirmation key (when the bridge asks for one) a second after
		// the prompt; without confirmation there is no <Gather> and the key is never pressed.
		if fooled < errs.HumanAsMachine {
			long := uniform(r, 3*time.Second, 4500*time.Millisecond).Round(100 * time.Millisecond)
			return draw{legHumanLongHello, voice.Human(answer, 0).WithGreeting(long, "").WithDigits(confirmKey)}
		}
		return draw{legHuman, voice.Human(answer, 0).WithDigits(confirmKey)}
	case a.Profile.Voicemail:
		if fooled < errs.MachineAsHuman {
			short := uniform(r, 800*time.Millisecond, 1800*time.Millisecond).Round(100 * time.Millisecond)
			return draw{legVoicemailShort, voice.Voicemail(voicemailPickup, short, true)}
		}
		return draw{legVoicemail, voice.Voicemail(voicemailPickup, greeting, true)}
	}
	return draw{legNoAnswer, voice.NoAnswer()}
}
