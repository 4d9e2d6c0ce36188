package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"queuebridge/caller"
)

// The caller side's records (voicemails, call recordings, SMS sent) live in their own tables
// behind the caller package's interfaces. They are written through the group-commit writer like
// everything else, so a webhook is answered only once its record is durable.

var _ caller.VoicemailStore = (*DB)(nil)

// SaveVoicemail stores a voicemail's recording; a second delivery updates it and keeps any
// transcription already stored.
func (db *DB) SaveVoicemail(ctx context.Context, v caller.Voicemail) (bool, error) {
	var created bool
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM voicemails WHERE recording_sid = ? AND recording_url <> ''`, v.RecordingSID).Scan(&n); err != nil {
			return err
		}
		created = n == 0
		_, err := tx.ExecContext(ctx, `INSERT INTO voicemails
			(recording_sid, call_sid, from_number, to_number, department, recording_url, duration_s, received_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (recording_sid) DO UPDATE SET call_sid = excluded.call_sid, from_number = excluded.from_number,
				to_number = excluded.to_number, department = excluded.department, recording_url = excluded.recording_url,
				duration_s = excluded.duration_s`,
			v.RecordingSID, v.CallSID, v.From, v.To, v.Department, v.RecordingURL, int64(v.Duration/time.Second), v.ReceivedAt.UnixMilli())
		return err
	})
	if err != nil {
		return false, fmt.Errorf("save voicemail %s: %w", v.RecordingSID, err)
	}
	return created, nil
}

// SaveTranscription stores a recording's transcription, before or after the recording itself.
func (db *DB) SaveTranscription(ctx context.Context, recordingSID, text, status string, at time.Time) error {
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO voicemails (recording_sid, transcription, transcription_status, received_at)
			VALUES (?, ?, ?, ?)
			ON CONFLICT (recording_sid) DO UPDATE SET transcription = excluded.transcription,
				transcription_status = excluded.transcription_status`,
			recordingSID, text, status, at.UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("save transcription of %s: %w", recordingSID, err)
	}
	return nil
}

// ListVoicemails lists the stored recordings, most recent first (a transcription whose
// recording has not been reported is not listed).
func (db *DB) ListVoicemails(ctx context.Context, limit int) ([]caller.Voicemail, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT recording_sid, call_sid, from_number, to_number, department,
		recording_url, duration_s, transcription, transcription_status, received_at
		FROM voicemails WHERE recording_url <> '' ORDER BY received_at DESC, recording_sid LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list voicemails: %w", err)
	}
	defer rows.Close()
	out := []caller.Voicemail{}
	for rows.Next() {
		var v caller.Voicemail
		var secs, at int64
		if err := rows.Scan(&v.RecordingSID, &v.CallSID, &v.From, &v.To, &v.Department, &v.RecordingURL, &secs,
			&v.Transcription, &v.TranscriptionStatus, &at); err != nil {
			return nil, fmt.Errorf("list voicemails: %w", err)
		}
		v.Duration, v.DurationSeconds = time.Duration(secs)*time.Second, int(secs)
		v.ReceivedAt = time.UnixMilli(at).UTC()
		out = append(out, v)
	}
	return out, rows.Err()
}

var _ caller.RecordingStore = (*DB)(nil)

// SaveRecording stores a call recording; a second delivery changes nothing.
func (db *DB) SaveRecording(ctx context.Context, r caller.CallRecording) error {
	err := db.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO call_recordings
			(recording_sid, reservation_sid, task_sid, call_sid, recording_url, duration_s, channels, received_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (recording_sid) DO NOTHING`,
			r.RecordingSID, r.ReservationSID, r.TaskSID, r.CallSID, r.RecordingURL, int64(r.Duration/time.Second), r.Channels, r.ReceivedAt.UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("save recording %s: %w", r.RecordingSID, err)
	}
	return nil
}

// TaskRecordings lists a task's recordings, oldest first.
func (db *DB) TaskRecordings(ctx context.Context, taskSID string) ([]caller.CallRecording, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT recording_sid, reservation_sid, task_sid, call_sid, recording_url,
		duration_s, channels, received_at FROM call_recordings WHERE task_sid = ? ORDER BY received_at, recording_sid`, taskSID)
	if err != nil {
		return nil, fmt.Errorf("recordings of %s: %w", taskSID, err)
	}
	defer rows.Close()
	out := []caller.CallRecording{}
	for rows.Next() {
		var r caller.CallRecording
		var secs, at int64
		if err := rows.Scan(&r.RecordingSID, &r.ReservationSID, &r.TaskSID, &r.CallSID, &r.RecordingURL, &secs, &r.Channels, &at); err != nil {
			return nil, fmt.Errorf("recordings of %s: %w", taskSID, err)
		}
		r.Duration, r.DurationSeconds, r.ReceivedAt = time.Duration(secs)*time.Second, int(secs), time.UnixMilli(at).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
