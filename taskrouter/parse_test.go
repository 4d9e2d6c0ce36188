package taskrouter

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testWS = "WS00000000000000000000000000000001"
	testWT = "WT00000000000000000000000000000001"
	testWR = "WR00000000000000000000000000000001"
	testWK = "WK00000000000000000000000000000001"
)

func reservationForm() url.Values {
	return url.Values{
		"EventType": {"reservation.created"}, "Sid": {"EV00000000000000000000000000000001"},
		"WorkspaceSid": {testWS}, "TaskSid": {testWT}, "ReservationSid": {testWR}, "WorkerSid": {testWK},
		"ResourceType": {"Reservation"}, "TimestampMs": {"1700000000123"},
		"TaskAttributes": {`{"from":"+15551230000","department":"sales"}`}, "WorkerAttributes": {`{"contact_uri":"+15551239999"}`},
	}
}

func TestParseEvent(t *testing.T) {
	e, err := ParseEvent(reservationForm())
	require.NoError(t, err)
	assert.Equal(t, EventReservationCreated, e.Type)
	assert.Equal(t, "reservation", e.ResourceType, "compared lower-cased")
	assert.Equal(t, "sales", e.TaskAttributes["department"])
	assert.Equal(t, "+15551239999", stringAttr(e.WorkerAttrs, "contact_uri"))
	assert.Equal(t, time.UnixMilli(1700000000123).UTC(), e.Timestamp)

	cases := []struct {
		name  string
		mod   func(url.Values)
		error string
	}{
		{"no type", func(f url.Values) { f.Del("EventType") }, "EventType is missing"},
		{"bad event sid", func(f url.Values) { f.Set("Sid", "EVx") }, `Sid "EVx" is not an EV… SID`},
		{"no workspace", func(f url.Values) { f.Del("WorkspaceSid") }, "WorkspaceSid is missing"},
		{"task sid of the wrong kind", func(f url.Values) { f.Set("TaskSid", testWR) }, "TaskSid \"" + testWR + "\" is not a WT… SID"},
		{"no reservation", func(f url.Values) { f.Del("ReservationSid") }, "ReservationSid is missing"},
		{"no worker", func(f url.Values) { f.Del("WorkerSid") }, "WorkerSid is missing"},
		{"task attributes", func(f url.Values) { f.Set("TaskAttributes", "not json") }, "TaskAttributes is not a JSON object"},
		{"worker attributes", func(f url.Values) { f.Set("WorkerAttributes", `"a string"`) }, "WorkerAttributes is not a JSON object"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := reservationForm()
			tc.mod(f)
			_, err := ParseEvent(f)
			require.Error(t, err)
			assert.Equal(t, EInvalid, ErrorCode(err))
			assert.Equal(t, tc.error, ErrorMessage(err))
		})
	}

	t.Run("ignored types need only their type", func(t *testing.T) {
		e, err := ParseEvent(url.Values{"EventType": {"worker.activity.update"}, "TaskAttributes": {"junk"}})
		require.NoError(t, err)
		assert.False(t, e.Handled())
	})
	t.Run("task events need no reservation", func(t *testing.T) {
		f := reservationForm()
		f.Set("EventType", "task.canceled")
		f.Del("ReservationSid")
		f.Del("WorkerSid")
		f.Set("TaskCanceledReason", "hangup")
		e, err := ParseEvent(f)
		require.NoError(t, err)
		assert.Equal(t, "hangup", e.Reason)
	})
}

func TestParseAnsweredByAndCallStatus(t *testing.T) {
	for _, v := range []string{"", "human", "machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax", "unknown"} {
		a, err := ParseAnsweredBy(v)
		require.NoError(t, err, v)
		assert.Equal(t, v != "" && v != "human" && v != "unknown", a.IsMachine(), v)
	}
	_, err := ParseAnsweredBy("machine")
	assert.Error(t, err)

	for _, v := range []string{"queued", "initiated", "ringing", "in-progress", "completed", "busy", "failed", "no-answer", "canceled"} {
		s, err := ParseCallStatus(v)
		require.NoError(t, err)
		assert.Equal(t, v == "completed" || v == "busy" || v == "failed" || v == "no-answer" || v == "canceled", s.Final(), v)
	}
	_, err = ParseCallStatus("")
	assert.EqualError(t, err, "invalid: CallStatus is missing")
}

func TestValidContactURI(t *testing.T) {
	for uri, want := range map[string]bool{
		"+15551234567": true, "+442071838750": true, "sip:alice@example.com": true, "client:alice": true,
		"": false, "15551234567": false, "+0123": false, "+1555123456789012": false, "+1555-123": false,
		"sip:": false, "client:": false, "sip:a b@x": false,
	} {
		assert.Equal(t, want, ValidContactURI(uri), uri)
	}
}

func TestOptionsValidateAndTiming(t *testing.T) {
	ok := Options{URLs: fixedURLs{}}
	require.NoError(t, ok.Validate())
	cases := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no URLs", func(o *Options) { o.URLs = nil }, "URLs"},
		{"amd mode", func(o *Options) { o.MachineDetection = "Maybe" }, "MachineDetection"},
		{"ring timeout", func(o *Options) { o.RingTimeout = 2 * time.Second }, "RingTimeout"},
		{"amd timeout", func(o *Options) { o.AMDTimeout = 90 * time.Second }, "AMDTimeout"},
		{"unknown policy", func(o *Options) { o.UnknownAnswer = "maybe" }, "UnknownAnswer"},
		{"caller id", func(o *Options) { o.CallerID = "5551234" }, "CallerID"},
		{"confirm key of two digits", func(o *Options) { o.ConfirmKey = "12" }, "ConfirmKey"},
		{"confirm key #", func(o *Options) { o.ConfirmKey = "#" }, "ConfirmKey"},
		{"confirm timeout", func(o *Options) { o.ConfirmTimeout = 90 * time.Second }, "ConfirmTimeout"},
		{"confirm timeout in ms", func(o *Options) { o.ConfirmTimeout = 1500 * time.Millisecond }, "ConfirmTimeout"},
		{"rest without activity", func(o *Options) { o.RestAfter = 3 }, "RestActivitySID"},
		{"rest negative", func(o *Options) { o.RestAfter = -1 }, "RestAfter"},
		{"cool-down without return activity", func(o *Options) { o.RestAfter, o.RestActivitySID, o.RestFor = 3, "WA1", time.Minute }, "ReturnActivitySID"},
	}
	for _, tc := range cases {
		o := ok
		tc.mod(&o)
		var oe *OptionError
		if assert.ErrorAs(t, o.Validate(), &oe, tc.name) {
			assert.Equal(t, tc.want, oe.Option, tc.name)
		}
	}

	assert.NoError(t, ok.CheckTiming("main", 120*time.Second), "60 s ring + 30 s AMD fit in 120 s")
	err := ok.CheckTiming("main (WW1)", 90*time.Second)
	assert.EqualError(t, err, "workflow main (WW1): ring timeout 1m0s + AMD timeout 30s = 1m30s does not fit in its reservation timeout 1m30s: "+
		"lower the ring or AMD timeout, or raise the workflow's TaskReservationTimeout above 1m30s")
	off := ok
	off.MachineDetection = AMDOff
	assert.NoError(t, off.CheckTiming("main", 90*time.Second), "without AMD only the ring time counts")

	confirm := ok
	confirm.ConfirmKey = "1"
	assert.Equal(t, 30*time.Second, confirm.ConfirmTime(), "two prompts of 10 s, each with the 5 s timeout")
	err = confirm.CheckTiming("main (WW1)", 110*time.Second)
	assert.EqualError(t, err, "workflow main (WW1): ring timeout 1m0s + AMD timeout 30s + whisper and confirmation 30s = 2m0s does not fit in its reservation timeout 1m50s: "+
		"lower the ring or AMD timeout, or raise the workflow's TaskReservationTimeout above 2m0s")
	assert.NoError(t, confirm.CheckTiming("main", 121*time.Second))
	whisper := ok
	whisper.Whisper = true
	assert.Equal(t, WhisperAllowance, whisper.ConfirmTime(), "the whisper alone")
	assert.Zero(t, ok.ConfirmTime())
}

// fixedURLs is a URL builder for tests that never place a call.
type fixedURLs struct{}

func (fixedURLs) AgentAnswer(r, t string) string { return "https://bridge.example.com/answer/" + r }
func (fixedURLs) AgentStatus(r, _ string) string { return "https://bridge.example.com/status/" + r }
func (fixedURLs) AgentConfirm(r, t string, attempt int) string {
	return fmt.Sprintf("https://bridge.example.com/confirm/%s/%d", r, attempt)
}
