package caller

import (
	"context"
	"time"
)

// CallRecording is the recording of a bridged conversation (both legs, one channel each),
// stored with the reservation whose dequeue made it, and found by its task.
type CallRecording struct {
	RecordingSID    string        `json:"recording_sid"`
	ReservationSID  string        `json:"reservation_sid"`
	TaskSID         string        `json:"task_sid"`
	CallSID         string        `json:"call_sid"`
	RecordingURL    string        `json:"recording_url"`
	Duration        time.Duration `json:"-"`
	DurationSeconds int           `json:"duration_seconds"`
	Channels        int           `json:"channels"`
	ReceivedAt      time.Time     `json:"received_at"`
}

// RecordingStore keeps call recordings. Saving is idempotent by recording SID.
type RecordingStore interface {
	SaveRecording(ctx context.Context, r CallRecording) error
	// TaskRecordings returns the task's recordings, oldest first.
	TaskRecordings(ctx context.Context, taskSID string) ([]CallRecording, error)
}
