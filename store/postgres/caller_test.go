package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/caller"
	"queuebridge/store/postgres/pgtest"
	"queuebridge/store/storetest"
)

func TestVoicemailConformance(t *testing.T) {
	storetest.RunVoicemails(t, func(t *testing.T) caller.VoicemailStore { return open(t, pgtest.Schema(t)) })
}

func TestRecordingConformance(t *testing.T) {
	storetest.RunRecordings(t, func(t *testing.T) caller.RecordingStore { return open(t, pgtest.Schema(t)) })
}

// Two replicas receive the same recording callback at once (Twilio retried it, the load
// balancer spread the two): exactly one of them sees a new voicemail, so what follows a new
// voicemail (the SMS) happens once.
func TestOneOfTwoReplicasSeesANewVoicemail(t *testing.T) {
	url := pgtest.Schema(t)
	stores := []caller.VoicemailStore{open(t, url), open(t, url)}
	ctx := context.Background()
	for round := range 20 {
		v := caller.Voicemail{
			RecordingSID: "RE" + hex32(round), CallSID: "CA" + hex32(round), From: "+15550100001", To: "+15005550006",
			RecordingURL: "https://api.twilio.com/2010-04-01/Accounts/AC1/Recordings/RE" + hex32(round),
			Duration:     5 * time.Second, ReceivedAt: time.UnixMilli(1_700_000_000_000 + int64(round)).UTC(),
		}
		created := make([]bool, 4)
		errs := make([]error, 4)
		var wg sync.WaitGroup
		for i := range created {
			wg.Go(func() { created[i], errs[i] = stores[i%2].SaveVoicemail(ctx, v) })
		}
		wg.Wait()
		n := 0
		for i := range created {
			require.NoError(t, errs[i])
			if created[i] {
				n++
			}
		}
		assert.Equal(t, 1, n, "round %d: deliveries that saw a new voicemail", round)
	}
	list, err := stores[1].ListVoicemails(ctx, 100)
	require.NoError(t, err)
	assert.Len(t, list, 20)
}

func hex32(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 32)
	for i := range b {
		b[i] = '0'
	}
	for i := 31; n > 0; i-- {
		b[i] = digits[n%16]
		n /= 16
	}
	return string(b)
}

func TestSMSConformance(t *testing.T) {
	storetest.RunSMS(t, func(t *testing.T) caller.SMSStore { return open(t, pgtest.Schema(t)) })
}

// Two replicas (two pools on one schema) claim one caller's SMS at once: one claim wins.
func TestSMSSharedBetweenReplicas(t *testing.T) {
	storetest.RunSMSShared(t, func(t *testing.T) (caller.SMSStore, caller.SMSStore) {
		url := pgtest.Schema(t)
		return open(t, url), open(t, url)
	})
}
