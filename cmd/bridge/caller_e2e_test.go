package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/caller"
	"queuebridge/internal/app"
	"queuebridge/sandbox/voice"
)

// callerSpec is e2eSpec with one agent, so callers queue behind each other, and the bridge's
// wait: announcements every 10 s and * for voicemail.
var callerSpec = strings.Replace(strings.Replace(strings.Replace(e2eSpec, `  - {name: Bob, contact_uri: "+15005550102", activity: Available}
  - {name: Carol, contact_uri: "+15005550103", activity: Available}
`, "", 1), `  enqueue:
    timeout: 3600
`, `  menu:
    prompt: For sales press 1.
    timeout: 1
    options:
      - {digit: "1", department: sales & marketing}
    default_department: general
  enqueue:
    timeout: 3600
  wait:
    announce_every: 10
    voicemail_key: "*"
`, 1), `    max_length: 60
`, `    max_length: 60
    transcribe: true
`, 1)

// waitHeard records what the bridge told each caller on the wait URL: Twilio's QueuePosition
// and the first <Say>.
type waitHeard struct {
	mu    sync.Mutex
	heard map[string][]waitRound // by CallSid
}

type waitRound struct {
	position string
	said     string
}

func (w *waitHeard) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/queue-wait" {
			next.ServeHTTP(rw, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		form, _ := url.ParseQuery(string(body))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		said := rec.Body.String()
		if _, after, ok := strings.Cut(said, "<Say"); ok {
			_, after, _ = strings.Cut(after, ">")
			said, _, _ = strings.Cut(after, "</Say>")
		}
		w.mu.Lock()
		w.heard[form.Get("CallSid")] = append(w.heard[form.Get("CallSid")], waitRound{form.Get("QueuePosition"), said})
		w.mu.Unlock()
		for k, v := range rec.Header() {
			rw.Header()[k] = v
		}
		rw.WriteHeader(rec.Code)
		_, _ = rw.Write(rec.Body.Bytes())
	})
}

func (w *waitHeard) rounds(call string) []waitRound {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]waitRound(nil), w.heard[call]...)
}

// Three callers for one agent: while the callers ahead are served, each waiting caller's
// announced place goes down (3, 2, 1 for the third), as Twilio's QueuePosition does, and the
// announcement says it.
func TestE2EWaitAnnouncementsFollowThePlaceInLine(t *testing.T) {
	t.Parallel()
	heard := &waitHeard{heard: map[string][]waitRound{}}
	e := newE2EAt(t, e2eSpeed, callerSpec, nil, app.WithMiddleware(heard.middleware))
	// Alice picks up after 10 s: the first caller is still in the queue when the third joins.
	e.setAgents(map[string]voice.Persona{"Alice": voice.Human(10*time.Second, 15*time.Second)})
	first := e.call(voice.Human(0, 0))
	e.eventually(func() bool { return len(heard.rounds(first)) > 0 }, "the first caller is in the queue")
	second := e.call(voice.Human(0, 0))
	e.eventually(func() bool { return len(heard.rounds(second)) > 0 }, "the second caller is in the queue")
	third := e.call(voice.Human(0, 0))
	for _, c := range []string{first, second, third} {
		info := e.ended(c)
		e.bridgedTo(info, "Alice")
	}
	places := func(call string) []string {
		var out []string
		for _, r := range heard.rounds(call) {
			if len(out) == 0 || out[len(out)-1] != r.position {
				out = append(out, r.position)
			}
		}
		return out
	}
	assert.Equal(t, []string{"3", "2", "1"}, places(third), "the third caller moves up as the callers ahead are served")
	assert.Equal(t, []string{"2", "1"}, places(second))
	for _, r := range heard.rounds(third) {
		want := map[string]string{"3": "You are number 3 in line.", "2": "You are number 2 in line.", "1": "You are next in line."}[r.position]
		assert.True(t, strings.HasPrefix(r.said, want), "position %s announced as %q", r.position, r.said)
	}
	require.GreaterOrEqual(t, len(heard.rounds(third)), 4, "the wait URL is requested again every round")
}

// A caller who presses * while waiting leaves the queue: their task is canceled (with the
// bridge's reason), no agent is rung for it, and the IVR records their voicemail, which reaches
// the bridge (recording and transcription callbacks), is stored with the caller's number, the
// number they called and their department, and is listed to the operator.
func TestE2EVoicemailKeyLeavesTheQueue(t *testing.T) {
	t.Parallel()
	e := newE2EWithSpec(t, callerSpec, map[string]string{"OPERATOR_TOKEN": "op-secret-0123456789"})
	e.setAgents(map[string]voice.Persona{"Alice": voice.Human(2*time.Second, 60*time.Second)})
	busy := e.call(voice.Human(0, 0))
	e.eventually(func() bool { c, _ := e.env.Sandbox.Voice().Call(busy); return c.BridgedWith != "" }, "Alice is talking")
	sid := e.call(voice.Human(0, 0).WithDigits("1").WithQueueDigits("*", 5*time.Second).WithMessage(8 * time.Second).
		WithTranscript("please call me back"))
	info := e.ended(sid)
	assert.Equal(t, "leave", info.QueueResult)
	task := e.task(info.TaskSid)
	assert.Equal(t, "canceled", task.AssignmentStatus)
	assert.Equal(t, "caller chose voicemail", task.Reason)
	assert.Empty(t, e.env.Sandbox.TaskRouter().TaskReservations(info.TaskSid), "nobody is rung for a caller who left")
	var recorded bool
	for _, en := range info.Timeline {
		recorded = recorded || en.What == "record: message"
	}
	assert.True(t, recorded, "the IVR records the voicemail after the queue")
	assertVoicemailStored(t, e, info, "sales & marketing", "please call me back")
}

// voicemailsListed asks the bridge's /voicemails with the operator token.
func voicemailsListed(t *testing.T, e *e2e, token string) (int, []caller.Voicemail) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.env.BridgeURL+"/voicemails", nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out struct {
		Voicemails []caller.Voicemail `json:"voicemails"`
	}
	if resp.StatusCode == http.StatusOK {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	}
	return resp.StatusCode, out.Voicemails
}

func assertVoicemailStored(t *testing.T, e *e2e, info voice.CallInfo, department, transcript string) {
	t.Helper()
	var list []caller.Voicemail
	e.eventually(func() bool {
		var status int
		status, list = voicemailsListed(t, e, "op-secret-0123456789")
		return status == http.StatusOK && len(list) == 1 && list[0].Transcription != ""
	}, "the voicemail and its transcription reach the bridge")
	v := list[0]
	assert.Equal(t, info.Sid, v.CallSID)
	assert.Equal(t, info.From, v.From, "the caller's number, URL-encoded by Studio and decoded by the bridge")
	assert.Equal(t, info.To, v.To)
	assert.Equal(t, department, v.Department)
	assert.Equal(t, 8, v.DurationSeconds)
	assert.Regexp(t, `/Recordings/RE[0-9a-f]{32}$`, v.RecordingURL)
	assert.Equal(t, transcript, v.Transcription)
	status, _ := voicemailsListed(t, e, "")
	assert.Equal(t, http.StatusUnauthorized, status, "the list needs the operator token")
	status, _ = voicemailsListed(t, e, "wrong")
	assert.Equal(t, http.StatusUnauthorized, status)
}

// hoursSpec is callerSpec with opening hours in UTC: weekly as given, and closed dates.
func hoursSpec(weekly string, closed ...string) string {
	dates := ""
	if len(closed) > 0 {
		dates = `    closed_dates: ["` + strings.Join(closed, `", "`) + `"]
`
	}
	return strings.Replace(callerSpec, `  enqueue:
    timeout: 3600
`, `  hours:
    time_zone: UTC
    weekly:
`+weekly+dates+`    closed_message: We are closed. Please leave a message after the tone.
  enqueue:
    timeout: 3600
`, 1)
}

// Outside the opening hours (today is a closed date) the caller hears the closed message and
// leaves a voicemail, and no task is ever created; inside them the call goes through the queue.
func TestE2EOutsideHoursNoTaskIsCreated(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	closed := []string{now.AddDate(0, 0, -1).Format(time.DateOnly), now.Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly)}
	e := newE2EWithSpec(t, hoursSpec("      - {days: mon-sun, open: \"00:00\", close: \"24:00\"}\n", closed...), map[string]string{"OPERATOR_TOKEN": "op-secret-0123456789"})
	e.setAgents(map[string]voice.Persona{"Alice": human()})
	info := e.ended(e.call(voice.Human(0, 0).WithMessage(8 * time.Second).WithTranscript("closed already?")))

	assert.Empty(t, info.TaskSid, "no task for a call outside the hours")
	assert.Empty(t, e.env.Sandbox.TaskRouter().Tasks(), "TaskRouter never saw the call")
	var said []string
	for _, en := range info.Timeline {
		if en.What == "twiml: Say" {
			said = append(said, en.Detail["text"])
		}
	}
	assert.Equal(t, []string{"We are closed. Please leave a message after the tone."}, said, "the closed message, not the greeting")
	assertVoicemailStored(t, e, info, "general", "closed already?")
	assert.Empty(t, e.legs("Alice"), "no agent is rung")
}

func TestE2EInsideHoursTheCallIsQueued(t *testing.T) {
	t.Parallel()
	e := newE2EWithSpec(t, hoursSpec("      - {days: mon-sun, open: \"00:00\", close: \"24:00\"}\n"), nil)
	e.setAgents(map[string]voice.Persona{"Alice": human()})
	info := e.ended(e.call(voice.Human(0, 0)))
	e.bridgedTo(info, "Alice")
	assert.NotEmpty(t, info.TaskSid)
}

// With RECORD_CALLS the greeting announces the recording, the dequeue records the bridged
// conversation on two channels, and the recording is stored with the reservation and listed
// under its task; without it, neither.
func TestE2EBridgedCallIsRecorded(t *testing.T) {
	t.Parallel()
	for _, record := range []bool{true, false} {
		t.Run(map[bool]string{true: "RECORD_CALLS=true", false: "unset"}[record], func(t *testing.T) {
			t.Parallel()
			vars := map[string]string{"OPERATOR_TOKEN": "op-secret-0123456789"}
			if record {
				vars["RECORD_CALLS"] = "true"
			}
			e := newE2EWithSpec(t, e2eSpec, vars)
			e.setAgents(map[string]voice.Persona{"Alice": voice.Human(2*time.Second, 12*time.Second)})
			info := e.ended(e.call(voice.Human(0, 0)))
			leg := e.bridgedTo(info, "Alice")
			var greeting string
			for _, en := range info.Timeline {
				if en.What == "twiml: Say" && greeting == "" {
					greeting = en.Detail["text"]
				}
			}
			list := func() []caller.CallRecording {
				req, err := http.NewRequest(http.MethodGet, e.env.BridgeURL+"/tasks/"+info.TaskSid+"/recordings", nil)
				require.NoError(t, err)
				req.Header.Set("Authorization", "Bearer op-secret-0123456789")
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				var out struct {
					Recordings []caller.CallRecording `json:"recordings"`
				}
				require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
				return out.Recordings
			}
			if !record {
				assert.Equal(t, "Hello.", greeting)
				assert.Empty(t, list())
				return
			}
			assert.Equal(t, "Hello. This call will be recorded.", greeting)
			var recs []caller.CallRecording
			e.eventually(func() bool { recs = list(); return len(recs) == 1 }, "the recording reaches the bridge")
			rs, err := e.env.App.Store.TaskReservations(t.Context(), info.TaskSid)
			require.NoError(t, err)
			require.Len(t, rs, 1)
			r := recs[0]
			assert.Equal(t, rs[0].SID, r.ReservationSID, "stored with the reservation that bridged the call")
			assert.Equal(t, info.TaskSid, r.TaskSID)
			assert.Equal(t, leg.Sid, r.CallSID, "the agent leg's Dial made it")
			assert.Equal(t, 2, r.Channels, "one channel per leg")
			assert.InDelta(t, 12, r.DurationSeconds, 1, "the conversation")
			assert.Regexp(t, `/Recordings/RE[0-9a-f]{32}$`, r.RecordingURL)
		})
	}
}
