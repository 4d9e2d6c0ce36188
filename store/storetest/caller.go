package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/caller"
)

// RunVoicemails is the conformance suite of caller.VoicemailStore: open returns a new, empty
// store closed when t ends.
func RunVoicemails(t *testing.T, open func(t *testing.T) caller.VoicemailStore) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s caller.VoicemailStore)
	}{
		{"a voicemail is stored and listed, newest first", voicemailsListed},
		{"a second delivery is not a new voicemail and keeps the transcription", voicemailRedelivered},
		{"a transcription before its recording is kept, and listed once the recording comes", transcriptionFirst},
		{"concurrent deliveries of one recording create it once", voicemailConcurrent},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

func voicemail(n int, at time.Duration) caller.Voicemail {
	return caller.Voicemail{
		RecordingSID: sid("RE", n), CallSID: sid("CA", n), From: "+15550100001", To: "+15005550006", Department: "sales",
		RecordingURL: "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/" + sid("RE", n), Duration: 7 * time.Second,
		ReceivedAt: base.Add(at),
	}
}

func voicemailsListed(t *testing.T, s caller.VoicemailStore) {
	ctx := context.Background()
	for i, at := range []time.Duration{time.Second, 3 * time.Second, 2 * time.Second} {
		created, err := s.SaveVoicemail(ctx, voicemail(i+1, at))
		require.NoError(t, err)
		assert.True(t, created)
	}
	list, err := s.ListVoicemails(ctx, 10)
	require.NoError(t, err)
	require.Len(t, list, 3)
	assert.Equal(t, []string{sid("RE", 2), sid("RE", 3), sid("RE", 1)}, []string{list[0].RecordingSID, list[1].RecordingSID, list[2].RecordingSID})
	want := voicemail(2, 3*time.Second)
	want.DurationSeconds = 7
	assert.Equal(t, want, list[0], "every field kept, times to the millisecond")
	two, err := s.ListVoicemails(ctx, 2)
	require.NoError(t, err)
	assert.Len(t, two, 2, "at most limit")
}

func voicemailRedelivered(t *testing.T, s caller.VoicemailStore) {
	ctx := context.Background()
	v := voicemail(1, time.Second)
	_, err := s.SaveVoicemail(ctx, v)
	require.NoError(t, err)
	require.NoError(t, s.SaveTranscription(ctx, v.RecordingSID, "call me back", "completed", base))
	created, err := s.SaveVoicemail(ctx, v)
	require.NoError(t, err)
	assert.False(t, created, "Twilio's retry is the same voicemail")
	list, err := s.ListVoicemails(ctx, 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "call me back", list[0].Transcription)
	assert.Equal(t, "completed", list[0].TranscriptionStatus)
}

func transcriptionFirst(t *testing.T, s caller.VoicemailStore) {
	ctx := context.Background()
	v := voicemail(1, time.Second)
	require.NoError(t, s.SaveTranscription(ctx, v.RecordingSID, "hello", "completed", base))
	list, err := s.ListVoicemails(ctx, 10)
	require.NoError(t, err)
	assert.Empty(t, list, "no recording yet")
	created, err := s.SaveVoicemail(ctx, v)
	require.NoError(t, err)
	assert.True(t, created, "the recording is new even though its transcription came first")
	list, err = s.ListVoicemails(ctx, 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "hello", list[0].Transcription)
	assert.Equal(t, v.From, list[0].From)
}

func voicemailConcurrent(t *testing.T, s caller.VoicemailStore) {
	ctx := context.Background()
	v := voicemail(1, time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	errs := make([]error, 20)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.SaveVoicemail(ctx, v)
			errs[i] = err
			if c {
				mu.Lock()
				created++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, 1, created, "one delivery creates it")
}

// RunRecordings is the conformance suite of caller.RecordingStore.
func RunRecordings(t *testing.T, open func(t *testing.T) caller.RecordingStore) {
	t.Run("recordings are stored once and found by their task, oldest first", func(t *testing.T) {
		s := open(t)
		ctx := context.Background()
		rec := func(n int, task string, at time.Duration) caller.CallRecording {
			return caller.CallRecording{RecordingSID: sid("RE", n), ReservationSID: sid("WR", n), TaskSID: task, CallSID: sid("CA", n),
				RecordingURL: "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/" + sid("RE", n), Duration: 42 * time.Second,
				DurationSeconds: 42, Channels: 2, ReceivedAt: base.Add(at)}
		}
		for _, r := range []caller.CallRecording{rec(2, wt1, 2*time.Second), rec(1, wt1, time.Second), rec(3, wt2, time.Second), rec(1, wt1, time.Second)} {
			require.NoError(t, s.SaveRecording(ctx, r))
		}
		got, err := s.TaskRecordings(ctx, wt1)
		require.NoError(t, err)
		assert.Equal(t, []caller.CallRecording{rec(1, wt1, time.Second), rec(2, wt1, 2*time.Second)}, got, "twice delivered, stored once")
		none, err := s.TaskRecordings(ctx, sid("WT", 9))
		require.NoError(t, err)
		assert.Empty(t, none)
	})
}
