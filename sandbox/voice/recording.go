package voice

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"queuebridge/sandbox/internal/twilioapi"
)

// The webhooks of recordings (a kind of their own for WebhookFaults).
const (
	HookRecordingStatus = "recording-status" // <Record>/<Dial> recordingStatusCallback
	HookTranscription   = "transcription"    // <Record> transcribeCallback
)

// recording is one recording a <Record> or a recorded <Dial> made.
type recording struct {
	sid, url string
	duration time.Duration
	channels int
	source   string // RecordVerb or DialVerb
	started  time.Time
}

func (c *call) newRecording(d time.Duration, channels int, source string) recording {
	sid := twilioapi.NewSID("RE")
	return recording{
		sid: sid, url: "https://api.twilio.com/2010-04-01/Accounts/" + c.e.creds.AccountSid + "/Recordings/" + sid,
		duration: d, channels: channels, source: source, started: c.e.clock.Now().Add(-d),
	}
}

// recordingDone sends what Twilio sends once a recording is ready: the recordingStatusCallback
// (its `completed` event, the default of recordingStatusCallbackEvent; the sandbox has no other
// event) and, for a <Record transcribe="true" transcribeCallback>, the transcription. They leave
// after the call's status callbacks queued so far, off the call's goroutine, as Twilio sends
// them when its processing ends.
func (c *call) recordingDone(v verb, base string, r recording) {
	c.e.record(c.sid, "recording: completed", map[string]string{"recording_sid": r.sid, "source": r.source,
		"duration_s": strconv.Itoa(int(r.duration / time.Second)), "channels": strconv.Itoa(r.channels)})
	events := v.attr("recordingStatusCallbackEvent", "completed")
	if target := resolve(base, v.attr("recordingStatusCallback", "")); target != "" && strings.Contains(events, "completed") {
		params := url.Values{
			"AccountSid": {c.e.creds.AccountSid}, "CallSid": {c.sid}, "RecordingSid": {r.sid}, "RecordingUrl": {r.url},
			"RecordingStatus": {"completed"}, "RecordingDuration": {strconv.Itoa(int(r.duration / time.Second))},
			"RecordingChannels": {strconv.Itoa(r.channels)}, "RecordingSource": {r.source},
			"RecordingStartTime": {r.started.UTC().Format(time.RFC1123Z)},
		}
		m := method(v, "recordingStatusCallbackMethod")
		c.cb.do(func() { _, _ = c.sendWebhook(HookRecordingStatus, m, target, params) })
	}
	target := resolve(base, v.attr("transcribeCallback", ""))
	if v.name != "Record" || target == "" || (v.attr("transcribe", "false") != "true" && v.attr("transcribeCallback", "") == "") {
		return
	}
	c.e.mu.Lock()
	text := c.persona.Transcript
	params := c.paramsLocked()
	c.e.mu.Unlock()
	if text == "" {
		text = "(sandbox) a message of " + strconv.Itoa(int(r.duration/time.Second)) + " seconds"
	}
	tsid := twilioapi.NewSID("TR")
	for k, val := range map[string]string{
		"TranscriptionSid": tsid, "TranscriptionText": text, "TranscriptionStatus": "completed",
		"TranscriptionUrl": "https://api.twilio.com/2010-04-01/Accounts/" + c.e.creds.AccountSid + "/Transcriptions/" + tsid,
		"RecordingSid":     r.sid, "RecordingUrl": r.url,
	} {
		params.Set(k, val)
	}
	c.cb.do(func() { _, _ = c.sendWebhook(HookTranscription, "POST", target, params) })
}

// dialRecording is a recorded <Dial>'s recording: record-from-answer* covers the bridged
// conversation (dual: one channel per leg), record-from-ringing* the ringing too (the sandbox
// counts the conversation only).
func (c *call) dialRecording(v verb, base string, talked time.Duration) {
	mode := v.attr("record", "do-not-record")
	if talked <= 0 || (!strings.HasPrefix(mode, "record-from-answer") && !strings.HasPrefix(mode, "record-from-ringing") && mode != "true") {
		return
	}
	channels := 1
	if strings.HasSuffix(mode, "-dual") {
		channels = 2
	}
	c.recordingDone(v, base, c.newRecording(talked, channels, "DialVerb"))
}
