package operator_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	qbcaller "queuebridge/caller"
	"queuebridge/operator"
	"queuebridge/taskrouter"
)

func voicemail(sid string, at time.Time) qbcaller.Voicemail {
	return qbcaller.Voicemail{RecordingSID: sid, CallSID: "CA" + sid[2:], From: caller, To: "+15005550006", Department: "sales",
		RecordingURL: "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/" + sid, Duration: 7 * time.Second, ReceivedAt: at}
}

func recordingSID(i int) string { return "RE0000000000000000000000000000000" + string(rune('0'+i)) }

// A voicemail shows up once, masked, newest first; its transcription fills the row when it
// comes; the list keeps the last Recent; seeding at start shows the stored ones in their order.
func TestVoicemailsAreListedNewestFirstWithTheirTranscription(t *testing.T) {
	p := newPage(t, operator.ModelOptions{Recent: 3})
	at := p.clock.Now()
	p.m.AddVoicemail(voicemail(recordingSID(1), at))
	p.m.SetTranscription(recordingSID(1), "please call me back")
	p.m.SetTranscription(recordingSID(9), "a recording not shown: ignored")
	vs := p.m.Snapshot().Voicemails
	require.Len(t, vs, 1)
	assert.Equal(t, operator.VoicemailRow{Key: recordingSID(1), At: at.UnixMilli(), Caller: operator.MaskNumber(caller), Department: "sales",
		Seconds: 7, Transcription: "please call me back", URL: "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/" + recordingSID(1)}, vs[0])

	again := voicemail(recordingSID(1), at) // Twilio's retry of the recording callback
	p.m.AddVoicemail(again)
	vs = p.m.Snapshot().Voicemails
	require.Len(t, vs, 1, "a redelivery is the same row")
	assert.Equal(t, "please call me back", vs[0].Transcription, "and keeps the transcription")

	for i := 2; i <= 4; i++ {
		p.m.AddVoicemail(voicemail(recordingSID(i), at.Add(time.Duration(i)*time.Second)))
	}
	var keys []string
	for _, v := range p.m.Snapshot().Voicemails {
		keys = append(keys, v.Key)
	}
	assert.Equal(t, []string{recordingSID(4), recordingSID(3), recordingSID(2)}, keys, "the last three, newest first")

	seeded := newPage(t, operator.ModelOptions{})
	seeded.m.SeedVoicemails([]qbcaller.Voicemail{voicemail(recordingSID(2), at.Add(time.Second)), voicemail(recordingSID(1), at)})
	keys = nil
	for _, v := range seeded.m.Snapshot().Voicemails {
		keys = append(keys, v.Key)
	}
	assert.Equal(t, []string{recordingSID(2), recordingSID(1)}, keys, "the store's order (newest first) is kept")
}

// A call recording names the caller and the agent while the page still knows the call, is
// shown once however often Twilio reports it, and shows numbers whole only when configured.
func TestARecordingNamesTheCallerAndAgentOfItsCall(t *testing.T) {
	for _, show := range []bool{false, true} {
		p := newPage(t, operator.ModelOptions{ShowNumbers: show})
		p.callerQueued()
		p.leg(resA, ringing(taskrouter.CallInProgress))
		p.leg(resA, func(r *taskrouter.Reservation) {
			r.State, r.AnsweredBy = taskrouter.StateAccepted, taskrouter.AnsweredHuman
		})
		rec := qbcaller.CallRecording{RecordingSID: recordingSID(1), ReservationSID: resA, TaskSID: task, CallSID: "CA" + resA[2:],
			RecordingURL: "https://api.twilio.com/x/" + recordingSID(1), Duration: 42 * time.Second, Channels: 2, ReceivedAt: p.clock.Now()}
		p.m.AddRecording(rec)
		p.m.AddRecording(rec)
		rs := p.m.Snapshot().Recordings
		require.Len(t, rs, 1)
		want := operator.MaskNumber(caller)
		if show {
			want = caller
		}
		assert.Equal(t, operator.RecordingRow{Key: recordingSID(1), At: p.clock.Now().UnixMilli(), Task: task, Caller: want, Agent: "Carol",
			Seconds: 42, Channels: 2, URL: "https://api.twilio.com/x/" + recordingSID(1)}, rs[0])
	}
}
