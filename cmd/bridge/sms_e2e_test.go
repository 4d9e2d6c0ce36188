package main

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/caller"
	"queuebridge/internal/app"
	"queuebridge/sandbox/messaging"
	"queuebridge/sandbox/twiliosig"
	"queuebridge/sandbox/voice"
	"queuebridge/scripts/demo"
)

const smsText = "Thanks for calling. We got your message and will call you back."

// smsE2E is the e2e rig with the SMS afterwards on, and a clock of its days the test moves.
type smsE2E struct {
	*e2e
	days atomic.Int64
}

func newSMSE2E(t *testing.T, spec string, vars map[string]string) *smsE2E {
	t.Helper()
	s := &smsE2E{}
	all := map[string]string{"SMS_TEXT": smsText}
	for k, v := range vars {
		all[k] = v
	}
	s.e2e = newE2EAt(t, e2eSpeed, spec, all, app.WithSMSClock(func() time.Time {
		return time.Now().AddDate(0, 0, int(s.days.Load()))
	}))
	return s
}

// closedToday is callerSpec closed yesterday, today and tomorrow: every caller leaves a voicemail.
func closedToday() string {
	now := time.Now().UTC()
	return hoursSpec("      - {days: mon-sun, open: \"00:00\", close: \"24:00\"}\n",
		now.AddDate(0, 0, -1).Format(time.DateOnly), now.Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly))
}

// callFrom places a call from number with the persona and waits for its end.
func (s *smsE2E) callFrom(number string, p voice.Persona) voice.CallInfo {
	s.t.Helper()
	s.env.Sandbox.SetPersona(number, p)
	sid, err := s.env.Sandbox.PlaceCall(context.Background(), number, demo.Number)
	require.NoError(s.t, err)
	return s.ended(sid)
}

// voicemail has number leave a voicemail and waits until the bridge stored it.
func (s *smsE2E) voicemail(number string) {
	s.t.Helper()
	info := s.callFrom(number, voice.Human(0, 0).WithMessage(3*time.Second))
	s.eventually(func() bool {
		list, err := s.env.App.Store.ListVoicemails(context.Background(), 100)
		require.NoError(s.t, err)
		for _, v := range list {
			if v.CallSID == info.Sid {
				return true
			}
		}
		return false
	}, "the voicemail reaches the bridge")
}

// messagesTo are the messages the sandbox created to number.
func (s *smsE2E) messagesTo(number string) []messaging.Message {
	var out []messaging.Message
	for _, m := range s.env.Sandbox.Messaging().Messages() {
		if m.To == number {
			out = append(out, m)
		}
	}
	return out
}

// createRequests counts the Messages.create requests to number, accepted or refused.
func (s *smsE2E) createRequests(number string) int {
	n := 0
	for _, e := range s.env.Sandbox.Timeline("") {
		if e.Kind == "message" && (e.What == "created" || e.What == "create refused") && e.Detail["to"] == number {
			n++
		}
	}
	return n
}

// row is the bridge's record of the SMS to number (the most recent).
func (s *smsE2E) row(number string) (caller.SMS, bool) {
	list, err := s.env.App.Store.ListSMS(context.Background(), 100)
	require.NoError(s.t, err)
	for _, r := range list {
		if r.To == number {
			return r, true
		}
	}
	return caller.SMS{}, false
}

// settle makes sure every trigger before it was handled: the sender handles triggers in order,
// so once a sentinel caller's SMS exists, every earlier trigger is done.
func (s *smsE2E) settle(sentinel string) {
	s.t.Helper()
	s.voicemail(sentinel)
	s.eventually(func() bool { return len(s.messagesTo(sentinel)) > 0 }, "the sentinel's SMS")
}

// A caller who left a voicemail gets exactly one SMS, from the number they called, with the
// configured text; a second voicemail the same day sends none; the next day sends one again. A
// status callback with a bad signature is refused and changes nothing.
func TestE2ESMSAfterAVoicemailOnceADay(t *testing.T) {
	t.Parallel()
	s := newSMSE2E(t, closedToday(), nil)
	const number = "+15550301001"
	s.voicemail(number)
	s.eventually(func() bool {
		r, ok := s.row(number)
		return ok && r.Status == "delivered"
	}, "the SMS is delivered and the bridge knows it")
	msgs := s.messagesTo(number)
	require.Len(t, msgs, 1)
	assert.Equal(t, demo.Number, msgs[0].From, "from the number the caller called")
	assert.Equal(t, smsText, msgs[0].Body)
	r, _ := s.row(number)
	assert.Equal(t, msgs[0].Sid, r.MessageSID)
	assert.Equal(t, caller.SMSVoicemail, r.Reason)

	s.voicemail(number)
	s.settle("+15550301002")
	assert.Len(t, s.messagesTo(number), 1, "not twice the same day")
	assert.Equal(t, 1, s.createRequests(number))

	// A forged status callback: 403, nothing changes.
	form := url.Values{"MessageSid": {msgs[0].Sid}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30006"}, "To": {number}, "From": {demo.Number}}
	req, err := http.NewRequest(http.MethodPost, s.env.BridgeURL+"/sms-status", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twiliosig.Sign("not-the-auth-token", s.env.BridgeURL+"/sms-status", form))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusForbidden, resp.StatusCode)
	r, _ = s.row(number)
	assert.Equal(t, "delivered", r.Status, "a forged callback changes nothing")

	s.days.Add(1)
	s.voicemail(number)
	s.eventually(func() bool { return len(s.messagesTo(number)) == 2 }, "the next day, one more SMS (the forged callback did not mark the number)")
	s.settle("+15550301003")
	assert.Len(t, s.messagesTo(number), 2)
}

// A caller who hangs up after waiting at least SMS_ABANDONED_AFTER gets the SMS; one who hangs
// up sooner does not.
func TestE2ESMSAfterAnAbandonedWait(t *testing.T) {
	t.Parallel()
	s := newSMSE2E(t, callerSpec, map[string]string{"SMS_ABANDONED_AFTER": "30"})
	s.setAgents(map[string]voice.Persona{"Alice": voice.Human(time.Second, 3600*time.Second)})
	busy := s.call(voice.Human(0, 0))
	s.eventually(func() bool { c, _ := s.env.Sandbox.Voice().Call(busy); return c.BridgedWith != "" }, "Alice is talking")

	const patient, impatient, sentinel = "+15550302001", "+15550302002", "+15550302003"
	info := s.callFrom(impatient, voice.Human(0, 0).WithPatience(10*time.Second))
	assert.Equal(t, "hangup", info.QueueResult)
	info = s.callFrom(patient, voice.Human(0, 0).WithPatience(60*time.Second))
	assert.Equal(t, "hangup", info.QueueResult)
	s.eventually(func() bool { return len(s.messagesTo(patient)) == 1 }, "the caller who waited a minute is texted")
	m := s.messagesTo(patient)[0]
	assert.Equal(t, demo.Number, m.From)
	assert.Equal(t, smsText, m.Body)
	r, ok := s.row(patient)
	require.True(t, ok)
	assert.Equal(t, caller.SMSAbandoned, r.Reason)

	s.callFrom(sentinel, voice.Human(0, 0).WithPatience(60*time.Second))
	s.eventually(func() bool { return len(s.messagesTo(sentinel)) == 1 }, "the sentinel is texted")
	assert.Zero(t, s.createRequests(impatient), "a caller who hung up before the threshold is not texted")
}

// A number that cannot take SMS (a landline, refused or attempted; a recipient who replied STOP)
// gets none, and is remembered: the next day's trigger makes no create request.
func TestE2ESMSNeverToANumberThatCannotTakeIt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		setup  func(s *smsE2E, number string)
		status string
		code   int
	}{
		{"landline, rejected (most countries)", func(s *smsE2E, n string) {
			s.env.Sandbox.Messaging().SetLineType(n, messaging.Landline)
		}, caller.SMSNotSent, 21635},
		{"landline, attempted (US, CA, UK)", func(s *smsE2E, n string) {
			s.env.Sandbox.Messaging().SetLandline(messaging.LandlineAttempt)
			s.env.Sandbox.Messaging().SetLineType(n, messaging.Landline)
		}, "undelivered", 30006},
		{"opted out", func(s *smsE2E, n string) {
			s.env.Sandbox.Messaging().SetOptedOut(demo.Number, n, true)
		}, caller.SMSNotSent, 21610},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newSMSE2E(t, closedToday(), nil)
			const number = "+15550303001"
			tc.setup(s, number)
			s.voicemail(number)
			s.eventually(func() bool {
				r, ok := s.row(number)
				return ok && r.Status == tc.status && r.ErrorCode == tc.code
			}, "the bridge records why the SMS did not go")
			assert.Equal(t, 1, s.createRequests(number))
			for _, m := range s.messagesTo(number) {
				assert.NotEqual(t, "delivered", m.Status)
			}

			s.days.Add(1)
			s.voicemail(number)
			s.settle("+15550303002")
			assert.Equal(t, 1, s.createRequests(number), "remembered: no create request the next day")
			list, err := s.env.App.Store.ListSMS(context.Background(), 100)
			require.NoError(t, err)
			claims := 0
			for _, r := range list {
				if r.To == number {
					claims++
				}
			}
			assert.Equal(t, 1, claims, "no claim on the next day: the first day's row only")
		})
	}
}
