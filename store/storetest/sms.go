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

// RunSMS is the conformance suite of caller.SMSStore: open returns a new, empty store closed
// when t ends.
func RunSMS(t *testing.T, open func(t *testing.T) caller.SMSStore) {
	for _, tc := range []struct {
		name string
		run  func(t *testing.T, s caller.SMSStore)
	}{
		{"a number is claimed once a day, every field kept", smsClaimedOnceADay},
		{"a number known unreachable is never claimed again", smsUnreachable},
		{"the create's result and the status callbacks are stored; a final status stays", smsStatuses},
		{"a status callback that beats the create's result finds the claim by its number", smsCallbackFirst},
		{"a status callback for an unknown message finds nothing", smsUnknownMessage},
		{"concurrent claims of one number and day: exactly one succeeds", smsConcurrentClaims},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
	}
}

const (
	smsCaller = "+15550100001"
	smsCalled = "+15005550006"
)

func smsClaim(to, day string, at time.Duration) caller.SMS {
	return caller.SMS{To: to, Day: day, From: smsCalled, Reason: caller.SMSVoicemail, CallSID: sid("CA", 1),
		Status: caller.SMSClaimed, CreatedAt: base.Add(at), UpdatedAt: base.Add(at)}
}

func smsClaimedOnceADay(t *testing.T, s caller.SMSStore) {
	ctx := context.Background()
	first := smsClaim(smsCaller, "2024-03-01", time.Second)
	c, err := s.ClaimSMS(ctx, first)
	require.NoError(t, err)
	assert.Equal(t, caller.Claimed, c)
	again := smsClaim(smsCaller, "2024-03-01", 2*time.Second)
	again.Reason = caller.SMSAbandoned
	c, err = s.ClaimSMS(ctx, again)
	require.NoError(t, err)
	assert.Equal(t, caller.AlreadyClaimed, c, "the same day")
	c, err = s.ClaimSMS(ctx, smsClaim(smsCaller, "2024-03-02", 3*time.Second))
	require.NoError(t, err)
	assert.Equal(t, caller.Claimed, c, "the next day")
	c, err = s.ClaimSMS(ctx, smsClaim("+15550100002", "2024-03-01", 4*time.Second))
	require.NoError(t, err)
	assert.Equal(t, caller.Claimed, c, "another number")
	list, err := s.ListSMS(ctx, 10)
	require.NoError(t, err)
	require.Len(t, list, 3)
	assert.Equal(t, "+15550100002", list[0].To, "newest first")
	assert.Equal(t, first, list[2], "every field kept, the first claim's")
	two, err := s.ListSMS(ctx, 2)
	require.NoError(t, err)
	assert.Len(t, two, 2)
}

func smsUnreachable(t *testing.T, s caller.SMSStore) {
	ctx := context.Background()
	require.NoError(t, s.MarkUnreachable(ctx, smsCaller, caller.ErrLandline, base))
	require.NoError(t, s.MarkUnreachable(ctx, smsCaller, caller.ErrUnsubscribed, base), "twice is not an error")
	c, err := s.ClaimSMS(ctx, smsClaim(smsCaller, "2024-03-05", 0))
	require.NoError(t, err)
	assert.Equal(t, caller.KnownUnreachable, c)
	list, err := s.ListSMS(ctx, 10)
	require.NoError(t, err)
	assert.Empty(t, list, "nothing claimed")
	c, err = s.ClaimSMS(ctx, smsClaim("+15550100002", "2024-03-05", 0))
	require.NoError(t, err)
	assert.Equal(t, caller.Claimed, c, "only that number")
}

func smsStatuses(t *testing.T, s caller.SMSStore) {
	ctx := context.Background()
	msg := sid("SM", 1)
	_, err := s.ClaimSMS(ctx, smsClaim(smsCaller, "2024-03-01", 0))
	require.NoError(t, err)
	require.NoError(t, s.RecordSMS(ctx, smsCaller, "2024-03-01", msg, "queued", 0, base.Add(time.Second)))
	got, found, err := s.UpdateSMSStatus(ctx, msg, smsCaller, "sent", 0, base.Add(2*time.Second))
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, "sent", got.Status)
	got, _, err = s.UpdateSMSStatus(ctx, msg, smsCaller, "undelivered", 30006, base.Add(3*time.Second))
	require.NoError(t, err)
	assert.Equal(t, "undelivered", got.Status)
	assert.Equal(t, 30006, got.ErrorCode)
	got, found, err = s.UpdateSMSStatus(ctx, msg, smsCaller, "sent", 0, base.Add(4*time.Second))
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "undelivered", got.Status, "a late sent never replaces a final status")
	assert.Equal(t, msg, got.MessageSID)
	assert.Equal(t, base.Add(3*time.Second), got.UpdatedAt)

	// A refused create records its code.
	_, err = s.ClaimSMS(ctx, smsClaim("+15550100002", "2024-03-01", 0))
	require.NoError(t, err)
	require.NoError(t, s.RecordSMS(ctx, "+15550100002", "2024-03-01", "", caller.SMSNotSent, 21610, base))
	list, err := s.ListSMS(ctx, 10)
	require.NoError(t, err)
	for _, r := range list {
		if r.To == "+15550100002" {
			assert.Equal(t, caller.SMSNotSent, r.Status)
			assert.Equal(t, 21610, r.ErrorCode)
		}
	}
}

func smsCallbackFirst(t *testing.T, s caller.SMSStore) {
	ctx := context.Background()
	msg := sid("SM", 2)
	_, err := s.ClaimSMS(ctx, smsClaim(smsCaller, "2024-03-01", 0))
	require.NoError(t, err)
	got, found, err := s.UpdateSMSStatus(ctx, msg, smsCaller, "sent", 0, base.Add(time.Second))
	require.NoError(t, err)
	require.True(t, found, "the claim waiting for its SID")
	assert.Equal(t, msg, got.MessageSID)
	require.NoError(t, s.RecordSMS(ctx, smsCaller, "2024-03-01", msg, "queued", 0, base.Add(2*time.Second)))
	list, err := s.ListSMS(ctx, 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "sent", list[0].Status, "the create's queued does not move the callback's sent back")
	assert.Equal(t, msg, list[0].MessageSID)
}

func smsUnknownMessage(t *testing.T, s caller.SMSStore) {
	ctx := context.Background()
	_, err := s.ClaimSMS(ctx, smsClaim(smsCaller, "2024-03-01", 0))
	require.NoError(t, err)
	require.NoError(t, s.RecordSMS(ctx, smsCaller, "2024-03-01", sid("SM", 1), "queued", 0, base))
	_, found, err := s.UpdateSMSStatus(ctx, sid("SM", 9), "+15550100009", "delivered", 0, base)
	require.NoError(t, err)
	assert.False(t, found)
	_, found, err = s.UpdateSMSStatus(ctx, sid("SM", 9), smsCaller, "delivered", 0, base)
	require.NoError(t, err)
	assert.False(t, found, "the caller's claim has its own SID already")
	list, err := s.ListSMS(ctx, 10)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, "queued", list[0].Status)
}

func smsConcurrentClaims(t *testing.T, s caller.SMSStore) {
	ctx := context.Background()
	claims := make([]caller.Claim, 20)
	errs := make([]error, len(claims))
	var wg sync.WaitGroup
	for i := range claims {
		wg.Go(func() {
			claims[i], errs[i] = s.ClaimSMS(ctx, smsClaim(smsCaller, "2024-03-01", time.Duration(i)*time.Millisecond))
		})
	}
	wg.Wait()
	assert.Equal(t, 1, claimed(t, claims, errs), "claims that succeeded")
}

// RunSMSShared runs the claim on two stores sharing one database (two replicas): of the claims
// of one number and day sent to both at once, exactly one succeeds, and a number one replica
// marked unreachable is never claimed by the other.
func RunSMSShared(t *testing.T, open func(t *testing.T) (a, b caller.SMSStore)) {
	a, b := open(t)
	ctx := context.Background()
	for round := range 10 {
		day := time.Date(2024, 3, 1+round, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		claims := make([]caller.Claim, 8)
		errs := make([]error, len(claims))
		var wg sync.WaitGroup
		for i := range claims {
			s := []caller.SMSStore{a, b}[i%2]
			wg.Go(func() { claims[i], errs[i] = s.ClaimSMS(ctx, smsClaim(smsCaller, day, 0)) })
		}
		wg.Wait()
		assert.Equal(t, 1, claimed(t, claims, errs), "round %d: claims that succeeded", round)
	}
	require.NoError(t, a.MarkUnreachable(ctx, "+15550100002", caller.ErrUnsubscribed, base))
	c, err := b.ClaimSMS(ctx, smsClaim("+15550100002", "2024-03-01", 0))
	require.NoError(t, err)
	assert.Equal(t, caller.KnownUnreachable, c)
}

// claimed counts the claims that succeeded, failing on any claim's error.
func claimed(t *testing.T, claims []caller.Claim, errs []error) int {
	t.Helper()
	n := 0
	for i, c := range claims {
		require.NoError(t, errs[i])
		if c == caller.Claimed {
			n++
		}
	}
	return n
}
