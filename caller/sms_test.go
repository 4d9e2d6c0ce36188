package caller_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/caller"
	"queuebridge/taskrouter"
)

// fakeSMSStore keeps claims in memory, and the order of what was asked of it and of Twilio.
type fakeSMSStore struct {
	mu          sync.Mutex
	rows        map[[2]string]caller.SMS
	unreachable map[string]int
	log         *[]string
}

var _ caller.SMSStore = (*fakeSMSStore)(nil)

func (f *fakeSMSStore) ClaimSMS(_ context.Context, s caller.SMS) (caller.Claim, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	*f.log = append(*f.log, "claim "+s.To+" "+s.Day)
	if _, ok := f.unreachable[s.To]; ok {
		return caller.KnownUnreachable, nil
	}
	if _, ok := f.rows[[2]string{s.To, s.Day}]; ok {
		return caller.AlreadyClaimed, nil
	}
	f.rows[[2]string{s.To, s.Day}] = s
	return caller.Claimed, nil
}

func (f *fakeSMSStore) RecordSMS(_ context.Context, to, day, sid, status string, code int, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	*f.log = append(*f.log, fmt.Sprintf("record %s %s %d", sid, status, code))
	r := f.rows[[2]string{to, day}]
	r.MessageSID, r.Status, r.ErrorCode = sid, status, code
	f.rows[[2]string{to, day}] = r
	return nil
}

func (f *fakeSMSStore) UpdateSMSStatus(_ context.Context, sid, _, status string, code int, _ time.Time) (caller.SMS, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, r := range f.rows {
		if r.MessageSID == sid {
			r.Status, r.ErrorCode = status, code
			f.rows[k] = r
			return r, true, nil
		}
	}
	return caller.SMS{}, false, nil
}

func (f *fakeSMSStore) MarkUnreachable(_ context.Context, number string, code int, _ time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	*f.log = append(*f.log, fmt.Sprintf("unreachable %s %d", number, code))
	f.unreachable[number] = code
	return nil
}

func (f *fakeSMSStore) ListSMS(context.Context, int) ([]caller.SMS, error) { return nil, nil }

// fakeMessages answers SendSMS with Send.
type fakeMessages struct {
	Send func(from, to, body, cb string) (string, string, error)
	log  *[]string
	mu   *sync.Mutex
}

func (f fakeMessages) SendSMS(_ context.Context, from, to, body, cb string) (string, string, error) {
	f.mu.Lock()
	*f.log = append(*f.log, "send "+from+" → "+to+": "+body)
	f.mu.Unlock()
	return f.Send(from, to, body, cb)
}

const (
	called    = "+15005550006"
	theCaller = "+15550100001"
	smSID     = "SM0123456789abcdef0123456789abcdef"
)

type smsRig struct {
	store  *fakeSMSStore
	sender *caller.SMSSender
	mu     sync.Mutex
	log    []string
	now    time.Time
}

func newSMSRig(t *testing.T, settings caller.SMSSettings, send func(from, to, body, cb string) (string, string, error)) *smsRig {
	r := &smsRig{now: time.Date(2026, 12, 1, 22, 30, 0, 0, time.UTC)}
	r.store = &fakeSMSStore{rows: map[[2]string]caller.SMS{}, unreachable: map[string]int{}, log: &r.log}

	msgs := fakeMessages{Send: send, log: &r.log, mu: &r.store.mu}
	r.sender = caller.NewSMSSender(caller.SMSSenderConfig{
		Settings: settings, Store: r.store, Messages: msgs, StatusCallback: "https://bridge.example/sms-status",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Now: func() time.Time { r.mu.Lock(); defer r.mu.Unlock(); return r.now },
	})
	t.Cleanup(func() { _ = r.sender.Close(context.Background()) })
	return r
}

// drain waits for the worker to finish every queued trigger.
func (r *smsRig) drain(t *testing.T) []string {
	require.NoError(t, r.sender.Close(context.Background()))
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	return append([]string(nil), r.log...)
}

func sent(string, string, string, string) (string, string, error) { return smSID, "queued", nil }

func voicemailOf(from string) caller.Voicemail {
	return caller.Voicemail{CallSID: "CA0123456789abcdef0123456789abcdef", From: from, To: called}
}

func TestDayIsTheCalendarDayInTheTimeZone(t *testing.T) {
	at := time.Date(2026, 12, 1, 23, 30, 0, 0, time.UTC)
	ny, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	assert.Equal(t, "2026-12-01", caller.Day(at, nil))
	assert.Equal(t, "2026-12-01", caller.Day(at, ny))
	assert.Equal(t, "2026-12-02", caller.Day(at, tokyo), "already tomorrow in Tokyo")
}

func TestUnreachableCodes(t *testing.T) {
	for _, code := range []int{21610, 21614, 21635, 30006} {
		assert.True(t, caller.Unreachable(code), "%d", code)
	}
	for _, code := range []int{0, 21211, 21606, 30003, 20429, 30008} {
		assert.False(t, caller.Unreachable(code), "%d: a passing or our own fault, not the number's", code)
	}
}

func TestSMSSettingsValidate(t *testing.T) {
	assert.NoError(t, caller.SMSSettings{Text: "Thanks for calling"}.Validate())
	long := make([]rune, caller.MaxSMSText+1)
	for i := range long {
		long[i] = 'é'
	}
	assert.ErrorContains(t, caller.SMSSettings{Text: string(long)}.Validate(), "at most 1600")
	assert.Error(t, caller.SMSSettings{Text: "x", AbandonedAfter: -time.Second}.Validate())
}

func TestParseSMSStatus(t *testing.T) {
	form := map[string]string{"MessageSid": smSID, "MessageStatus": "undelivered", "ErrorCode": "30006", "To": theCaller, "From": called}
	get := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	st, err := caller.ParseSMSStatus(get(form))
	require.NoError(t, err)
	assert.Equal(t, caller.SMSStatus{MessageSID: smSID, Status: "undelivered", ErrorCode: 30006, To: theCaller, From: called}, st)
	assert.True(t, st.Final())
	for name, bad := range map[string][2]string{
		"call SID":       {"MessageSid", "CA0123456789abcdef0123456789abcdef"},
		"short SID":      {"MessageSid", "SM123"},
		"unknown status": {"MessageStatus", "lost"},
		"empty status":   {"MessageStatus", ""},
		"error code":     {"ErrorCode", "thirty"},
	} {
		m := map[string]string{}
		for k, v := range form {
			m[k] = v
		}
		m[bad[0]] = bad[1]
		_, err := caller.ParseSMSStatus(get(m))
		var te *taskrouter.Error
		assert.True(t, errors.As(err, &te) && te.Code == taskrouter.EInvalid, "%s: %v", name, err)
	}
}

// The claim is stored before Twilio is asked, the SMS goes from the number called to the
// caller with the configured text and the status callback, and the result is recorded.
func TestAVoicemailTextsTheCallerFromTheNumberCalled(t *testing.T) {
	var gotCB string
	r := newSMSRig(t, caller.SMSSettings{Text: "Thanks, we'll call back"}, func(_, _, _, cb string) (string, string, error) {
		gotCB = cb
		return smSID, "queued", nil
	})
	r.sender.Voicemail(voicemailOf(theCaller))
	assert.Equal(t, []string{
		"claim " + theCaller + " 2026-12-01",
		"send " + called + " → " + theCaller + ": Thanks, we'll call back",
		"record " + smSID + " queued 0",
	}, r.drain(t))
	assert.Equal(t, "https://bridge.example/sms-status", gotCB)
}

func TestOnceADayPerNumberInTheTimeZone(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	r := newSMSRig(t, caller.SMSSettings{Text: "hi", Location: tokyo}, sent)
	r.sender.Voicemail(voicemailOf(theCaller)) // 22:30 UTC: 07:30 on Dec 2 in Tokyo
	r.sender.Voicemail(voicemailOf(theCaller))
	r.sender.Voicemail(voicemailOf("+15550100002"))
	log := r.drain(t)
	var sends []string
	for _, l := range log {
		if l[:4] == "send" {
			sends = append(sends, l)
		}
	}
	assert.Equal(t, []string{"send " + called + " → " + theCaller + ": hi", "send " + called + " → +15550100002: hi"}, sends, "the second voicemail the same day sends nothing")
	assert.Contains(t, log, "claim "+theCaller+" 2026-12-02", "the day is Tokyo's")
}

// A create Twilio refused is never sent again; a refusal saying the number cannot take SMS
// remembers the number.
func TestAFailedCreateIsNeverRetried(t *testing.T) {
	for _, tc := range []struct {
		name     string
		err      error
		want     []string
		remember bool
	}{
		{"landline refused", &taskrouter.RemoteError{Kind: taskrouter.Permanent, Status: 400, Code: 21635, Err: errors.New("landline")},
			[]string{"record  not-sent 21635"}, true},
		{"opted out", &taskrouter.RemoteError{Kind: taskrouter.Permanent, Status: 400, Code: 21610, Err: errors.New("STOP")},
			[]string{"record  not-sent 21610"}, true},
		{"another refusal", &taskrouter.RemoteError{Kind: taskrouter.Permanent, Status: 400, Code: 21606, Err: errors.New("from")},
			[]string{"record  not-sent 21606"}, false},
		{"timed out: may have been sent", &taskrouter.RemoteError{Kind: taskrouter.Ambiguous, Err: context.DeadlineExceeded},
			[]string{"record  unknown 0"}, false},
		{"server error", &taskrouter.RemoteError{Kind: taskrouter.Retryable, Status: 503, Code: 20500, Err: errors.New("5xx")},
			[]string{"record  unknown 0"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sends := 0
			r := newSMSRig(t, caller.SMSSettings{Text: "hi"}, func(string, string, string, string) (string, string, error) {
				sends++
				return "", "", tc.err
			})
			r.sender.Voicemail(voicemailOf(theCaller))
			log := r.drain(t)
			assert.Equal(t, 1, sends, "sent once, never again")
			assert.Subset(t, log, tc.want)
			_, remembered := r.store.unreachable[theCaller]
			assert.Equal(t, tc.remember, remembered)
		})
	}
}

func TestAnUnreachableOrClaimedNumberIsNotTexted(t *testing.T) {
	sends := 0
	r := newSMSRig(t, caller.SMSSettings{Text: "hi"}, func(string, string, string, string) (string, string, error) {
		sends++
		return smSID, "queued", nil
	})
	r.store.unreachable["+15550100009"] = 21635
	r.sender.Voicemail(voicemailOf("+15550100009"))
	r.sender.Voicemail(voicemailOf("client:alice"))
	r.sender.Voicemail(caller.Voicemail{From: theCaller, To: ""})
	r.drain(t)
	assert.Zero(t, sends)
}

// A status callback saying undelivered or failed with a code that means the number cannot take
// SMS remembers the number; delivered, or another code, does not.
func TestStatusCallbacksRememberUnreachableNumbers(t *testing.T) {
	r := newSMSRig(t, caller.SMSSettings{Text: "hi"}, sent)
	r.sender.Voicemail(voicemailOf(theCaller))
	r.drain(t)
	ctx := context.Background()
	for _, st := range []caller.SMSStatus{
		{MessageSID: smSID, Status: "sent", To: theCaller},
		{MessageSID: smSID, Status: "delivered", To: theCaller},
		{MessageSID: smSID, Status: "undelivered", ErrorCode: 30003, To: theCaller},
	} {
		require.NoError(t, r.sender.ApplyStatus(ctx, st))
	}
	assert.Empty(t, r.store.unreachable)
	require.NoError(t, r.sender.ApplyStatus(ctx, caller.SMSStatus{MessageSID: smSID, Status: "undelivered", ErrorCode: 30006, To: theCaller}))
	assert.Equal(t, map[string]int{theCaller: 30006}, r.store.unreachable)
	assert.Equal(t, "undelivered", r.store.rows[[2]string{theCaller, "2026-12-01"}].Status)
}

func TestAbandonedCallersAreTextedPastTheThreshold(t *testing.T) {
	attrs := map[string]any{"from": theCaller, "to": called, "call_sid": "CA0123456789abcdef0123456789abcdef"}
	ev := func(typ, reason string, age time.Duration) taskrouter.Event {
		return taskrouter.Event{Type: typ, Reason: reason, TaskAge: age, TaskAttributes: attrs, TaskSID: "WT0123456789abcdef0123456789abcdef"}
	}
	for _, tc := range []struct {
		name  string
		after time.Duration
		ev    taskrouter.Event
		sends bool
	}{
		{"hung up past the threshold", time.Minute, ev(taskrouter.EventTaskCanceled, "hangup", 61*time.Second), true},
		{"hung up at the threshold", time.Minute, ev(taskrouter.EventTaskCanceled, "Task canceled on hangup", time.Minute), true},
		{"hung up before it", time.Minute, ev(taskrouter.EventTaskCanceled, "hangup", 59*time.Second), false},
		{"chose voicemail (texted for the voicemail)", time.Minute, ev(taskrouter.EventTaskCanceled, "caller chose voicemail", time.Hour), false},
		{"workflow timeout", time.Minute, ev(taskrouter.EventTaskCanceled, "Task TTL Exceeded", time.Hour), false},
		{"another event", time.Minute, ev(taskrouter.EventTaskCompleted, "hangup", time.Hour), false},
		{"threshold off", 0, ev(taskrouter.EventTaskCanceled, "hangup", time.Hour), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newSMSRig(t, caller.SMSSettings{Text: "hi", AbandonedAfter: tc.after}, sent)
			r.sender.TaskEvent(tc.ev)
			log := r.drain(t)
			if tc.sends {
				assert.Contains(t, log, "send "+called+" → "+theCaller+": hi")
			} else {
				assert.Empty(t, log)
			}
		})
	}
}

// Notify never waits for Twilio: with the worker stuck in a create, triggers queue up to the
// bound and the rest are dropped and counted; Close sends what was queued.
func TestNotifyNeverBlocksAndCloseDrains(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 10)
	var log []string
	store := &fakeSMSStore{rows: map[[2]string]caller.SMS{}, unreachable: map[string]int{}, log: &log}
	sender := caller.NewSMSSender(caller.SMSSenderConfig{
		Settings: caller.SMSSettings{Text: "hi"}, Store: store, QueueSize: 2,
		Messages: fakeMessages{log: &log, mu: &store.mu, Send: func(string, string, string, string) (string, string, error) {
			started <- struct{}{}
			<-release
			return smSID, "queued", nil
		}},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})
	assert.True(t, sender.Notify(caller.SMSTrigger{Reason: caller.SMSVoicemail, From: called, To: "+15550100001", At: time.Now()}))
	<-started // the worker is stuck in the first create
	done := make(chan []bool)
	go func() {
		var queued []bool
		for i := 2; i <= 5; i++ {
			queued = append(queued, sender.Notify(caller.SMSTrigger{Reason: caller.SMSVoicemail, From: called, To: fmt.Sprintf("+1555010000%d", i), At: time.Now()}))
		}
		done <- queued
	}()
	var queued []bool
	select {
	case queued = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Notify blocked behind a create")
	}
	assert.Equal(t, []bool{true, true, false, false}, queued)
	assert.EqualValues(t, 2, sender.Dropped())
	close(release)
	require.NoError(t, sender.Close(context.Background()))
	store.mu.Lock()
	defer store.mu.Unlock()
	assert.Len(t, store.rows, 3, "the queued triggers were sent before Close returned")
	assert.False(t, sender.Notify(caller.SMSTrigger{From: called, To: "+15550100009"}), "closed")
}

func TestSMSOffSendsNothing(t *testing.T) {
	r := newSMSRig(t, caller.SMSSettings{}, sent)
	r.sender.Voicemail(voicemailOf(theCaller))
	assert.Empty(t, r.drain(t))
}
