package caller

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"queuebridge/taskrouter"
)

// Schedule is when the queue takes callers: weekly opening spans in a time zone, less closed
// dates (holidays). Outside it callers hear the closed message and go to voicemail, and no task
// is created.
type Schedule struct {
	Location *time.Location
	// Weekly holds each weekday's spans, in minutes since local midnight, opening before closing.
	Weekly [7][]Span
	// Closed are the local dates (YYYY-MM-DD) the queue stays closed all day.
	Closed []string
}

// Span is one opening span of a day: [Open, Close) in minutes since midnight (Close up to 1440).
type Span struct{ Open, Close int }

// Open reports whether the queue takes callers at t.
func (s Schedule) Open(t time.Time) bool {
	local := t.In(s.Location)
	if slices.Contains(s.Closed, local.Format(time.DateOnly)) {
		return false
	}
	minute := local.Hour()*60 + local.Minute()
	for _, sp := range s.Weekly[local.Weekday()] {
		if minute >= sp.Open && minute < sp.Close {
			return true
		}
	}
	return false
}

var dayNames = []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}

// ParseSchedule reads a schedule in the form it travels in a URL: tz an IANA zone name; week
// entries separated by ";", each "DAYS HH:MM-HH:MM" where DAYS is a day (mon), a range (mon-fri)
// or a comma list (sat,sun); closed dates separated by ",".
func ParseSchedule(tz, week, closed string) (Schedule, error) {
	var s Schedule
	loc, err := time.LoadLocation(tz)
	if err != nil || tz == "" {
		return s, taskrouter.Errorf(taskrouter.EInvalid, "time zone %q: want an IANA name such as Europe/Paris", tz)
	}
	s.Location = loc
	for _, entry := range strings.Split(week, ";") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		days, span, err := parseWeekEntry(entry)
		if err != nil {
			return s, err
		}
		for _, d := range days {
			s.Weekly[d] = append(s.Weekly[d], span)
		}
	}
	for _, d := range strings.Split(closed, ",") {
		if d = strings.TrimSpace(d); d == "" {
			continue
		}
		if _, err := time.Parse(time.DateOnly, d); err != nil {
			return s, taskrouter.Errorf(taskrouter.EInvalid, "closed date %q: want YYYY-MM-DD", d)
		}
		s.Closed = append(s.Closed, d)
	}
	return s, nil
}

// parseWeekEntry reads "mon-fri 09:00-17:00".
func parseWeekEntry(entry string) ([]time.Weekday, Span, error) {
	dayPart, spanPart, ok := strings.Cut(strings.TrimSpace(entry), " ")
	if !ok {
		return nil, Span{}, taskrouter.Errorf(taskrouter.EInvalid, "opening hours %q: want DAYS HH:MM-HH:MM", entry)
	}
	days, err := ParseDays(dayPart)
	if err != nil {
		return nil, Span{}, err
	}
	from, to, ok := strings.Cut(strings.TrimSpace(spanPart), "-")
	if !ok {
		return nil, Span{}, taskrouter.Errorf(taskrouter.EInvalid, "opening hours %q: want HH:MM-HH:MM", spanPart)
	}
	open, err1 := parseClock(from)
	closing, err2 := parseClock(to)
	if err1 != nil || err2 != nil || open >= closing {
		return nil, Span{}, taskrouter.Errorf(taskrouter.EInvalid, "opening hours %q: want HH:MM-HH:MM, opening before closing (00:00 to 24:00)", spanPart)
	}
	return days, Span{open, closing}, nil
}

// ParseDays reads a day (mon), a range (mon-fri, wrapping: fri-mon) or a comma list (sat,sun).
func ParseDays(s string) ([]time.Weekday, error) {
	var out []time.Weekday
	for _, part := range strings.Split(strings.ToLower(s), ",") {
		first, last, isRange := strings.Cut(part, "-")
		a, b := slices.Index(dayNames, first), slices.Index(dayNames, last)
		if !isRange {
			b = a
		}
		if a < 0 || b < 0 {
			return nil, taskrouter.Errorf(taskrouter.EInvalid, "days %q: want mon, tue, wed, thu, fri, sat, sun, a range (mon-fri) or a list (sat,sun)", s)
		}
		for d := a; ; d = (d + 1) % 7 {
			out = append(out, time.Weekday(d))
			if d == b {
				break
			}
		}
	}
	return out, nil
}

func parseClock(s string) (int, error) {
	var h, m int
	if n, err := fmt.Sscanf(strings.TrimSpace(s), "%d:%d", &h, &m); err != nil || n != 2 || len(strings.TrimSpace(s)) != 5 {
		return 0, fmt.Errorf("clock %q", s)
	}
	if h < 0 || m < 0 || m > 59 || h > 24 || (h == 24 && m != 0) {
		return 0, fmt.Errorf("clock %q", s)
	}
	return h*60 + m, nil
}

// FormatWeek writes weekly spans as ParseSchedule reads them.
func FormatWeek(entries []WeekEntry) string {
	parts := make([]string, len(entries))
	for i, e := range entries {
		parts[i] = e.Days + " " + e.Open + "-" + e.Close
	}
	return strings.Join(parts, ";")
}

// WeekEntry is one line of a weekly schedule as a person writes it.
type WeekEntry struct {
	Days, Open, Close string
}
