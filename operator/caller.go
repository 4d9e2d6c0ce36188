package operator

import (
	"queuebridge/caller"
)

// The caller side's records on the page: the voicemails callers left and the recordings of
// bridged conversations, the last Recent of each, newest first. They come from the bridge's
// callbacks (handlers.CallerConfig's hooks) once stored; SeedVoicemails fills the list at start
// from the store, so a restart does not empty it.

// AddVoicemail shows a new voicemail (or updates the one with its recording SID).
func (m *Model) AddVoicemail(v caller.Voicemail) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, _ := m.change()
	row := VoicemailRow{Key: v.RecordingSID, At: v.ReceivedAt.UnixMilli(), Caller: m.mask(v.From), Department: v.Department,
		Seconds: int(v.Duration.Seconds()), Transcription: v.Transcription, URL: v.RecordingURL}
	if i := m.voicemailIndex(v.RecordingSID); i >= 0 {
		if row.Transcription == "" {
			row.Transcription = m.voicemails[i].Transcription
		}
		m.voicemails[i] = row
	} else {
		m.voicemails = prepend(m.voicemails, row, m.opts.Recent)
	}
	p.Voicemails = append(p.Voicemails, row)
	m.publish(p)
}

// SeedVoicemails shows stored voicemails (newest first, as the store lists them) at start.
func (m *Model) SeedVoicemails(list []caller.Voicemail) {
	for i := len(list) - 1; i >= 0; i-- {
		m.AddVoicemail(list[i])
	}
}

// SetTranscription adds a transcription to the voicemail shown with that recording SID; one
// not shown (its recording not reported yet, or long gone from the page) is ignored: the
// recording's own report carries the stored transcription.
func (m *Model) SetTranscription(recordingSID, text string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := m.voicemailIndex(recordingSID)
	if i < 0 || m.voicemails[i].Transcription == text {
		return
	}
	p, _ := m.change()
	m.voicemails[i].Transcription = text
	p.Voicemails = append(p.Voicemails, m.voicemails[i])
	m.publish(p)
}

// AddRecording shows a bridged conversation's recording, with the caller and agent when the
// page still knows the call (its outcome among the last ones, or the call live).
func (m *Model) AddRecording(r caller.CallRecording) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, have := range m.recordings {
		if have.Key == r.RecordingSID {
			return
		}
	}
	p, _ := m.change()
	row := RecordingRow{Key: r.RecordingSID, At: r.ReceivedAt.UnixMilli(), Task: r.TaskSID,
		Seconds: int(r.Duration.Seconds()), Channels: r.Channels, URL: r.RecordingURL}
	if l := m.legs[r.ReservationSID]; l != nil {
		row.Agent = agentName(l.r)
	}
	if c := m.calls[r.TaskSID]; c != nil {
		row.Caller = m.mask(c.from)
	} else {
		for _, o := range m.recent {
			if o.Key == r.TaskSID {
				row.Caller = o.Caller // already masked
				break
			}
		}
	}
	m.recordings = prepend(m.recordings, row, m.opts.Recent)
	p.Recordings = append(p.Recordings, row)
	m.publish(p)
}

func (m *Model) voicemailIndex(recordingSID string) int {
	for i, v := range m.voicemails {
		if v.Key == recordingSID {
			return i
		}
	}
	return -1
}

// prepend puts row first and keeps at most max rows.
func prepend[T any](rows []T, row T, max int) []T {
	rows = append([]T{row}, rows...)
	if len(rows) > max {
		rows = rows[:max]
	}
	return rows
}
