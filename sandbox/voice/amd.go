package voice

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"queuebridge/sandbox/internal/twilioapi"
)

// AnsweredBy values, as Twilio sends them.
const (
	AnsweredHuman             = "human"
	AnsweredMachineStart      = "machine_start"
	AnsweredMachineEndBeep    = "machine_end_beep"
	AnsweredMachineEndSilence = "machine_end_silence"
	AnsweredMachineEndOther   = "machine_end_other"
	AnsweredFax               = "fax"
	AnsweredUnknown           = "unknown"
)

// faxToneDetected is how long AMD needs to recognise a fax's CNG tone.
const faxToneDetected = 2 * time.Second

// amdParams are the call's MachineDetection* parameters, with Twilio's defaults.
type amdParams struct {
	mode          string // "", Enable, DetectMessageEnd
	async         bool
	timeout       time.Duration // MachineDetectionTimeout, 3–59 s, default 30
	speech        time.Duration // MachineDetectionSpeechThreshold, 1000–6000 ms, default 2400
	speechEnd     time.Duration // MachineDetectionSpeechEndThreshold, 500–5000 ms, default 1200
	silence       time.Duration // MachineDetectionSilenceTimeout, 2000–10000 ms, default 5000
	asyncCallback string
	asyncMethod   string
}

// parseAMD reads and range-checks the AMD parameters of a Calls create request.
func parseAMD(form url.Values) (amdParams, error) {
	p := amdParams{timeout: 30 * time.Second, speech: 2400 * time.Millisecond,
		speechEnd: 1200 * time.Millisecond, silence: 5000 * time.Millisecond}
	switch mode := form.Get("MachineDetection"); mode {
	case "", "Enable", "DetectMessageEnd":
		p.mode = mode
	default:
		return p, twilioapi.InvalidParam("MachineDetection", mode)
	}
	ranges := []struct {
		name     string
		min, max int
		unit     time.Duration
		into     *time.Duration
	}{
		{"MachineDetectionTimeout", 3, 59, time.Second, &p.timeout},
		{"MachineDetectionSpeechThreshold", 1000, 6000, time.Millisecond, &p.speech},
		{"MachineDetectionSpeechEndThreshold", 500, 5000, time.Millisecond, &p.speechEnd},
		{"MachineDetectionSilenceTimeout", 2000, 10000, time.Millisecond, &p.silence},
	}
	for _, r := range ranges {
		v := form.Get(r.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < r.min || n > r.max {
			return p, twilioapi.InvalidParam(r.name, v)
		}
		*r.into = time.Duration(n) * r.unit
	}
	switch v := strings.ToLower(form.Get("AsyncAmd")); v {
	case "", "false":
	case "true":
		p.async = true
	default:
		return p, twilioapi.InvalidParam("AsyncAmd", form.Get("AsyncAmd"))
	}
	p.asyncCallback = form.Get("AsyncAmdStatusCallback")
	p.asyncMethod = strings.ToUpper(form.Get("AsyncAmdStatusCallbackMethod"))
	if p.asyncMethod == "" {
		p.asyncMethod = "POST"
	}
	return p, nil
}

// verdict is what AMD decides about persona p and how long after the answer it decides.
//
// The model, from Twilio's description of the parameters:
//   - Speech shorter than the speech threshold followed by silence longer than the speech-end
//     threshold is a human: "human" at greeting + speech-end threshold.
//   - Speech reaching the speech threshold is a machine. Enable answers "machine_start" at that
//     moment; DetectMessageEnd waits for the end of the greeting: "machine_end_beep" right when
//     the beep ends it (greeting + 0.5 s of beep), "machine_end_silence" or "machine_end_other"
//     once the speech-end threshold of silence (or non-speech) has passed.
//   - A fax tone is recognised after 2 s: "fax".
//   - Initial silence: "unknown" after the silence timeout.
//   - Whatever is not decided within MachineDetectionTimeout is "unknown" at the timeout; so a
//     greeting longer than the timeout under DetectMessageEnd gives "unknown".
func verdict(p Persona, a amdParams) (string, time.Duration) {
	answer, at := decide(p, a)
	if at > a.timeout {
		return AnsweredUnknown, a.timeout
	}
	return answer, at
}

func decide(p Persona, a amdParams) (string, time.Duration) {
	switch p.Kind {
	case KindFax:
		return AnsweredFax, faxToneDetected
	case KindSilent:
		return AnsweredUnknown, a.silence
	}
	greeting := p.Greeting
	if greeting <= 0 {
		if p.Kind == KindVoicemail {
			return AnsweredUnknown, a.silence
		}
		greeting = humanHello
	}
	if greeting < a.speech {
		return AnsweredHuman, greeting + a.speechEnd
	}
	if a.mode == "Enable" {
		return AnsweredMachineStart, a.speech
	}
	switch p.GreetingEnd {
	case GreetingEndsWithBeep:
		return AnsweredMachineEndBeep, greeting + 500*time.Millisecond
	case GreetingEndsWithOther:
		return AnsweredMachineEndOther, greeting + a.speechEnd
	default:
		return AnsweredMachineEndSilence, greeting + a.speechEnd
	}
}
