package studio

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/sandbox/internal/twilioapi"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// httpFlow looks the caller up over HTTP and greets them by the answer.
func httpFlow(method, target, contentType, body string) map[string]any {
	return callFlow("lookup",
		state("lookup", "make-http-request", map[string]any{
			"method": method, "url": target, "content_type": contentType, "body": body,
			"parameters": []any{map[string]any{"key": "caller", "value": "{{trigger.call.From}}"}},
		}, on("success", "tier"), on("failed", "failed")),
		state("tier", "split-based-on", map[string]any{"input": "{{widgets.lookup.parsed.tier}}"},
			on("noMatch", "hello"),
			map[string]any{"event": "match", "next": "vip", "conditions": []any{
				map[string]any{"friendly_name": "gold", "arguments": []any{"{{widgets.lookup.parsed.tier}}"}, "type": "equal_to", "value": "gold"},
			}}),
		state("vip", "say-play", map[string]any{"say": "Welcome back, {{widgets.lookup.parsed.name}}."}, on("audioComplete", "")),
		state("hello", "say-play", map[string]any{"say": "Hello."}, on("audioComplete", "")),
		state("failed", "say-play", map[string]any{"say": "Lookup failed with {{widgets.lookup.status_code | default: 'no answer'}}."}, on("audioComplete", "")),
	)
}

type seenRequest struct {
	method, query, contentType, body string
	// signed: X-Twilio-Signature is Twilio's for the request (URL as requested, form parameters).
	signed bool
}

func TestMakeHTTPRequest(t *testing.T) {
	var mu sync.Mutex
	var seen []seenRequest
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var form url.Values
		if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			form, _ = url.ParseQuery(string(body))
		}
		signed := r.Header.Get("X-Twilio-Signature") == twilioapi.Sign(sandboxtest.Token, "http://"+r.Host+r.URL.RequestURI(), form)
		if q := r.URL.Query().Get("bodySHA256"); q != "" {
			sum := sha256.Sum256(body)
			signed = signed && q == hex.EncodeToString(sum[:])
		}
		mu.Lock()
		seen = append(seen, seenRequest{r.Method, r.URL.RawQuery, r.Header.Get("Content-Type"), string(body), signed})
		mu.Unlock()
		switch r.URL.Path {
		case "/gold":
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			_ = json.NewEncoder(w).Encode(map[string]any{"tier": "gold", "name": "Ada"})
		case "/plain":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ok")
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer backend.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	cases := []struct {
		name        string
		def         map[string]any
		wantSay     string
		wantEvent   string
		wantRequest *seenRequest
	}{
		{
			name: "GET success with parsed JSON", def: httpFlow("GET", backend.URL+"/gold", "", ""),
			wantSay: "Welcome back, Ada.", wantEvent: "success",
			wantRequest: &seenRequest{method: "GET", query: "caller=%2B15551230001", signed: true},
		},
		{
			name: "POST JSON body rendered with Liquid", def: httpFlow("POST", backend.URL+"/gold", "application/json;charset=utf-8", `{"from":"{{trigger.call.From}}","flow":"{{flow.channel.address}}"}`),
			wantSay: "Welcome back, Ada.", wantEvent: "success",
			wantRequest: &seenRequest{method: "POST", contentType: "application/json;charset=utf-8", body: `{"from":"+15551230001","flow":"+15559870000"}`,
				query: "bodySHA256=3935a82391cfe38df283f797cb6141af7afca0ea2c6cb2088cc26a520453c731", signed: true},
		},
		{
			name: "POST form parameters", def: httpFlow("POST", backend.URL+"/plain", "application/x-www-form-urlencoded;charset=utf-8", ""),
			wantSay: "Hello.", wantEvent: "success",
			wantRequest: &seenRequest{method: "POST", contentType: "application/x-www-form-urlencoded;charset=utf-8", body: "caller=%2B15551230001", signed: true},
		},
		{
			name: "server error is failed", def: httpFlow("GET", backend.URL+"/broken", "", ""),
			wantSay: "Lookup failed with 500.", wantEvent: "failed",
		},
		{
			name: "unreachable server is failed", def: httpFlow("GET", closed.URL+"/gold", "", ""),
			wantSay: "Lookup failed with no answer.", wantEvent: "failed",
		},
	}
	sb := newSandbox(t)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			seen = nil
			mu.Unlock()
			f := createFlow(t, sb, tc.name, "published", tc.def)
			callSid := "CAb000000000000000000000000000000" + string(rune('a'+i))
			doc := parseTwiML(t, sb.call(t, *f.WebhookUrl, callParams(callSid, caller, number)))
			require.Equal(t, []string{"Say", "Redirect"}, doc.names())
			assert.Equal(t, tc.wantSay, doc.Children[0].Text)
			ex, _ := sb.engine.ExecutionForCall(callSid)
			assert.Equal(t, [3]string{"lookup", tc.wantEvent, ex.Steps[1].To}, path(ex)[1])
			if tc.wantRequest != nil {
				mu.Lock()
				defer mu.Unlock()
				require.Len(t, seen, 1)
				assert.Equal(t, *tc.wantRequest, seen[0])
			}
		})
	}
}

func TestGatherListensForSpeechOnlyWhenTheFlowUsesIt(t *testing.T) {
	sb := newSandbox(t)
	def := callFlow("ask",
		state("ask", "gather-input-on-call", map[string]any{"play": "http://audio.example/ask.mp3", "speech_timeout": "auto", "stop_gather": false},
			on("keypress", ""), on("speech", "heard"), on("timeout", "")),
		state("heard", "say-play", map[string]any{"say": "You said {{widgets.ask.SpeechResult | downcase}}."}, on("audioComplete", "")),
	)
	f := createFlow(t, sb, "speech", "published", def)
	const callSid = "CAc0000000000000000000000000000001"
	doc := parseTwiML(t, sb.call(t, *f.WebhookUrl, callParams(callSid, caller, number)))
	g := doc.Children[0]
	assert.Equal(t, "dtmf speech", g.attr("input"))
	assert.Equal(t, "auto", g.attr("speechTimeout"))
	assert.Equal(t, "", g.attr("finishOnKey"), "stop_gather false: no finish key")
	require.Equal(t, []string{"Play"}, g.names())
	assert.Equal(t, "http://audio.example/ask.mp3", g.Children[0].Text)

	heard := parseTwiML(t, sb.call(t, g.attr("action"), callParams(callSid, caller, number, "SpeechResult", "Sales Please", "Confidence", "0.9")))
	assert.Equal(t, "You said sales please.", heard.Children[0].Text)
}

func TestEnqueueIntoANamedQueue(t *testing.T) {
	sb := newSandbox(t)
	def := callFlow("q",
		state("q", "enqueue-call", map[string]any{"queue_name": "support"}, on("callComplete", "")),
	)
	f := createFlow(t, sb, "queue", "published", def)
	doc := parseTwiML(t, sb.call(t, *f.WebhookUrl, callParams("CAd0000000000000000000000000000001", caller, number)))
	require.Equal(t, []string{"Enqueue"}, doc.names())
	assert.Equal(t, "support", doc.Children[0].Text)
	assert.Empty(t, doc.Children[0].attr("workflowSid"))
	assert.Empty(t, doc.Children[0].names())
}

func TestWebhookByGET(t *testing.T) {
	sb := newSandbox(t)
	f := createFlow(t, sb, "hello", "published", sayFlow("Hi {{trigger.call.From}}"))
	resp, err := sb.webhooks.Send(t.Context(), http.MethodGet, *f.WebhookUrl, callParams("CAe0000000000000000000000000000001", caller, number))
	require.NoError(t, err)
	doc := parseTwiML(t, resp)
	assert.Equal(t, "Hi "+caller, doc.Children[0].Text)
}

func TestWebhookRejectsRequestsItCannotServe(t *testing.T) {
	sb := newSandbox(t)
	f := createFlow(t, sb, "hello", "published", sayFlow("Hi"))
	cases := []struct {
		name   string
		url    string
		params []string
		status int
	}{
		{"no CallSid", *f.WebhookUrl, []string{"CallSid", ""}, http.StatusBadRequest},
		{"unknown flow", sb.server.URL + "/v1/Accounts/" + sandboxtest.Account + "/Flows/FW00000000000000000000000000000000", nil, http.StatusNotFound},
		{"other account", sb.server.URL + "/v1/Accounts/AC00000000000000000000000000000000/Flows/" + *f.Sid, nil, http.StatusNotFound},
		{"unknown execution", *f.WebhookUrl + "/Executions/FN00000000000000000000000000000000/Steps/FT00000000000000000000000000000000", nil, http.StatusNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := sb.call(t, tc.url, callParams("CAf0000000000000000000000000000001", caller, number, tc.params...))
			assert.Equal(t, tc.status, resp.Status, string(resp.Body))
		})
	}
}
