package caller

import (
	"context"
	"strconv"
	"time"

	"queuebridge/taskrouter"
)

// Voicemail is a message a caller left, as Twilio's recording status callback and (when the
// flow transcribes) its transcription callback reported it.
type Voicemail struct {
	RecordingSID string        `json:"recording_sid"`
	CallSID      string        `json:"call_sid"`
	From         string        `json:"from"`
	To           string        `json:"to"`
	Department   string        `json:"department,omitempty"`
	RecordingURL string        `json:"recording_url"`
	Duration     time.Duration `json:"-"`
	// DurationSeconds is Duration for JSON readers.
	DurationSeconds     int       `json:"duration_seconds"`
	Transcription       string    `json:"transcription,omitempty"`
	TranscriptionStatus string    `json:"transcription_status,omitempty"`
	ReceivedAt          time.Time `json:"received_at"`
}

// VoicemailStore keeps voicemails. Both saves are idempotent by recording SID (Twilio retries
// webhooks) and may come in either order.
type VoicemailStore interface {
	// SaveVoicemail stores the recording; created is false when it was already stored (its
	// fields are then updated, the transcription kept).
	SaveVoicemail(ctx context.Context, v Voicemail) (created bool, err error)
	// SaveTranscription stores the transcription of a recording, stored or not yet.
	SaveTranscription(ctx context.Context, recordingSID, text, status string, at time.Time) error
	// ListVoicemails returns the most recent recordings first, at most limit.
	ListVoicemails(ctx context.Context, limit int) ([]Voicemail, error)
}

// RecordingStatus is a recording status callback's parameters.
type RecordingStatus struct {
	CallSID, RecordingSID, RecordingURL, Status string
	Duration                                    time.Duration
	Channels                                    int
}

// ParseRecordingStatus reads a recording status callback (CallSid, RecordingSid, RecordingUrl,
// RecordingStatus, RecordingDuration, RecordingChannels).
func ParseRecordingStatus(get func(string) string) (RecordingStatus, error) {
	r := RecordingStatus{CallSID: get("CallSid"), RecordingSID: get("RecordingSid"), RecordingURL: get("RecordingUrl"), Status: get("RecordingStatus")}
	if !taskrouter.ValidSID(r.CallSID, taskrouter.PrefixCall) {
		return r, taskrouter.Errorf(taskrouter.EInvalid, "CallSid %q is not a CA… SID", r.CallSID)
	}
	if !taskrouter.ValidSID(r.RecordingSID, "RE") {
		return r, taskrouter.Errorf(taskrouter.EInvalid, "RecordingSid %q is not a RE… SID", r.RecordingSID)
	}
	if r.Status == "" {
		return r, taskrouter.Errorf(taskrouter.EInvalid, "RecordingStatus is missing")
	}
	if v := get("RecordingDuration"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return r, taskrouter.Errorf(taskrouter.EInvalid, "RecordingDuration %q is not a number of seconds", v)
		}
		r.Duration = time.Duration(n) * time.Second
	}
	if v := get("RecordingChannels"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 2 {
			return r, taskrouter.Errorf(taskrouter.EInvalid, "RecordingChannels %q: want 1 or 2", v)
		}
		r.Channels = n
	}
	return r, nil
}

// Completed reports whether the recording is ready: Twilio's other statuses (in-progress,
// absent, failed) leave nothing to keep.
func (r RecordingStatus) Completed() bool { return r.Status == "completed" }
