package handlers_test

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/caller"
	"queuebridge/handlers"
	"queuebridge/internal/testkit"
	"queuebridge/sandbox/twiliosig"
)

// twimlNode is any TwiML element: its name, attributes, text and children.
type twimlNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr  `xml:",any,attr"`
	Text     string      `xml:",chardata"`
	Children []twimlNode `xml:",any"`
}

func (n twimlNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n twimlNode) names() []string {
	var out []string
	for _, c := range n.Children {
		out = append(out, c.XMLName.Local)
	}
	return out
}

func parseNode(t *testing.T, body string) twimlNode {
	t.Helper()
	var n twimlNode
	require.NoError(t, xml.Unmarshal([]byte(body), &n), body)
	require.Equal(t, "Response", n.XMLName.Local)
	return n
}

var waitSettings = caller.WaitSettings{AnnounceEvery: 30 * time.Second, MusicLength: caller.HoldMusicLength, VoicemailKey: "*", Voice: "Polly.Joanna"}

// waitPath is the wait URL's path and query as Twilio requests it (no fragment).
func waitPath(u string) string {
	u = strings.TrimPrefix(u, publicBase)
	base, _, _ := strings.Cut(u, "#")
	return base
}

func waitForm(call string, position, size, waited, avg int) url.Values {
	return url.Values{"CallSid": {call}, "AccountSid": {accountSID}, "CallStatus": {"in-progress"}, "From": {callerNumber},
		"To": {ourNumber}, "QueuePosition": {itoa(position)}, "CurrentQueueSize": {itoa(size)}, "QueueTime": {itoa(waited)},
		"AvgQueueTime": {itoa(avg)}, "QueueSid": {testkit.SID("QU")}, "MaxQueueSize": {"100"}}
}

func itoa(n int) string { return strconv.Itoa(n) }

// The wait TwiML: inside a <Gather> for the voicemail key, the caller's place and expected
// wait (the queue's average less what they waited), the key's prompt, and the bridge's hold
// music looped for about the announcement interval; the announcement follows the parameters.
func TestWaitTwiMLAnnouncesPlaceAndWait(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	urls := handlers.NewURLs(publicBase)
	call := testkit.SID("CA")
	status, body := h.post(waitPath(urls.Wait(waitSettings)), waitForm(call, 3, 4, 20, 200))
	require.Equal(t, http.StatusOK, status, body)
	doc := parseNode(t, body)
	require.Equal(t, []string{"Gather"}, doc.names())
	g := doc.Children[0]
	assert.Equal(t, "1", g.attr("numDigits"))
	assert.Equal(t, urls.WaitKey(waitSettings), g.attr("action"))
	require.Equal(t, []string{"Say", "Say", "Play"}, g.names())
	assert.Equal(t, "You are number 3 in line. Your expected wait is about 3 minutes.", g.Children[0].Text)
	assert.Equal(t, "Polly.Joanna", g.Children[0].attr("voice"))
	assert.Equal(t, "To leave a message instead of waiting, press star.", g.Children[1].Text)
	assert.Equal(t, publicBase+handlers.PathHoldMusic, g.Children[2].Text)
	assert.Equal(t, "3", g.Children[2].attr("loop"), "30 s of the 10 s music")

	_, body = h.post(waitPath(urls.Wait(waitSettings)), waitForm(call, 1, 1, 260, 200))
	g = parseNode(t, body).Children[0]
	assert.Equal(t, "You are next in line.", g.Children[0].Text, "no estimate once the caller waited past the average")

	noKey := waitSettings
	noKey.VoicemailKey, noKey.MusicURL, noKey.MusicLength = "", "https://music.example.com/jazz.mp3", 60*time.Second
	noKey.AnnounceEvery = 120 * time.Second
	_, body = h.post(waitPath(urls.Wait(noKey)), waitForm(call, 2, 2, 0, 0))
	doc = parseNode(t, body)
	require.Equal(t, []string{"Say", "Play"}, doc.names(), "no key: no Gather, no prompt")
	assert.Equal(t, "You are number 2 in line.", doc.Children[0].Text, "no estimate before anyone was served")
	assert.Equal(t, "https://music.example.com/jazz.mp3", doc.Children[1].Text)
	assert.Equal(t, "2", doc.Children[1].attr("loop"))
}

// The voicemail key cancels the caller's task (found by its call_sid) and leaves the queue;
// another key goes back to waiting and cancels nothing.
func TestWaitKeyCancelsTheTaskAndLeaves(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	urls := handlers.NewURLs(publicBase)
	call, task := testkit.SID("CA"), testkit.SID("WT")
	h.tw.Add("/v1/Workspaces/"+workspaceSID+"/Tasks", map[string]any{"sid": task, "assignment_status": "pending"})
	h.tw.Override("list_tasks", func(w http.ResponseWriter, r *http.Request) {
		list := []map[string]any{}
		if r.URL.Query().Get("EvaluateTaskAttributes") == `call_sid == "`+call+`"` {
			list = append(list, map[string]any{"sid": task, "assignment_status": "pending", "workspace_sid": workspaceSID})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"tasks": list, "meta": map[string]any{"key": "tasks", "page": 0, "page_size": 50}})
	})
	form := waitForm(call, 2, 2, 40, 0)
	form.Set("Digits", "5")
	status, body := h.post(waitPath(urls.WaitKey(waitSettings)), form)
	require.Equal(t, http.StatusOK, status, body)
	doc := parseNode(t, body)
	require.Equal(t, []string{"Redirect"}, doc.names())
	assert.Equal(t, urls.Wait(waitSettings), doc.Children[0].Text)
	assert.Empty(t, h.tw.Writes(), "another key changes nothing")

	form.Set("Digits", "*")
	status, body = h.post(waitPath(urls.WaitKey(waitSettings)), form)
	require.Equal(t, http.StatusOK, status, body)
	assert.Equal(t, []string{"Leave"}, parseNode(t, body).names())
	writes := h.tw.Requests("update_task")
	require.Len(t, writes, 1)
	assert.Contains(t, writes[0].Path, task)
	assert.Equal(t, "canceled", writes[0].Form.Get("AssignmentStatus"))
	assert.Equal(t, "caller chose voicemail", writes[0].Form.Get("Reason"))

	// TaskRouter failing: the caller still leaves the queue.
	h.tw.Fail("list_tasks", testkit.Status(500), 1)
	_, body = h.post(waitPath(urls.WaitKey(waitSettings)), form)
	assert.Equal(t, []string{"Leave"}, parseNode(t, body).names())
}

// Bad wait settings in the (signed) URL and bad parameters are 400s.
func TestWaitRefusesBadInput(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	call := testkit.SID("CA")
	for _, tc := range []struct{ target, param, value string }{
		{"/queue-wait?every=abc", "", ""},
		{"/queue-wait?every=2", "", ""},
		{"/queue-wait?key=12", "", ""},
		{"/queue-wait?every=30", "QueuePosition", "first"},
		{"/queue-wait/key?every=30&key=*", "CallSid", "nope"},
	} {
		form := waitForm(call, 1, 1, 0, 0)
		if tc.param != "" {
			form.Set(tc.param, tc.value)
		}
		status, body := h.post(tc.target, form)
		assert.Equal(t, http.StatusBadRequest, status, "%s %s=%s: %s", tc.target, tc.param, tc.value, body)
	}
}

// The caller side's signed routes refuse a missing, foreign or wrong signature, and act on the
// right one.
func TestCallerRoutesVerifySignatures(t *testing.T) {
	urls := handlers.NewURLs(publicBase)
	call := testkit.SID("CA")
	rec := testkit.SID("RE")
	for name, target := range map[string]string{
		"wait": waitPath(urls.Wait(waitSettings)), "wait key": waitPath(urls.WaitKey(waitSettings)),
		"voicemail recording":     waitPath(urls.VoicemailRecording("%2B1555", "%2B1500", "sales")),
		"voicemail transcription": waitPath(urls.VoicemailTranscription("%2B1555", "%2B1500", "sales")),
		"hours":                   waitPath(urls.Hours("UTC", "mon-sun 00:00-24:00", "")),
		"call recording":          waitPath(urls.CallRecording(testkit.SID("WR"), testkit.SID("WT"))),
		"sms status":              waitPath(urls.SMSStatus()),
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, withoutDispatcher())
			form := waitForm(call, 1, 1, 0, 0)
			form.Set("Digits", "*")
			for k, v := range voicemailForm(call, rec, "completed") {
				form[k] = v
			}
			form.Set("TranscriptionStatus", "completed")
			form.Set("MessageSid", testkit.SID("SM"))
			form.Set("MessageStatus", "delivered")
			good := twiliosig.Sign(authToken, publicBase+target, form)
			for _, bad := range []string{"", "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", twiliosig.Sign("another-token", publicBase+target, form),
				twiliosig.Sign(authToken, publicBase+target+"&every=60", form), good[:len(good)-1]} {
				status, _ := h.hooks.PostSigned(t, target, form, bad)
				assert.Equal(t, http.StatusForbidden, status)
			}
			assert.Empty(t, h.tw.Requests(), "a refused request asks nothing of Twilio")
			stored := func() int {
				list, err := h.db.ListVoicemails(t.Context(), 10)
				require.NoError(t, err)
				return len(list)
			}
			assert.Zero(t, stored(), "a refused request stores nothing")
			status, body := h.hooks.PostSigned(t, target, form, good)
			assert.True(t, status == http.StatusOK || status == http.StatusNoContent, "%d %s", status, body)
			if name == "voicemail recording" {
				assert.Equal(t, 1, stored(), "the signed request is stored")
			}
		})
	}
}

// The built-in hold music is a WAV file Twilio can play: 8 kHz, 8-bit PCM, mono, 10 s.
func TestHoldMusicIsServed(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	resp, err := http.Get(h.srv.URL + handlers.PathHoldMusic)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "audio/wav", resp.Header.Get("Content-Type"))
	wav := caller.HoldMusic()
	require.Greater(t, len(wav), 44)
	assert.Equal(t, "RIFF", string(wav[:4]))
	assert.Equal(t, "WAVE", string(wav[8:12]))
	assert.Equal(t, 44+8000*10, len(wav))
}

func voicemailForm(call, rec, status string) url.Values {
	return url.Values{"AccountSid": {accountSID}, "CallSid": {call}, "RecordingSid": {rec}, "RecordingStatus": {status},
		"RecordingUrl":      {"https://api.twilio.com/2010-04-01/Accounts/" + accountSID + "/Recordings/" + rec},
		"RecordingDuration": {"12"}, "RecordingChannels": {"1"}, "RecordingSource": {"RecordVerb"}}
}

// The voicemail's callbacks: a completed recording is stored with the caller (from the query
// Studio rendered), once however often Twilio delivers it, with its transcription whichever
// comes first; a recording that is not completed is acknowledged and not stored.
func TestVoicemailCallbacksStoreTheVoicemailOnce(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	urls := handlers.NewURLs(publicBase)
	recURL := waitPath(urls.VoicemailRecording("%2B15550100001", "%2B15005550006", "sales"))
	trURL := waitPath(urls.VoicemailTranscription("%2B15550100001", "%2B15005550006", "sales"))
	call, rec := testkit.SID("CA"), testkit.SID("RE")

	status, body := h.post(trURL, url.Values{"AccountSid": {accountSID}, "CallSid": {call}, "RecordingSid": {rec},
		"TranscriptionStatus": {"completed"}, "TranscriptionText": {"call me back"}})
	require.Equal(t, http.StatusNoContent, status, body)
	for range 3 {
		status, body = h.post(recURL, voicemailForm(call, rec, "completed"))
		require.Equal(t, http.StatusNoContent, status, body)
	}
	status, _ = h.post(recURL, voicemailForm(testkit.SID("CA"), testkit.SID("RE"), "absent"))
	require.Equal(t, http.StatusNoContent, status)

	list, err := h.db.ListVoicemails(t.Context(), 10)
	require.NoError(t, err)
	require.Len(t, list, 1, "stored once; the absent recording is not")
	v := list[0]
	assert.Equal(t, []string{rec, call, "+15550100001", "+15005550006", "sales", "call me back"},
		[]string{v.RecordingSID, v.CallSID, v.From, v.To, v.Department, v.Transcription})
	assert.Equal(t, 12*time.Second, v.Duration)
}

// /voicemails answers the operator token only (401 otherwise, and while OPERATOR_TOKEN is unset).
func TestVoicemailsNeedTheOperatorToken(t *testing.T) {
	get := func(h *harness, auth string) int {
		req, err := http.NewRequest(http.MethodGet, h.srv.URL+handlers.PathVoicemails+"?limit=5", nil)
		require.NoError(t, err)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	closed := newHarness(t, withoutDispatcher())
	assert.Equal(t, http.StatusUnauthorized, get(closed, "Bearer anything"), "closed while OPERATOR_TOKEN is unset")
	const token = "s3cret-operator-token"
	h := newHarness(t, withoutDispatcher(), withOperatorToken(token))
	for _, bad := range []string{"", "Bearer", "Bearer s3cret-operator-toke", "Bearer " + token + "2", "Basic " + token, token} {
		assert.Equal(t, http.StatusUnauthorized, get(h, bad), "Authorization %q", bad)
	}
	assert.Equal(t, http.StatusOK, get(h, "Bearer "+token))
}

// Malformed voicemail callbacks are 400s and store nothing.
func TestVoicemailCallbacksRefuseBadInput(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	urls := handlers.NewURLs(publicBase)
	recURL := waitPath(urls.VoicemailRecording("x", "y", ""))
	call, rec := testkit.SID("CA"), testkit.SID("RE")
	for _, tc := range []struct{ param, value string }{
		{"CallSid", "CA1"}, {"RecordingSid", "XX"}, {"RecordingStatus", ""}, {"RecordingDuration", "long"}, {"RecordingChannels", "3"},
	} {
		form := voicemailForm(call, rec, "completed")
		form.Set(tc.param, tc.value)
		status, body := h.post(recURL, form)
		assert.Equal(t, http.StatusBadRequest, status, "%s=%q: %s", tc.param, tc.value, body)
	}
	status, _ := h.post(waitPath(urls.VoicemailTranscription("x", "y", "")), url.Values{"RecordingSid": {rec}})
	assert.Equal(t, http.StatusBadRequest, status, "no TranscriptionStatus")
	list, err := h.db.ListVoicemails(t.Context(), 10)
	require.NoError(t, err)
	assert.Empty(t, list)
}

// /hours answers Studio's check: {"open": …} from the schedule in its signed query; a closed
// date overrides the weekly hours; a bad schedule is a 400.
func TestHoursAnswersOpenOrClosed(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	urls := handlers.NewURLs(publicBase)
	now := time.Now().UTC()
	days := []string{now.AddDate(0, 0, -1).Format(time.DateOnly), now.Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly)}
	form := url.Values{"CallSid": {testkit.SID("CA")}, "From": {callerNumber}, "To": {ourNumber}}
	for _, tc := range []struct {
		week, closed string
		open         bool
	}{
		{"mon-sun 00:00-24:00", "", true},
		{"mon-sun 00:00-24:00", strings.Join(days, ","), false},
		{"sat,sun 00:00-00:01", "", false},
	} {
		status, body := h.post(waitPath(urls.Hours("Pacific/Auckland", tc.week, tc.closed)), form)
		require.Equal(t, http.StatusOK, status, body)
		var got struct {
			Open      bool   `json:"open"`
			LocalTime string `json:"local_time"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &got))
		if tc.week == "sat,sun 00:00-00:01" {
			continue // open one minute a week: not worth racing the clock over
		}
		assert.Equal(t, tc.open, got.Open, "%+v", tc)
		assert.Contains(t, got.LocalTime, "+1", "the local time in the schedule's zone")
	}
	for _, bad := range []string{urls.Hours("Nowhere/Town", "mon 09:00-17:00", ""), urls.Hours("UTC", "mon 17:00-09:00", ""),
		urls.Hours("UTC", "mon 09:00-17:00", "tomorrow")} {
		status, body := h.post(waitPath(bad), form)
		assert.Equal(t, http.StatusBadRequest, status, body)
	}
	status, _ := h.hooks.PostSigned(t, waitPath(urls.Hours("UTC", "mon-sun 00:00-24:00", "")), form, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=")
	assert.Equal(t, http.StatusForbidden, status, "signed like every Twilio request")
}

// The bridged call's recording callback stores the recording once with its reservation and
// task (listed under the task); bad SIDs are 400s.
func TestCallRecordingCallbackStoresOnce(t *testing.T) {
	h := newHarness(t, withoutDispatcher())
	urls := handlers.NewURLs(publicBase)
	wr, wt, call, rec := testkit.SID("WR"), testkit.SID("WT"), testkit.SID("CA"), testkit.SID("RE")
	form := voicemailForm(call, rec, "completed")
	form.Set("RecordingChannels", "2")
	form.Set("RecordingSource", "DialVerb")
	for range 2 {
		status, body := h.post(waitPath(urls.CallRecording(wr, wt)), form)
		require.Equal(t, http.StatusNoContent, status, body)
	}
	list, err := h.db.TaskRecordings(t.Context(), wt)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, []any{rec, wr, wt, call, 2, 12}, []any{list[0].RecordingSID, list[0].ReservationSID, list[0].TaskSID, list[0].CallSID, list[0].Channels, list[0].DurationSeconds})
	for _, bad := range []string{"/recording-callback?reservation=WR1&task=" + wt, "/recording-callback?task=" + wt, "/recording-callback?reservation=" + wr + "&task=nope"} {
		status, _ := h.post(bad, form)
		assert.Equal(t, http.StatusBadRequest, status, bad)
	}
}
