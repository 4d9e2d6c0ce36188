package handlers

import (
	"fmt"
	"strconv"
	"time"

	"github.com/twilio/twilio-go/twiml"

	"queuebridge/taskrouter"
)

// RenderTwiML renders the bridge's instruction to the agent leg with twilio-go's twiml package.
// Connect puts nothing after </Dial>: verbs there would run after every normal call too; the
// Dial's action URL learns how it ended instead.
func RenderTwiML(ins taskrouter.Instruction) (string, error) {
	return renderTwiML(ins, "")
}

// renderKey is what an agent leg's TwiML is rendered from.
type renderKey struct {
	ins               taskrouter.Instruction
	recordingCallback string
}

// The agent leg's answers are kept, rendered, for as long as Twilio may retry the request that
// got them (about 15 s with the overrides' ct=2000, rt=4000, rc=3; twice that here), at most
// renderedSize of them (about 1 KiB each): a retried request is answered with the same bytes.
const (
	renderedAge  = 30 * time.Second
	renderedSize = 32768
)

// RecordedDial is how a recorded conversation is recorded: from the answer, one channel per leg.
const RecordedDial = "record-from-answer-dual"

// renderTwiML is RenderTwiML; a recordingCallback makes a Connect's <Dial> record the
// conversation (RecordedDial) and report the completed recording there.
func renderTwiML(ins taskrouter.Instruction, recordingCallback string) (string, error) {
	var verbs []twiml.Element
	switch ins.Kind {
	case taskrouter.Connect:
		if ins.Whisper != "" {
			verbs = append(verbs, &twiml.VoiceSay{Message: ins.Whisper})
		}
		dial := &twiml.VoiceDial{
			Action: ins.ActionURL,
			Method: "POST",
			InnerElements: []twiml.Element{&twiml.VoiceQueue{
				ReservationSid:      ins.ReservationSID,
				PostWorkActivitySid: ins.PostWorkActivitySID,
			}},
		}
		if recordingCallback != "" {
			dial.Record = RecordedDial
			dial.RecordingStatusCallback = recordingCallback
			dial.RecordingStatusCallbackMethod = "POST"
			dial.RecordingStatusCallbackEvent = "completed"
		}
		verbs = append(verbs, dial)
	case taskrouter.Confirm:
		// One key, DTMF only; actionOnEmptyResult sends a time-out to the action too (# is
		// Gather's finishOnKey: it arrives as no key). The Hangup after it only runs if Twilio
		// went on past the Gather without asking the action.
		verbs = []twiml.Element{&twiml.VoiceGather{
			Input: "dtmf", NumDigits: "1", Timeout: strconv.Itoa(ins.ConfirmTimeout),
			Action: ins.ActionURL, Method: "POST", ActionOnEmptyResult: "true",
			InnerElements: []twiml.Element{&twiml.VoiceSay{Message: ins.Message}},
		}, &twiml.VoiceHangup{}}
	case taskrouter.Hangup:
		verbs = []twiml.Element{&twiml.VoiceHangup{}}
	case taskrouter.Goodbye:
		verbs = []twiml.Element{&twiml.VoiceSay{Message: ins.Message}, &twiml.VoiceHangup{}}
	default:
		return "", fmt.Errorf("no TwiML for instruction %q", ins.Kind)
	}
	return twiml.Voice(verbs)
}
