package provision

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"queuebridge/caller"
	"queuebridge/handlers"
	"queuebridge/studio"
)

// SpecWait is what callers hear in the queue, served by the bridge (handlers' /queue-wait):
// hold music, their place and expected wait every AnnounceEvery seconds, and optionally a key
// that leaves the queue for voicemail. Its settings go into the wait URL the Enqueue Call
// widget gets, so the bridge needs no configuration of its own for them.
type SpecWait struct {
	// AnnounceEvery is the time between announcements, in seconds (10-600; 0 means 30).
	AnnounceEvery int `yaml:"announce_every" json:"announce_every"`
	// MusicURL is the hold music (an absolute URL, or a path on the bridge); empty: the
	// bridge's own (PUBLIC_BASE_URL/hold-music.wav).
	MusicURL string `yaml:"music_url" json:"music_url"`
	// MusicSeconds is how long one playback of MusicURL lasts (0: 10).
	MusicSeconds int `yaml:"music_seconds" json:"music_seconds"`
	// VoicemailKey, when set, is the key (0-9, * or #) that leaves the queue for voicemail.
	VoicemailKey string `yaml:"voicemail_key" json:"voicemail_key"`
}

// DefaultRecordingNotice is what callers hear after the greeting when calls are recorded.
const DefaultRecordingNotice = "This call will be recorded."

// SpecHours is when the queue takes callers. Studio asks the bridge (a Make HTTP Request to
// /hours, whose signed URL carries the schedule) before the greeting; outside the hours the
// caller hears ClosedMessage and records a voicemail, and no task is created.
type SpecHours struct {
	// TimeZone is an IANA zone name (Europe/Paris, America/New_York).
	TimeZone string `yaml:"time_zone" json:"time_zone"`
	// Weekly are the opening spans: days (mon, mon-fri, sat,sun) and open/close times (HH:MM,
	// close up to 24:00; several entries for a day with a break).
	Weekly []SpecHoursEntry `yaml:"weekly" json:"weekly"`
	// ClosedDates (YYYY-MM-DD, local) are closed all day.
	ClosedDates []string `yaml:"closed_dates" json:"closed_dates"`
	// ClosedMessage is what callers hear outside the hours, before the tone.
	ClosedMessage string `yaml:"closed_message" json:"closed_message"`
}

// SpecHoursEntry is one weekly opening span.
type SpecHoursEntry struct {
	Days  string `yaml:"days" json:"days"`
	Open  string `yaml:"open" json:"open"`
	Close string `yaml:"close" json:"close"`
}

// hoursQuery is the schedule as the bridge's /hours reads it.
func (h *SpecHours) hoursQuery() (tz, week, closed string) {
	entries := make([]caller.WeekEntry, len(h.Weekly))
	for i, e := range h.Weekly {
		entries[i] = caller.WeekEntry{Days: e.Days, Open: e.Open, Close: e.Close}
	}
	return h.TimeZone, caller.FormatWeek(entries), strings.Join(h.ClosedDates, ",")
}

// waitSettings are the wait's settings for the bridge.
func (s *Spec) waitSettings(set SpecSettings) caller.WaitSettings {
	w := s.Flow.Wait
	out := caller.WaitSettings{
		AnnounceEvery: caller.DefaultAnnounceEvery, MusicLength: caller.HoldMusicLength,
		MusicURL: specResolveURL(set.PublicBaseURL, w.MusicURL), VoicemailKey: w.VoicemailKey,
		Voice: s.Flow.Voice, Language: s.Flow.Language,
	}
	if w.AnnounceEvery != 0 {
		out.AnnounceEvery = time.Duration(w.AnnounceEvery) * time.Second
	}
	if out.MusicURL != "" {
		out.MusicLength = caller.DefaultMusicLength
		if w.MusicSeconds != 0 {
			out.MusicLength = time.Duration(w.MusicSeconds) * time.Second
		}
	}
	return out
}

// callerFlowParams adds the caller side's settings to the flow's render parameters.
func (s *Spec) callerFlowParams(set SpecSettings, p *studio.Params) {
	urls := handlers.NewURLs(set.PublicBaseURL)
	if s.Flow.Wait != nil {
		p.WaitURL = urls.Wait(s.waitSettings(set))
	}
	// The voicemail reaches the bridge (which stores and lists it) unless the spec sends it
	// elsewhere. Studio renders the Liquid per call: who called, which number, the department.
	from, to := "{{trigger.call.From | url_encode}}", "{{trigger.call.To | url_encode}}"
	dept := studio.DepartmentLiquid(p.Menu, url.QueryEscape)
	if p.RecordingStatusCallback == "" {
		p.RecordingStatusCallback = urls.VoicemailRecording(from, to, dept)
	}
	if s.Flow.Voicemail.Transcribe {
		p.TranscriptionCallback = urls.VoicemailTranscription(from, to, dept)
	}
	if set.RecordCalls {
		notice := s.Flow.RecordingNotice
		if notice == "" {
			notice = DefaultRecordingNotice
		}
		p.Greeting = strings.TrimSpace(p.Greeting + " " + notice)
	}
	if h := s.Flow.Hours; h != nil {
		p.Hours = &studio.Hours{URL: urls.Hours(h.hoursQuery()), ClosedMessage: h.ClosedMessage}
	}
}

// callerFlow checks the caller side's settings of the flow.
func (v *specValidator) callerFlow(s *Spec) {
	v.hours(s.Flow.Hours)
	w := s.Flow.Wait
	if w == nil {
		return
	}
	if s.Flow.Enqueue.WaitURL != "" {
		v.add("flow.enqueue.wait_url", s.Flow.Enqueue.WaitURL, "set either flow.enqueue.wait_url (your own wait TwiML) or flow.wait (the bridge's), not both")
	}
	if w.AnnounceEvery != 0 {
		v.between("flow.wait.announce_every", w.AnnounceEvery, int(caller.MinAnnounceEvery/time.Second), int(caller.MaxAnnounceEvery/time.Second), " seconds")
	}
	v.urlOrPath("flow.wait.music_url", w.MusicURL)
	if w.MusicSeconds != 0 {
		v.between("flow.wait.music_seconds", w.MusicSeconds, 1, 3600, " seconds")
	}
	if w.VoicemailKey != "" && (len(w.VoicemailKey) != 1 || !strings.Contains("0123456789*#", w.VoicemailKey)) {
		v.add("flow.wait.voicemail_key", w.VoicemailKey, "must be one key: 0-9, * or #")
	}
}

func (v *specValidator) hours(h *SpecHours) {
	if h == nil {
		return
	}
	if len(h.Weekly) == 0 {
		v.add("flow.hours.weekly", "", "at least one opening span is required (days, open, close)")
	}
	if strings.TrimSpace(h.ClosedMessage) == "" {
		v.add("flow.hours.closed_message", h.ClosedMessage, "is required: callers hear it outside the hours")
	}
	if _, err := caller.ParseSchedule(h.TimeZone, "", ""); err != nil {
		v.add("flow.hours.time_zone", h.TimeZone, "must be an IANA time zone name such as Europe/Paris")
	}
	for i, e := range h.Weekly {
		if _, err := caller.ParseSchedule("UTC", caller.FormatWeek([]caller.WeekEntry{{Days: e.Days, Open: e.Open, Close: e.Close}}), ""); err != nil {
			v.add(fmt.Sprintf("flow.hours.weekly[%d]", i), e.Days+" "+e.Open+"-"+e.Close,
				"want days (mon, mon-fri, sat,sun) and open and close as HH:MM, opening first (close up to 24:00)")
		}
	}
	for i, d := range h.ClosedDates {
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			v.add(fmt.Sprintf("flow.hours.closed_dates[%d]", i), d, "must be a date, YYYY-MM-DD")
		}
	}
}
