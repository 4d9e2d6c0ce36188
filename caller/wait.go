package caller

import (
	"queuebridge/taskrouter"

	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// QueueStatus is what Twilio tells the waitUrl about the caller's wait (the <Enqueue> waitUrl
// parameters): their place, how long they have waited, the queue's average wait and size.
type QueueStatus struct {
	Position     int
	Size         int
	Waited       time.Duration
	AverageWait  time.Duration
	HasPosition  bool
	HasAverage   bool
	HasQueueSize bool
}

// ParseQueueStatus reads the waitUrl parameters QueuePosition, CurrentQueueSize, QueueTime and
// AvgQueueTime (whole numbers; seconds for the times). A parameter that is absent stays unknown;
// one that is not a number is an error.
func ParseQueueStatus(get func(string) string) (QueueStatus, error) {
	var s QueueStatus
	num := func(name string, into *int, known *bool) error {
		v := get(name)
		if v == "" {
			return nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return taskrouter.Errorf(taskrouter.EInvalid, "%s %q is not a count", name, v)
		}
		*into = n
		if known != nil {
			*known = true
		}
		return nil
	}
	var waited, avg int
	for _, p := range []struct {
		name  string
		into  *int
		known *bool
	}{
		{"QueuePosition", &s.Position, &s.HasPosition},
		{"CurrentQueueSize", &s.Size, &s.HasQueueSize},
		{"QueueTime", &waited, nil},
		{"AvgQueueTime", &avg, &s.HasAverage},
	} {
		if err := num(p.name, p.into, p.known); err != nil {
			return QueueStatus{}, err
		}
	}
	s.Waited, s.AverageWait = time.Duration(waited)*time.Second, time.Duration(avg)*time.Second
	return s, nil
}

// WaitSettings shape the wait. They travel in the (signed) waitUrl that bootstrap gives the
// Enqueue Call widget, so the spec is their one source.
type WaitSettings struct {
	// MusicURL is played between announcements; empty: the bridge's own hold music.
	MusicURL string
	// MusicLength is how long one playback of MusicURL lasts.
	MusicLength time.Duration
	// AnnounceEvery is the time between two announcements of the caller's position.
	AnnounceEvery time.Duration
	// VoicemailKey, when set, is the key (0-9, * or #) that leaves the queue for voicemail.
	VoicemailKey    string
	Voice, Language string
}

// Defaults and bounds of WaitSettings.
const (
	DefaultAnnounceEvery = 30 * time.Second
	DefaultMusicLength   = 10 * time.Second
	MinAnnounceEvery     = 10 * time.Second
	MaxAnnounceEvery     = 10 * time.Minute
)

// Validate checks the settings; every problem names the setting.
func (w WaitSettings) Validate() error {
	var problems []string
	if w.AnnounceEvery < MinAnnounceEvery || w.AnnounceEvery > MaxAnnounceEvery {
		problems = append(problems, fmt.Sprintf("announce_every %s: want %s to %s", w.AnnounceEvery, MinAnnounceEvery, MaxAnnounceEvery))
	}
	if w.MusicLength <= 0 || w.MusicLength > time.Hour {
		problems = append(problems, fmt.Sprintf("music_seconds %s: want 1 s to 1 h", w.MusicLength))
	}
	if w.VoicemailKey != "" && (len(w.VoicemailKey) != 1 || !strings.Contains("0123456789*#", w.VoicemailKey)) {
		problems = append(problems, fmt.Sprintf("voicemail_key %q: want one key, 0-9, * or #", w.VoicemailKey))
	}
	if len(problems) > 0 {
		return taskrouter.Errorf(taskrouter.EInvalid, "wait settings: %s", strings.Join(problems, "; "))
	}
	return nil
}

// WaitPlan is one round of the wait: what the caller hears before the waitUrl is requested again.
type WaitPlan struct {
	// Announcement tells the caller their place and the estimated wait ("" when unknown).
	Announcement string
	// KeyPrompt offers the voicemail key ("" when there is none).
	KeyPrompt string
	MusicURL  string
	// MusicLoops is how many times the music plays: about AnnounceEvery in all.
	MusicLoops int
}

// PlanWait decides one round of the wait from what Twilio reported.
func PlanWait(w WaitSettings, s QueueStatus, defaultMusic string) WaitPlan {
	p := WaitPlan{MusicURL: w.MusicURL, Announcement: Announcement(s)}
	if p.MusicURL == "" {
		p.MusicURL = defaultMusic
	}
	length := w.MusicLength
	if length <= 0 {
		length = DefaultMusicLength
	}
	p.MusicLoops = max(1, int(math.Round(float64(w.AnnounceEvery)/float64(length))))
	if w.VoicemailKey != "" {
		p.KeyPrompt = "To leave a message instead of waiting, press " + keyName(w.VoicemailKey) + "."
	}
	return p
}

// Announcement is what the caller hears about their wait: their place in line and, once the
// queue has an average wait, the time they may still wait (the average less what they waited).
func Announcement(s QueueStatus) string {
	var parts []string
	switch {
	case !s.HasPosition || s.Position < 1:
	case s.Position == 1:
		parts = append(parts, "You are next in line.")
	default:
		parts = append(parts, fmt.Sprintf("You are number %d in line.", s.Position))
	}
	if est := EstimatedWait(s); est > 0 {
		parts = append(parts, "Your expected wait is "+spokenDuration(est)+".")
	}
	return strings.Join(parts, " ")
}

// EstimatedWait is the queue's average wait less what the caller already waited; 0 when the
// queue has no average yet or the caller waited longer than it.
func EstimatedWait(s QueueStatus) time.Duration {
	if !s.HasAverage || s.AverageWait <= s.Waited {
		return 0
	}
	return s.AverageWait - s.Waited
}

// spokenDuration says a wait the way a person would: "less than a minute", "about 1 minute",
// "about 4 minutes".
func spokenDuration(d time.Duration) string {
	if d < time.Minute {
		return "less than a minute"
	}
	m := int(math.Round(d.Minutes()))
	if m == 1 {
		return "about 1 minute"
	}
	return fmt.Sprintf("about %d minutes", m)
}

func keyName(k string) string {
	switch k {
	case "*":
		return "star"
	case "#":
		return "pound"
	}
	return k
}
