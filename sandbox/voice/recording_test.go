package voice

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	openapi "github.com/twilio/twilio-go/rest/api/v2010"
)

// <Record recordingStatusCallback transcribe transcribeCallback>: once the message is recorded
// Twilio posts the recording's status (completed, with its SID, URL, duration, 1 channel,
// source RecordVerb) and the transcription (text, status, the recording's SID), both signed,
// besides the Record's action. An empty recording posts neither.
// Sources: https://www.twilio.com/docs/voice/twiml/record (recordingStatusCallback,
// transcribe, transcribeCallback and their parameters).
func TestRecordPostsRecordingStatusAndTranscription(t *testing.T) {
	for _, message := range []time.Duration{7 * time.Second, 0} {
		h := newHarness(t)
		h.engine.SetPersona(callerPhone, Human(0, 0).WithMessage(message).WithTranscript("please call me back"))
		pointNumber(t, h, "/incoming")
		h.app.twiml("/incoming", `<Response><Record action="/recorded" maxLength="60" timeout="2" transcribe="true" `+
			`transcribeCallback="/transcribed?dept=sales" recordingStatusCallback="/rec-status?from=%2B1555"/></Response>`)
		h.app.twiml("/recorded", `<Response><Hangup/></Response>`)
		sid := placeCaller(t, h)
		h.advance(20 * time.Second)
		if message == 0 {
			assert.Empty(t, h.app.hitsTo("/rec-status"), "no audio, no recording")
			assert.Empty(t, h.app.hitsTo("/transcribed"))
			continue
		}
		recorded := h.app.hitsTo("/recorded")
		require.Len(t, recorded, 1)
		status := h.app.hitsTo("/rec-status")
		require.Len(t, status, 1)
		f := status[0].Form
		assert.Equal(t, sid, f.Get("CallSid"))
		assert.Equal(t, recorded[0].Form.Get("RecordingSid"), f.Get("RecordingSid"))
		assert.Equal(t, recorded[0].Form.Get("RecordingUrl"), f.Get("RecordingUrl"))
		assert.Equal(t, "completed", f.Get("RecordingStatus"))
		assert.Equal(t, "7", f.Get("RecordingDuration"))
		assert.Equal(t, "1", f.Get("RecordingChannels"))
		assert.Equal(t, "RecordVerb", f.Get("RecordingSource"))
		assert.True(t, status[0].SigValid, "signed")
		tr := h.app.hitsTo("/transcribed")
		require.Len(t, tr, 1)
		assert.Equal(t, "please call me back", tr[0].Form.Get("TranscriptionText"))
		assert.Equal(t, "completed", tr[0].Form.Get("TranscriptionStatus"))
		assert.Equal(t, f.Get("RecordingSid"), tr[0].Form.Get("RecordingSid"))
		assert.Equal(t, callerPhone, tr[0].Form.Get("From"))
	}
}

// <Dial record="record-from-answer-dual" recordingStatusCallback>: the bridged conversation is
// recorded on two channels and the callback gets it when the Dial ends (source DialVerb); a Dial
// without record posts nothing. Source: https://www.twilio.com/docs/voice/twiml/dial#record.
func TestRecordedDialPostsItsRecording(t *testing.T) {
	for _, record := range []string{"record-from-answer-dual", ""} {
		h := newHarness(t)
		other := "+15550007777"
		h.engine.SetPersona(other, Human(time.Second, 4*time.Second))
		attr := ""
		if record != "" {
			attr = ` record="` + record + `"`
		}
		h.app.twiml("/answer", `<Response><Dial`+attr+` recordingStatusCallback="/rec-status"><Number>`+other+`</Number></Dial></Response>`)
		sid := h.createCall(agentPhone, func(*openapi.CreateCallParams) {})
		h.advance(20 * time.Second)
		hits := h.app.hitsTo("/rec-status")
		if record == "" {
			assert.Empty(t, hits)
			continue
		}
		require.Len(t, hits, 1)
		f := hits[0].Form
		assert.Equal(t, sid, f.Get("CallSid"))
		assert.Equal(t, "2", f.Get("RecordingChannels"))
		assert.Equal(t, "DialVerb", f.Get("RecordingSource"))
		assert.Equal(t, "4", f.Get("RecordingDuration"), "the conversation: the child leg talks 4 s")
		assert.Regexp(t, `^RE[0-9a-f]{32}$`, f.Get("RecordingSid"))
	}
}
