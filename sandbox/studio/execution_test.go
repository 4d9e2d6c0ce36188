package studio

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	studiov2 "github.com/twilio/twilio-go/rest/studio/v2"

	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/sandbox/internal/twilioapi"
)

const (
	testWorkflow = "WW0123456789abcdef0123456789abcdef"
	caller       = "+15551230001"
	number       = "+15559870000"
)

func state(name, typ string, props map[string]any, transitions ...any) map[string]any {
	if props == nil {
		props = map[string]any{}
	}
	props["offset"] = map[string]any{"x": 0, "y": 0}
	return map[string]any{"name": name, "type": typ, "properties": props, "transitions": transitions}
}

func on(event, next string) map[string]any { return map[string]any{"event": event, "next": next} }

func match(next, typ, value string) map[string]any {
	return map[string]any{"event": "match", "next": next, "conditions": []any{
		map[string]any{"friendly_name": "If value " + typ + " " + value, "arguments": []any{"{{widgets.menu.Digits}}"}, "type": typ, "value": value},
	}}
}

// ivrFlow is the IVR of the acceptance scenario: greet, ask for a digit, route sales to the
// workflow with task attributes built from Liquid, and take a voicemail when the caller leaves
// the queue.
func ivrFlow() map[string]any {
	return map[string]any{
		"description": "IVR", "initial_state": "Trigger", "flags": map[string]any{"allow_concurrent_calls": true},
		"states": []any{
			state("Trigger", "trigger", nil, on("incomingCall", "greeting"), on("incomingMessage", "")),
			state("greeting", "say-play", map[string]any{"say": "Welcome to Acme.", "voice": "Polly.Joanna", "loop": 1},
				on("audioComplete", "menu")),
			state("menu", "gather-input-on-call", map[string]any{
				"say": "Press 1 for support or 2 for sales.", "number_of_digits": 1, "timeout": 5,
				"stop_gather": true, "finish_on_key": "#",
			}, on("keypress", "route"), on("timeout", "goodbye")),
			state("route", "split-based-on", map[string]any{"input": "{{widgets.menu.Digits}}"},
				on("noMatch", "menu"),
				match("support", "equal_to", "1"),
				match("sales", "matches_any_of", "2,3")),
			state("support", "say-play", map[string]any{"say": "Support is closed."}, on("audioComplete", "")),
			state("sales", "enqueue-call", map[string]any{
				"workflow_sid":    testWorkflow,
				"task_attributes": `{"department":"sales","from":"{{trigger.call.From}}","digits":"{{widgets.menu.Digits}}","flow":"{{flow.flow_sid}}"}`,
				"priority":        5, "timeout": 300,
				"wait_url": "http://hold.example/music", "wait_url_method": "GET",
			}, on("callComplete", "after_queue"), on("failedToEnqueue", "voicemail"), on("callFailure", "sorry")),
			state("after_queue", "split-based-on", map[string]any{"input": "{{widgets.sales.QueueResult}}"},
				on("noMatch", ""),
				map[string]any{"event": "match", "next": "voicemail", "conditions": []any{
					map[string]any{"friendly_name": "left", "arguments": []any{"{{widgets.sales.QueueResult}}"}, "type": "equal_to", "value": "leave"},
				}}),
			state("voicemail", "record-voicemail", map[string]any{"max_length": 120, "timeout": 5, "play_beep": "true"},
				on("recordingComplete", "thanks"), on("noAudio", ""), on("hangup", "")),
			state("thanks", "say-play", map[string]any{"say": "Thanks {{trigger.call.From}}, we got your message."}, on("audioComplete", "")),
			state("sorry", "say-play", map[string]any{"say": "Sorry, something went wrong."}, on("audioComplete", "")),
			state("goodbye", "say-play", map[string]any{"say": "Goodbye."}, on("audioComplete", "")),
		},
	}
}

// path is (from, event, to) of each step.
func path(ex Execution) [][3]string {
	out := make([][3]string, 0, len(ex.Steps))
	for _, s := range ex.Steps {
		out = append(out, [3]string{s.From, s.Event, s.To})
	}
	return out
}

// callFlow is a flow whose trigger sends incoming calls to the widget first, one of states.
func callFlow(first string, states ...any) map[string]any {
	return map[string]any{"initial_state": "Trigger", "states": append([]any{
		state("Trigger", "trigger", nil, on("incomingCall", first)),
	}, states...)}
}

// ivrToSales is the path of an IVR call that pressed 2: greeting, menu, then the sales queue.
var ivrToSales = [][3]string{
	{"Trigger", "incomingCall", "greeting"},
	{"greeting", "audioComplete", "menu"},
	{"menu", "keypress", "route"},
	{"route", "match", "sales"},
}

// timeline is what the recorder shows of an execution that took path: its start, one
// "from --event--> to" entry a step, and its end if it ended.
func timeline(path [][3]string, ended bool) []string {
	out := []string{"execution started"}
	for _, s := range path {
		out = append(out, s[0]+" --"+s[1]+"--> "+s[2])
	}
	if ended {
		out = append(out, "execution ended")
	}
	return out
}

// newIVRSandbox is a sandbox with ivrFlow created and published.
func newIVRSandbox(t *testing.T) (*sandbox, *studiov2.StudioV2Flow) {
	t.Helper()
	sb := newSandbox(t)
	return sb, createFlow(t, sb, "IVR", "published", ivrFlow())
}

// walkToQueue runs a call from the webhook to the Enqueue and returns the Enqueue's TwiML.
func walkToQueue(t *testing.T, sb *sandbox, webhook, callSid string) node {
	t.Helper()
	greet := parseTwiML(t, sb.call(t, webhook, callParams(callSid, caller, number)))
	require.Equal(t, []string{"Say", "Redirect"}, greet.names())
	menu := parseTwiML(t, sb.call(t, greet.Children[1].Text, callParams(callSid, caller, number)))
	require.Equal(t, []string{"Gather", "Redirect"}, menu.names())
	queue := parseTwiML(t, sb.call(t, menu.Children[0].attr("action"), callParams(callSid, caller, number, "Digits", "2")))
	require.Equal(t, []string{"Enqueue"}, queue.names())
	return queue.Children[0]
}

func TestIVRFlowFromGreetingToQueue(t *testing.T) {
	sb, f := newIVRSandbox(t)
	webhook := *f.WebhookUrl
	const callSid = "CA00000000000000000000000000000001"

	greet := parseTwiML(t, sb.call(t, webhook, callParams(callSid, caller, number)))
	require.Equal(t, []string{"Say", "Redirect"}, greet.names())
	assert.Equal(t, "Welcome to Acme.", greet.Children[0].Text)
	assert.Equal(t, "Polly.Joanna", greet.Children[0].attr("voice"))
	assert.Equal(t, "1", greet.Children[0].attr("loop"))
	assert.Equal(t, "POST", greet.Children[1].attr("method"))

	menu := parseTwiML(t, sb.call(t, greet.Children[1].Text, callParams(callSid, caller, number)))
	require.Equal(t, []string{"Gather", "Redirect"}, menu.names())
	g := menu.Children[0]
	assert.Equal(t, "dtmf", g.attr("input"), "no speech transition: digits only")
	assert.Equal(t, "1", g.attr("numDigits"))
	assert.Equal(t, "5", g.attr("timeout"))
	assert.Equal(t, "#", g.attr("finishOnKey"))
	assert.Equal(t, g.attr("action"), menu.Children[1].Text, "no input falls through to the same continuation")
	require.Equal(t, []string{"Say"}, g.names())
	assert.Equal(t, "Press 1 for support or 2 for sales.", g.Children[0].Text)

	queue := parseTwiML(t, sb.call(t, g.attr("action"), callParams(callSid, caller, number, "Digits", "2")))
	require.Equal(t, []string{"Enqueue"}, queue.names())
	enq := queue.Children[0]
	assert.Equal(t, testWorkflow, enq.attr("workflowSid"))
	assert.Equal(t, "http://hold.example/music", enq.attr("waitUrl"))
	assert.Equal(t, "GET", enq.attr("waitUrlMethod"))
	assert.NotEmpty(t, enq.attr("action"))
	require.Equal(t, []string{"Task"}, enq.names())
	task := enq.Children[0]
	assert.Equal(t, "5", task.attr("priority"))
	assert.Equal(t, "300", task.attr("timeout"))
	var attrs map[string]any
	require.NoError(t, json.Unmarshal([]byte(task.Text), &attrs), task.Text)
	assert.Equal(t, map[string]any{"department": "sales", "from": caller, "digits": "2", "flow": *f.Sid}, attrs)

	ex, ok := sb.engine.ExecutionForCall(callSid)
	require.True(t, ok)
	assert.Equal(t, "active", ex.Status)
	assert.Equal(t, "sales", ex.Waiting)
	assert.Equal(t, ivrToSales, path(ex))
	assert.Equal(t, "2", ex.Steps[2].Context["Digits"], "the step keeps the gather widget's variables")

	entries := sb.recorder.Entries(ex.Sid)
	var whats []string
	for _, e := range entries {
		assert.Equal(t, "flow", e.Kind)
		assert.Equal(t, callSid, e.Detail["call"])
		whats = append(whats, e.What)
	}
	assert.Equal(t, timeline(ivrToSales, false), whats)
	assert.Len(t, sb.recorder.Entries(callSid), len(entries), "entries are found by call SID too")
}

func TestEnqueueOutcomes(t *testing.T) {
	cases := []struct {
		queueResult string
		wantVerbs   []string
		wantTail    [][3]string
	}{
		{"hangup", []string{"Hangup"}, [][3]string{{"sales", "callComplete", "after_queue"}, {"after_queue", "noMatch", "Ended"}}},
		{"bridged", []string{"Hangup"}, [][3]string{{"sales", "callComplete", "after_queue"}, {"after_queue", "noMatch", "Ended"}}},
		{"leave", []string{"Record", "Redirect"}, [][3]string{{"sales", "callComplete", "after_queue"}, {"after_queue", "match", "voicemail"}}},
		{"redirected", []string{"Hangup"}, [][3]string{{"sales", "callComplete", "after_queue"}, {"after_queue", "noMatch", "Ended"}}},
		{"queue-full", []string{"Record", "Redirect"}, [][3]string{{"sales", "failedToEnqueue", "voicemail"}}},
		{"system-error", []string{"Say", "Redirect"}, [][3]string{{"sales", "callFailure", "sorry"}}},
		{"error", []string{"Say", "Redirect"}, [][3]string{{"sales", "callFailure", "sorry"}}},
	}
	sb, f := newIVRSandbox(t)
	for i, tc := range cases {
		t.Run(tc.queueResult, func(t *testing.T) {
			callSid := "CA1000000000000000000000000000000" + string(rune('a'+i))
			enq := walkToQueue(t, sb, *f.WebhookUrl, callSid)
			doc := parseTwiML(t, sb.call(t, enq.attr("action"), callParams(callSid, caller, number, "QueueResult", tc.queueResult, "QueueTime", "42")))
			assert.Equal(t, tc.wantVerbs, doc.names())
			ex, ok := sb.engine.ExecutionForCall(callSid)
			require.True(t, ok)
			steps := path(ex)
			assert.Equal(t, tc.wantTail, steps[4:])
			assert.Equal(t, tc.queueResult, ex.Context["widgets"].(map[string]any)["sales"].(map[string]any)["QueueResult"])
			if tc.wantVerbs[0] == "Hangup" {
				assert.Equal(t, "ended", ex.Status)
			}
		})
	}
}

func TestVoicemailAfterLeavingTheQueue(t *testing.T) {
	cases := []struct {
		name      string
		params    []string
		wantVerbs []string
		wantEvent string
	}{
		{"recording complete", []string{"RecordingUrl", "http://rec.example/RE1", "RecordingDuration", "7", "RecordingSid", "RE00000000000000000000000000000001"}, []string{"Say", "Redirect"}, "recordingComplete"},
		{"no audio", nil, []string{"Hangup"}, "noAudio"},
		{"caller hung up", []string{"CallStatus", "completed", "RecordingUrl", "http://rec.example/RE2"}, []string{"Hangup"}, "hangup"},
	}
	sb, f := newIVRSandbox(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			callSid := "CA2000000000000000000000000000000" + string(rune('a'+i))
			enq := walkToQueue(t, sb, *f.WebhookUrl, callSid)
			rec := parseTwiML(t, sb.call(t, enq.attr("action"), callParams(callSid, caller, number, "QueueResult", "leave")))
			require.Equal(t, []string{"Record", "Redirect"}, rec.names())
			r := rec.Children[0]
			assert.Equal(t, "120", r.attr("maxLength"))
			assert.Equal(t, "5", r.attr("timeout"))
			assert.Equal(t, "true", r.attr("playBeep"))
			assert.Equal(t, r.attr("action"), rec.Children[1].Text)

			doc := parseTwiML(t, sb.call(t, r.attr("action"), callParams(callSid, caller, number, tc.params...)))
			require.Equal(t, tc.wantVerbs, doc.names())
			ex, _ := sb.engine.ExecutionForCall(callSid)
			last := ex.Steps[len(ex.Steps)-1]
			assert.Equal(t, "voicemail", last.From)
			assert.Equal(t, tc.wantEvent, last.Event)
			if tc.wantEvent != "recordingComplete" {
				assert.Equal(t, "ended", ex.Status)
				return
			}
			assert.Equal(t, "Thanks "+caller+", we got your message.", doc.Children[0].Text)
			end := parseTwiML(t, sb.call(t, doc.Children[1].Text, callParams(callSid, caller, number)))
			assert.Equal(t, []string{"Hangup"}, end.names())
			ex, _ = sb.engine.ExecutionForCall(callSid)
			assert.Equal(t, "ended", ex.Status)
			want := slices.Concat(ivrToSales, [][3]string{
				{"sales", "callComplete", "after_queue"},
				{"after_queue", "match", "voicemail"},
				{"voicemail", "recordingComplete", "thanks"},
				{"thanks", "audioComplete", "Ended"},
			})
			assert.Equal(t, want, path(ex))
			assert.Equal(t, "http://rec.example/RE1", ex.Steps[6].Context["RecordingUrl"])
			var whats []string
			for _, e := range sb.recorder.Entries(ex.Sid) {
				whats = append(whats, e.What)
			}
			assert.Equal(t, timeline(want, true), whats)
		})
	}
}

func TestGatherTimeoutAndNoMatch(t *testing.T) {
	sb, f := newIVRSandbox(t)
	const callSid = "CA30000000000000000000000000000001"
	greet := parseTwiML(t, sb.call(t, *f.WebhookUrl, callParams(callSid, caller, number)))
	menu := parseTwiML(t, sb.call(t, greet.Children[1].Text, callParams(callSid, caller, number)))

	again := parseTwiML(t, sb.call(t, menu.Children[0].attr("action"), callParams(callSid, caller, number, "Digits", "9")))
	require.Equal(t, []string{"Gather", "Redirect"}, again.names(), "no match leads back to the menu")
	assert.NotEqual(t, menu.Children[0].attr("action"), again.Children[0].attr("action"), "each visit has its own continuation")

	bye := parseTwiML(t, sb.call(t, again.Children[1].Text, callParams(callSid, caller, number)))
	require.Equal(t, []string{"Say", "Redirect"}, bye.names())
	assert.Equal(t, "Goodbye.", bye.Children[0].Text)

	ex, _ := sb.engine.ExecutionForCall(callSid)
	assert.Equal(t, slices.Concat(ivrToSales[:3], [][3]string{
		{"route", "noMatch", "menu"},
		{"menu", "timeout", "goodbye"},
	}), path(ex))
}

func TestWebhookRetriesGetTheSameAnswer(t *testing.T) {
	sb, f := newIVRSandbox(t)
	const callSid = "CA40000000000000000000000000000001"
	first := sb.call(t, *f.WebhookUrl, callParams(callSid, caller, number))
	again := sb.call(t, *f.WebhookUrl, callParams(callSid, caller, number))
	assert.Equal(t, string(first.Body), string(again.Body))
	greet := parseTwiML(t, first)
	menu1 := sb.call(t, greet.Children[1].Text, callParams(callSid, caller, number))
	menu2 := sb.call(t, greet.Children[1].Text, callParams(callSid, caller, number))
	assert.Equal(t, string(menu1.Body), string(menu2.Body))

	assert.Len(t, sb.engine.Executions(*f.Sid), 1, "one execution per call")
	ex, _ := sb.engine.ExecutionForCall(callSid)
	assert.Len(t, ex.Steps, 2)
}

func TestBadSignatureIsRefusedAndChangesNothing(t *testing.T) {
	sb, f := newIVRSandbox(t)
	const callSid = "CA50000000000000000000000000000001"
	send := func(t *testing.T, rawURL, signature string) int {
		form := callParams(callSid, caller, number)
		req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(form.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if signature != "" {
			req.Header.Set("X-Twilio-Signature", signature)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	cases := []struct{ name, signature string }{
		{"missing", ""},
		{"wrong token", twilioapi.Sign("other-token", *f.WebhookUrl, callParams(callSid, caller, number))},
		{"other URL", twilioapi.Sign(sandboxtest.Token, *f.WebhookUrl+"?x=1", callParams(callSid, caller, number))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, http.StatusForbidden, send(t, *f.WebhookUrl, tc.signature))
		})
	}
	assert.Empty(t, sb.engine.Executions(*f.Sid))
	assert.Empty(t, sb.recorder.Entries(""))

	// A continuation with a bad signature does not move the execution either.
	greet := parseTwiML(t, sb.call(t, *f.WebhookUrl, callParams(callSid, caller, number)))
	assert.Equal(t, http.StatusForbidden, send(t, greet.Children[1].Text, "bogus"))
	ex, _ := sb.engine.ExecutionForCall(callSid)
	assert.Len(t, ex.Steps, 1)
	assert.Equal(t, "greeting", ex.Waiting)
}

func TestFlowsRunTheirPublishedRevision(t *testing.T) {
	sb := newSandbox(t)
	f := createFlow(t, sb, "hello", "published", sayFlow("Version one"))
	_, err := sb.client.StudioV2.UpdateFlow(*f.Sid, (&studiov2.UpdateFlowParams{}).SetStatus("draft").SetDefinition(sayFlow("Draft two")))
	require.NoError(t, err)

	doc := parseTwiML(t, sb.call(t, *f.WebhookUrl, callParams("CA60000000000000000000000000000001", caller, number)))
	assert.Equal(t, "Version one", doc.Children[0].Text, "a draft does not change what callers hear")

	_, err = sb.client.StudioV2.UpdateFlow(*f.Sid, (&studiov2.UpdateFlowParams{}).SetStatus("published"))
	require.NoError(t, err)
	doc = parseTwiML(t, sb.call(t, *f.WebhookUrl, callParams("CA60000000000000000000000000000002", caller, number)))
	assert.Equal(t, "Draft two", doc.Children[0].Text)
	ex, _ := sb.engine.ExecutionForCall("CA60000000000000000000000000000002")
	assert.Equal(t, 3, ex.Revision)

	draft := createFlow(t, sb, "unpublished", "draft", sayFlow("never"))
	doc = parseTwiML(t, sb.call(t, *draft.WebhookUrl, callParams("CA60000000000000000000000000000003", caller, number)))
	assert.Equal(t, []string{"Say", "Hangup"}, doc.names())
	assert.Contains(t, doc.Children[0].Text, "application error")
	assert.Empty(t, sb.engine.Executions(*draft.Sid))
	assert.NotEmpty(t, sb.recorder.Entries("CA60000000000000000000000000000003"))
}

func TestUnsupportedWidgetFailsTheExecution(t *testing.T) {
	sb := newSandbox(t)
	def := callFlow("fn",
		state("fn", "run-function", map[string]any{"url": "https://fn.example"}, on("success", "")),
	)
	f := createFlow(t, sb, "fn", "published", def)
	const callSid = "CA70000000000000000000000000000001"
	doc := parseTwiML(t, sb.call(t, *f.WebhookUrl, callParams(callSid, caller, number)))
	assert.Equal(t, []string{"Say", "Hangup"}, doc.names())
	ex, ok := sb.engine.ExecutionForCall(callSid)
	require.True(t, ok)
	assert.Equal(t, "ended", ex.Status)
	assert.Contains(t, ex.Error, `widget "fn" (run-function)`)
	assert.Contains(t, ex.Error, "not supported by the sandbox")
	found := false
	for _, e := range sb.recorder.Entries(ex.Sid) {
		if e.Detail["widget"] == "fn" && e.Detail["type"] == "run-function" {
			found = true
		}
	}
	assert.True(t, found, "the error is on the timeline")
}

func TestLoopingFlowIsStopped(t *testing.T) {
	sb := newSandbox(t)
	def := callFlow("a",
		state("a", "set-variables", map[string]any{"variables": []any{map[string]any{"key": "n", "value": "1"}}}, on("next", "b")),
		state("b", "split-based-on", map[string]any{"input": "{{flow.variables.n}}"}, on("noMatch", "a")),
	)
	f := createFlow(t, sb, "loop", "published", def)
	doc := parseTwiML(t, sb.call(t, *f.WebhookUrl, callParams("CA80000000000000000000000000000001", caller, number)))
	assert.Equal(t, []string{"Say", "Hangup"}, doc.names())
	ex, _ := sb.engine.ExecutionForCall("CA80000000000000000000000000000001")
	assert.Contains(t, ex.Error, "loop")
	assert.Equal(t, "1", ex.Context["flow"].(map[string]any)["variables"].(map[string]any)["n"])
}

func TestExecutionsThroughTwilioGo(t *testing.T) {
	sb, f := newIVRSandbox(t)
	const callSid = "CA90000000000000000000000000000001"
	walkToQueue(t, sb, *f.WebhookUrl, callSid)

	list, err := sb.client.StudioV2.ListExecution(*f.Sid, nil)
	require.NoError(t, err)
	require.Len(t, list, 1)
	ex := list[0]
	assert.Equal(t, "active", *ex.Status)
	assert.Equal(t, caller, *ex.ContactChannelAddress)
	assert.Equal(t, callSid, *ex.InitiatedBy)
	assert.Equal(t, 1, *ex.FlowVersion)

	fetched, err := sb.client.StudioV2.FetchExecution(*f.Sid, *ex.Sid)
	require.NoError(t, err)
	ctx := (*fetched.Context).(map[string]any)
	assert.Equal(t, caller, ctx["trigger"].(map[string]any)["call"].(map[string]any)["From"])

	execCtx, err := sb.client.StudioV2.FetchExecutionContext(*f.Sid, *ex.Sid)
	require.NoError(t, err)
	assert.Equal(t, "2", (*execCtx.Context).(map[string]any)["widgets"].(map[string]any)["menu"].(map[string]any)["Digits"])

	steps, err := sb.client.StudioV2.ListExecutionStep(*f.Sid, *ex.Sid, nil)
	require.NoError(t, err)
	require.Len(t, steps, 4)
	assert.Equal(t, "incomingCall", *steps[0].Name)
	assert.Equal(t, "Trigger", *steps[0].TransitionedFrom)
	assert.Equal(t, "greeting", *steps[0].TransitionedTo)
	step, err := sb.client.StudioV2.FetchExecutionStep(*f.Sid, *ex.Sid, *steps[2].Sid)
	require.NoError(t, err)
	assert.Equal(t, "keypress", *step.Name)
	assert.Equal(t, "2", (*step.Context).(map[string]any)["Digits"])

	_, err = sb.client.StudioV2.FetchExecution(*f.Sid, "FN00000000000000000000000000000000")
	assertTwilioError(t, err, http.StatusNotFound, 20404, "FN00000000000000000000000000000000")
	sb.assertContract(t)
}

func TestConcurrentCallsEachGetTheirOwnExecution(t *testing.T) {
	sb, f := newIVRSandbox(t)
	const calls = 20
	var wg sync.WaitGroup
	results := make([]node, calls)
	errs := make([]error, calls)
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			callSid := fmt.Sprintf("CA%032x", 0xc0ffee00+i)
			from := fmt.Sprintf("+1555000%04d", i)
			// require must not stop the test from another goroutine: collect, then assert.
			greet, err := sb.tryCall(*f.WebhookUrl, callParams(callSid, from, number))
			if err != nil {
				errs[i] = err
				return
			}
			menu, err := sb.tryCall(greet.Children[1].Text, callParams(callSid, from, number))
			if err != nil {
				errs[i] = err
				return
			}
			results[i], errs[i] = sb.tryCall(menu.Children[0].attr("action"), callParams(callSid, from, number, "Digits", "2"))
		}()
	}
	wg.Wait()
	for i, doc := range results {
		require.NoError(t, errs[i])
		require.Equal(t, []string{"Enqueue"}, doc.names())
		var attrs map[string]any
		require.NoError(t, json.Unmarshal([]byte(doc.Children[0].Children[0].Text), &attrs))
		assert.Equal(t, fmt.Sprintf("+1555000%04d", i), attrs["from"], "each call's attributes come from its own trigger")
	}
	assert.Len(t, sb.engine.Executions(*f.Sid), calls)
}

func TestEndAndDeleteExecutionsThroughTwilioGo(t *testing.T) {
	sb, f := newIVRSandbox(t)
	const callSid = "CAa0000000000000000000000000000001"
	greet := parseTwiML(t, sb.call(t, *f.WebhookUrl, callParams(callSid, caller, number)))
	ex, _ := sb.engine.ExecutionForCall(callSid)

	ended, err := sb.client.StudioV2.UpdateExecution(*f.Sid, ex.Sid, (&studiov2.UpdateExecutionParams{}).SetStatus("ended"))
	require.NoError(t, err)
	assert.Equal(t, "ended", *ended.Status)
	doc := parseTwiML(t, sb.call(t, greet.Children[1].Text, callParams(callSid, caller, number)))
	assert.Equal(t, []string{"Hangup"}, doc.names(), "a call in an ended execution is hung up")

	_, err = sb.client.StudioV2.UpdateExecution(*f.Sid, ex.Sid, (&studiov2.UpdateExecutionParams{}).SetStatus("active"))
	assertTwilioError(t, err, http.StatusBadRequest, 20001, "Status")

	require.NoError(t, sb.client.StudioV2.DeleteExecution(*f.Sid, ex.Sid))
	_, err = sb.client.StudioV2.FetchExecution(*f.Sid, ex.Sid)
	assertTwilioError(t, err, http.StatusNotFound, 20404, ex.Sid)
	_, ok := sb.engine.Execution(ex.Sid)
	assert.False(t, ok)
	sb.assertContract(t)
}

func TestUnknownRESTPathsAnswerTwilioErrors(t *testing.T) {
	sb := newSandbox(t)
	var body map[string]any
	assert.Equal(t, http.StatusNotFound, sandboxtest.GetJSON(t, sb.server.URL+"/v2/Nothing", &body))
	assert.EqualValues(t, 20404, body["code"])
}

func TestStatusCallbackOnTheWebhookEndsTheExecution(t *testing.T) {
	sb, f := newIVRSandbox(t)
	const callSid = "CAe1000000000000000000000000000001"
	greet := parseTwiML(t, sb.call(t, *f.WebhookUrl, callParams(callSid, caller, number)))
	parseTwiML(t, sb.call(t, greet.Children[1].Text, callParams(callSid, caller, number)))
	ex, _ := sb.engine.ExecutionForCall(callSid)
	require.Equal(t, "menu", ex.Waiting)

	doc := parseTwiML(t, sb.call(t, *f.WebhookUrl, callParams(callSid, caller, number, "CallStatus", "completed", "CallDuration", "12")))
	assert.Equal(t, []string{"Hangup"}, doc.names())
	ex, _ = sb.engine.ExecutionForCall(callSid)
	assert.Equal(t, "ended", ex.Status)
	assert.Empty(t, ex.Waiting)

	// A status callback for a call the flow never saw starts nothing.
	doc = parseTwiML(t, sb.call(t, *f.WebhookUrl, callParams("CAe1000000000000000000000000000002", caller, number, "CallStatus", "no-answer")))
	assert.Equal(t, []string{"Hangup"}, doc.names())
	assert.Len(t, sb.engine.Executions(*f.Sid), 1)
}
