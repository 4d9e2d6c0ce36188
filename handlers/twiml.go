package handlers

import (
	"fmt"

	"github.com/twilio/twilio-go/twiml"

	"queuebridge/taskrouter"
)

// RenderTwiML renders the bridge's instruction to the agent leg with twilio-go's twiml package.
// Connect puts nothing after </Dial>: verbs there would run after every normal call too; the
// Dial's action URL learns how it ended instead.
func RenderTwiML(ins taskrouter.Instruction) (string, error) {
	var verbs []twiml.Element
	switch ins.Kind {
	case taskrouter.Connect:
		verbs = []twiml.Element{&twiml.VoiceDial{
			Action: ins.ActionURL,
			Method: "POST",
			InnerElements: []twiml.Element{&twiml.VoiceQueue{
				ReservationSid:      ins.ReservationSID,
				PostWorkActivitySid: ins.PostWorkActivitySID,
			}},
		}}
	case taskrouter.Hangup:
		verbs = []twiml.Element{&twiml.VoiceHangup{}}
	case taskrouter.Goodbye:
		verbs = []twiml.Element{&twiml.VoiceSay{Message: ins.Message}, &twiml.VoiceHangup{}}
	default:
		return "", fmt.Errorf("no TwiML for instruction %q", ins.Kind)
	}
	return twiml.Voice(verbs)
}
