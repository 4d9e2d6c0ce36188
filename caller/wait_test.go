package caller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAnnouncementAndPlan(t *testing.T) {
	for _, tc := range []struct {
		status QueueStatus
		want   string
	}{
		{QueueStatus{Position: 1, HasPosition: true}, "You are next in line."},
		{QueueStatus{Position: 4, HasPosition: true, AverageWait: 5 * time.Minute, HasAverage: true, Waited: time.Minute}, "You are number 4 in line. Your expected wait is about 4 minutes."},
		{QueueStatus{Position: 2, HasPosition: true, AverageWait: 90 * time.Second, HasAverage: true, Waited: 45 * time.Second}, "You are number 2 in line. Your expected wait is less than a minute."},
		{QueueStatus{Position: 2, HasPosition: true, AverageWait: time.Minute, HasAverage: true, Waited: 2 * time.Minute}, "You are number 2 in line."},
		{QueueStatus{}, ""},
	} {
		assert.Equal(t, tc.want, Announcement(tc.status))
	}
	w := WaitSettings{AnnounceEvery: 45 * time.Second, MusicLength: 10 * time.Second, VoicemailKey: "#"}
	p := PlanWait(w, QueueStatus{}, "https://bridge/hold.wav")
	assert.Equal(t, WaitPlan{KeyPrompt: "To leave a message instead of waiting, press pound.", MusicURL: "https://bridge/hold.wav", MusicLoops: 5}, p)
	s, err := ParseQueueStatus(params{"QueuePosition": "3", "QueueTime": "20", "AvgQueueTime": "0"}.get)
	require.NoError(t, err)
	assert.Equal(t, QueueStatus{Position: 3, HasPosition: true, Waited: 20 * time.Second, HasAverage: true}, s)
	_, err = ParseQueueStatus(params{"QueueTime": "-1"}.get)
	assert.Error(t, err)
}

type params map[string]string

func (p params) get(k string) string { return p[k] }
