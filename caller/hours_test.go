package caller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScheduleOpen(t *testing.T) {
	s, err := ParseSchedule("America/New_York", "mon-fri 09:00-12:30;mon-fri 13:30-17:00;sat 10:00-24:00", "2026-12-25")
	require.NoError(t, err)
	ny, _ := time.LoadLocation("America/New_York")
	cases := map[time.Time]bool{
		time.Date(2026, 12, 1, 9, 0, 0, 0, ny):         true,
		time.Date(2026, 12, 1, 8, 59, 59, 0, ny):       false,
		time.Date(2026, 12, 1, 12, 45, 0, 0, ny):       false,
		time.Date(2026, 12, 1, 16, 59, 0, 0, ny):       true,
		time.Date(2026, 12, 1, 17, 0, 0, 0, ny):        false,
		time.Date(2026, 12, 1, 14, 0, 0, 0, time.UTC):  true,  // 09:00 in New York
		time.Date(2026, 12, 1, 13, 59, 0, 0, time.UTC): false, // 08:59 in New York
		time.Date(2026, 12, 5, 23, 59, 0, 0, ny):       true,  // Saturday until midnight
		time.Date(2026, 12, 6, 11, 0, 0, 0, ny):        false, // Sunday
		time.Date(2026, 12, 25, 10, 0, 0, 0, ny):       false, // a Friday, but a closed date
		time.Date(2026, 12, 25, 16, 0, 0, 0, time.UTC): false, // 11:00 on the closed date in New York
		time.Date(2026, 12, 26, 3, 30, 0, 0, time.UTC): false, // Saturday 26 in UTC, Friday 25 22:30 in New York: closed
		time.Date(2026, 12, 27, 3, 30, 0, 0, time.UTC): true,  // Saturday 26 22:30 in New York
	}
	for at, want := range cases {
		assert.Equal(t, want, s.Open(at), "%s (%s in New York)", at, at.In(ny).Format(time.RFC1123))
	}
}

func TestParseScheduleRefusesNonsense(t *testing.T) {
	for _, tc := range []struct{ tz, week, closed string }{
		{"", "mon 09:00-17:00", ""},
		{"Mars/Olympus", "mon 09:00-17:00", ""},
		{"UTC", "monday 09:00-17:00", ""},
		{"UTC", "mon 9:00-17:00", ""},
		{"UTC", "mon 17:00-09:00", ""},
		{"UTC", "mon 09:00-24:30", ""},
		{"UTC", "mon", ""},
		{"UTC", "mon 09:00-17:00", "25/12/2026"},
	} {
		_, err := ParseSchedule(tc.tz, tc.week, tc.closed)
		assert.Error(t, err, "%+v", tc)
	}
	days, err := ParseDays("fri-mon,wed")
	require.NoError(t, err)
	assert.Equal(t, []time.Weekday{time.Friday, time.Saturday, time.Sunday, time.Monday, time.Wednesday}, days)
}
