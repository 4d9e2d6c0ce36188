package handlers

import (
	"net/url"
	"strconv"
	"time"

	"queuebridge/caller"
	"queuebridge/taskrouter"
)

// The caller side's paths (docs/DESIGN.md lists each with its contract).
const (
	PathWait      = "/queue-wait"
	PathWaitKey   = "/queue-wait/key"
	PathHoldMusic = "/hold-music.wav"
	// PathVoicemailRecording and PathVoicemailTranscription are the voicemail's recording status
	// and transcription callbacks; PathVoicemails lists the voicemails (operator token).
	PathVoicemailRecording     = "/voicemail/recording"
	PathVoicemailTranscription = "/voicemail/transcription"
	PathVoicemails             = "/voicemails"
	// PathHours answers whether the queue is open (Studio's Make HTTP Request widget).
	PathHours = "/hours"
	// PathRecording is the bridged call's recording status callback; PathTaskRecordings
	// (/tasks/WT…/recordings) lists a task's recordings (operator token).
	PathRecording      = "/recording-callback"
	PathTaskRecordings = "/tasks/:task/recordings"
	// PathSMSStatus is the status callback of the SMS afterwards; PathSMS lists them (operator
	// token).
	PathSMSStatus = "/sms-status"
	PathSMS       = "/sms"
)

// SMSStatus is the status callback of the SMS afterwards (Messages.create's StatusCallback).
func (u URLs) SMSStatus() string { return u.base + PathSMSStatus + Overrides }

// CallRecording is the recording status callback of the bridged call of a reservation.
func (u URLs) CallRecording(reservationSID, taskSID string) string {
	return u.base + PathRecording + "?" + url.Values{"reservation": {reservationSID}, "task": {taskSID}}.Encode() + Overrides
}

// Hours is the opening-hours check: the schedule travels in its (signed) query.
func (u URLs) Hours(tz, week, closed string) string {
	q := url.Values{"tz": {tz}, "week": {week}}
	if closed != "" {
		q.Set("closed", closed)
	}
	return u.base + PathHours + "?" + q.Encode()
}

// VoicemailRecording is the voicemail's recording status callback. from, to and department are
// Liquid that Studio renders per call (the call's From and To, the menu's department), so the
// callback names the caller; Twilio signs the URL as rendered.
func (u URLs) VoicemailRecording(from, to, department string) string {
	return u.base + PathVoicemailRecording + "?" + voicemailQuery(from, to, department) + Overrides
}

// VoicemailTranscription is the voicemail's transcription callback (same query).
func (u URLs) VoicemailTranscription(from, to, department string) string {
	return u.base + PathVoicemailTranscription + "?" + voicemailQuery(from, to, department) + Overrides
}

// voicemailQuery keeps the Liquid unescaped: url.Values would escape its braces and filters.
func voicemailQuery(from, to, department string) string {
	q := "from=" + from + "&to=" + to
	if department != "" {
		q += "&department=" + department
	}
	return q
}

// Wait is the queue's waitUrl (POST): the settings travel in its query, which Twilio signs.
func (u URLs) Wait(w caller.WaitSettings) string {
	return u.base + PathWait + "?" + waitQuery(w).Encode() + Overrides
}

// WaitKey is the action of the wait's <Gather>, with the same settings.
func (u URLs) WaitKey(w caller.WaitSettings) string {
	return u.base + PathWaitKey + "?" + waitQuery(w).Encode() + Overrides
}

// HoldMusic is the bridge's own hold music.
func (u URLs) HoldMusic() string { return u.base + PathHoldMusic }

func waitQuery(w caller.WaitSettings) url.Values {
	q := url.Values{"every": {strconv.Itoa(int(w.AnnounceEvery / time.Second))}}
	if w.MusicURL != "" {
		q.Set("music", w.MusicURL)
		q.Set("music_seconds", strconv.Itoa(int(w.MusicLength/time.Second)))
	}
	for k, v := range map[string]string{"key": w.VoicemailKey, "voice": w.Voice, "language": w.Language} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// ParseWaitSettings reads the settings from a wait URL's query (see URLs.Wait).
func ParseWaitSettings(q url.Values) (caller.WaitSettings, error) {
	w := caller.WaitSettings{
		MusicURL: q.Get("music"), VoicemailKey: q.Get("key"), Voice: q.Get("voice"), Language: q.Get("language"),
		AnnounceEvery: caller.DefaultAnnounceEvery, MusicLength: caller.HoldMusicLength,
	}
	secs := func(name string, into *time.Duration) error {
		v := q.Get(name)
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return taskrouter.Errorf(taskrouter.EInvalid, "%s %q: want a number of seconds", name, v)
		}
		*into = time.Duration(n) * time.Second
		return nil
	}
	if err := secs("every", &w.AnnounceEvery); err != nil {
		return w, err
	}
	if w.MusicURL != "" {
		w.MusicLength = caller.DefaultMusicLength
	}
	if err := secs("music_seconds", &w.MusicLength); err != nil {
		return w, err
	}
	return w, w.Validate()
}
