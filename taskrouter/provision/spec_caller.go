package provision

import (
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
}

// callerFlow checks the caller side's settings of the flow.
func (v *specValidator) callerFlow(s *Spec) {
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
