package studio

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// script is what a scripted caller does when the flow asks.
type script struct {
	digits      []string // one entry per Gather; "" lets it time out
	queueResult string   // what the Enqueue action reports
	recording   string   // RecordingUrl of the voicemail; "" for an empty recording
}

// drive plays the Voice engine for one call: it executes the TwiML the flow answers, verb by
// verb, making the requests Twilio would (action URLs, Redirects, falling through a Gather with
// no input or an empty Record), and returns what the caller went through.
func (sb *sandbox) drive(t *testing.T, webhook, callSid string, sc script) []string {
	t.Helper()
	var transcript []string
	doc := parseTwiML(t, sb.call(t, webhook, callParams(callSid, caller, number)))
	for hops := 0; hops < 50; hops++ {
		next := ""
		var extra []string
	verbs:
		for _, v := range doc.Children {
			switch v.XMLName.Local {
			case "Say":
				transcript = append(transcript, "Say: "+v.Text)
			case "Play":
				transcript = append(transcript, "Play: "+v.Text)
			case "Gather":
				for _, inner := range v.Children {
					transcript = append(transcript, inner.XMLName.Local+": "+inner.Text)
				}
				require.NotEmpty(t, sc.digits, "the flow gathers more often than scripted")
				d := sc.digits[0]
				sc.digits = sc.digits[1:]
				if d == "" {
					transcript = append(transcript, "Gather: no input")
					continue
				}
				transcript = append(transcript, "Gather: "+d)
				next, extra = v.attr("action"), []string{"Digits", d}
				break verbs
			case "Enqueue":
				transcript = append(transcript, "Enqueue: "+v.Children[0].Text, "QueueResult: "+sc.queueResult)
				next, extra = v.attr("action"), []string{"QueueResult", sc.queueResult, "QueueTime", "30"}
				break verbs
			case "Record":
				if sc.recording == "" {
					transcript = append(transcript, "Record: silence")
					continue
				}
				transcript = append(transcript, "Record: "+sc.recording)
				next, extra = v.attr("action"), []string{"RecordingUrl", sc.recording, "RecordingDuration", "9"}
				break verbs
			case "Redirect":
				next = v.Text
				break verbs
			case "Hangup":
				return append(transcript, "Hangup")
			default:
				t.Fatalf("unexpected verb %s", v.XMLName.Local)
			}
		}
		if next == "" {
			return append(transcript, "end of TwiML")
		}
		doc = parseTwiML(t, sb.call(t, next, callParams(callSid, caller, number, extra...)))
	}
	t.Fatal("the call never ended")
	return nil
}

func TestIVRScenarios(t *testing.T) {
	const (
		welcome = "Say: Welcome to Acme."
		menu    = "Say: Press 1 for support or 2 for sales."
		task    = `Enqueue: {"department":"sales","from":"+15551230001","digits":"2","flow":"FLOW"}`
	)
	cases := []struct {
		name   string
		script script
		want   []string
	}{
		{"sales, bridged to an agent", script{digits: []string{"2"}, queueResult: "bridged"},
			[]string{welcome, menu, "Gather: 2", task, "QueueResult: bridged", "Hangup"}},
		{"sales, caller hangs up in the queue", script{digits: []string{"2"}, queueResult: "hangup"},
			[]string{welcome, menu, "Gather: 2", task, "QueueResult: hangup", "Hangup"}},
		{"sales, workflow timeout then voicemail", script{digits: []string{"2"}, queueResult: "leave", recording: "http://rec.example/RE9"},
			[]string{welcome, menu, "Gather: 2", task, "QueueResult: leave", "Record: http://rec.example/RE9", "Say: Thanks +15551230001, we got your message.", "Hangup"}},
		{"sales, workflow timeout then silent voicemail", script{digits: []string{"2"}, queueResult: "leave"},
			[]string{welcome, menu, "Gather: 2", task, "QueueResult: leave", "Record: silence", "Hangup"}},
		{"support", script{digits: []string{"1"}},
			[]string{welcome, menu, "Gather: 1", "Say: Support is closed.", "Hangup"}},
		{"wrong key, then no input", script{digits: []string{"7", ""}},
			[]string{welcome, menu, "Gather: 7", menu, "Gather: no input", "Say: Goodbye.", "Hangup"}},
	}
	sb, f := newIVRSandbox(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			callSid := "CAd100000000000000000000000000000" + string(rune('a'+i))
			got := sb.drive(t, *f.WebhookUrl, callSid, tc.script)
			want := append([]string(nil), tc.want...)
			for j, line := range want {
				if line == task {
					want[j] = `Enqueue: {"department":"sales","from":"+15551230001","digits":"2","flow":"` + *f.Sid + `"}`
				}
			}
			assert.Equal(t, want, got)
			ex, ok := sb.engine.ExecutionForCall(callSid)
			require.True(t, ok)
			assert.Equal(t, "ended", ex.Status)
			assert.Empty(t, ex.Error)
		})
	}
}
