package studio

import (
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"
	studiov2 "github.com/twilio/twilio-go/rest/studio/v2"

	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/sandbox/internal/twilioapi"
)

// sayFlow is the smallest runnable flow: the trigger leads to one say-play widget.
func sayFlow(text string) map[string]any {
	return map[string]any{
		"description":   "hello",
		"initial_state": "Trigger",
		"flags":         map[string]any{"allow_concurrent_calls": true},
		"states": []any{
			map[string]any{
				"name": "Trigger", "type": "trigger", "properties": map[string]any{"offset": map[string]any{"x": 0, "y": 0}},
				"transitions": []any{
					map[string]any{"event": "incomingMessage"},
					map[string]any{"event": "incomingCall", "next": "hello"},
					map[string]any{"event": "incomingRequest"},
				},
			},
			map[string]any{
				"name": "hello", "type": "say-play",
				"properties":  map[string]any{"say": text, "loop": 1, "offset": map[string]any{"x": 0, "y": 200}},
				"transitions": []any{map[string]any{"event": "audioComplete"}},
			},
		},
	}
}

func createFlow(t *testing.T, sb *sandbox, name, status string, def any) *studiov2.StudioV2Flow {
	t.Helper()
	f, err := sb.client.StudioV2.CreateFlow((&studiov2.CreateFlowParams{}).
		SetFriendlyName(name).SetStatus(status).SetDefinition(def).SetCommitMessage("first"))
	require.NoError(t, err)
	return f
}

func TestFlowLifecycleThroughTwilioGo(t *testing.T) {
	sb := newSandbox(t)

	created := createFlow(t, sb, "IVR", "published", sayFlow("Welcome"))
	require.NotNil(t, created.Sid)
	assert.Regexp(t, `^FW[0-9a-f]{32}$`, *created.Sid)
	assert.Equal(t, "IVR", *created.FriendlyName)
	assert.Equal(t, "published", *created.Status)
	assert.Equal(t, 1, created.Revision)
	assert.Equal(t, "first", *created.CommitMessage)
	assert.True(t, *created.Valid)
	assert.Equal(t, sb.server.URL+"/v1/Accounts/"+sandboxtest.Account+"/Flows/"+*created.Sid, *created.WebhookUrl)
	assert.Equal(t, sb.engine.WebhookURL(*created.Sid), *created.WebhookUrl)
	assert.Contains(t, *created.Links, "revisions")
	require.NotNil(t, created.DateCreated)
	assert.Equal(t, sb.clock.Now().UTC(), created.DateCreated.UTC())

	fetched, err := sb.client.StudioV2.FetchFlow(*created.Sid)
	require.NoError(t, err)
	def := (*fetched.Definition).(map[string]any)
	assert.Equal(t, "Trigger", def["initial_state"])
	assert.Len(t, def["states"], 2)

	second := createFlow(t, sb, "Other", "draft", sayFlow("Hi"))
	flows, err := sb.client.StudioV2.ListFlow((&studiov2.ListFlowParams{}).SetPageSize(1))
	require.NoError(t, err)
	require.Len(t, flows, 2, "twilio-go follows next_page_url across pages")
	assert.Equal(t, *created.Sid, *flows[0].Sid)
	assert.Equal(t, *second.Sid, *flows[1].Sid)
	for _, f := range flows {
		assert.Nil(t, f.Definition, "list items carry definition: null")
	}

	updated, err := sb.client.StudioV2.UpdateFlow(*created.Sid, (&studiov2.UpdateFlowParams{}).
		SetStatus("draft").SetFriendlyName("IVR v2").SetDefinition(sayFlow("Welcome back")).SetCommitMessage("reword"))
	require.NoError(t, err)
	assert.Equal(t, 2, updated.Revision)
	assert.Equal(t, "draft", *updated.Status)
	assert.Equal(t, "IVR v2", *updated.FriendlyName)
	assert.Equal(t, "reword", *updated.CommitMessage)

	published, err := sb.client.StudioV2.UpdateFlow(*created.Sid, (&studiov2.UpdateFlowParams{}).SetStatus("published"))
	require.NoError(t, err)
	assert.Equal(t, 3, published.Revision)
	assert.Equal(t, "published", *published.Status)
	assert.Equal(t, "IVR v2", *published.FriendlyName, "an update without FriendlyName keeps it")
	states := (*published.Definition).(map[string]any)["states"].([]any)
	assert.Equal(t, "Welcome back", states[1].(map[string]any)["properties"].(map[string]any)["say"])

	revisions, err := sb.client.StudioV2.ListFlowRevision(*created.Sid, nil)
	require.NoError(t, err)
	require.Len(t, revisions, 3)
	assert.Equal(t, []int{3, 2, 1}, []int{revisions[0].Revision, revisions[1].Revision, revisions[2].Revision})
	first, err := sb.client.StudioV2.FetchFlowRevision(*created.Sid, "1")
	require.NoError(t, err)
	assert.Equal(t, "IVR", *first.FriendlyName)
	assert.Equal(t, "published", *first.Status)
	latest, err := sb.client.StudioV2.FetchFlowRevision(*created.Sid, "LatestPublished")
	require.NoError(t, err)
	assert.Equal(t, 3, latest.Revision)

	valid, err := sb.client.StudioV2.UpdateFlowValidate((&studiov2.UpdateFlowValidateParams{}).
		SetFriendlyName("x").SetStatus("draft").SetDefinition(sayFlow("x")))
	require.NoError(t, err)
	assert.True(t, *valid.Valid)

	require.NoError(t, sb.client.StudioV2.DeleteFlow(*second.Sid))
	_, err = sb.client.StudioV2.FetchFlow(*second.Sid)
	assertTwilioError(t, err, http.StatusNotFound, 20404, *second.Sid)
	err = sb.client.StudioV2.DeleteFlow(*second.Sid)
	assertTwilioError(t, err, http.StatusNotFound, 20404, *second.Sid)
	_, err = sb.client.StudioV2.FetchFlowRevision(*created.Sid, "9")
	assertTwilioError(t, err, http.StatusNotFound, 20404, "9")

	sb.assertContract(t)
}

func assertTwilioError(t *testing.T, err error, status, code int, inMessage string) {
	t.Helper()
	var te *client.TwilioRestError
	require.True(t, errors.As(err, &te), "want a TwilioRestError, got %v", err)
	assert.Equal(t, status, te.Status)
	assert.Equal(t, code, te.Code)
	assert.Contains(t, te.Message, inMessage)
}

func TestInvalidDefinitionsAreRejectedWithTheProblemNamed(t *testing.T) {
	sb := newSandbox(t)
	trigger := func(next string) map[string]any {
		return map[string]any{"name": "Trigger", "type": "trigger", "properties": map[string]any{},
			"transitions": []any{map[string]any{"event": "incomingCall", "next": next}}}
	}
	flowOf := func(states ...any) map[string]any {
		return map[string]any{"initial_state": "Trigger", "states": states}
	}
	cases := []struct {
		name string
		def  any
		want string
	}{
		{"no states", map[string]any{"initial_state": "Trigger", "states": []any{}}, "states must be a non-empty array"},
		{"not an object", []any{1, 2}, "must be a JSON object"},
		{"wrong initial state", map[string]any{"initial_state": "Start", "states": []any{trigger("")}}, `initial_state must be "Trigger"`},
		{"no trigger", flowOf(map[string]any{"name": "Trigger", "type": "say-play", "properties": map[string]any{"say": "hi"}}), `no state of type "trigger"`},
		{"dangling transition", flowOf(trigger("nowhere")), `transition "incomingCall" points to unknown state "nowhere"`},
		{"unknown widget type", flowOf(trigger("x"), map[string]any{"name": "x", "type": "teleport", "properties": map[string]any{}}), `state "x" has unknown widget type "teleport"`},
		{"enqueue without workflow", flowOf(trigger("q"), map[string]any{"name": "q", "type": "enqueue-call", "properties": map[string]any{}}), `state "q" (enqueue-call) is missing required property workflow_sid or queue_name`},
		{"http without url", flowOf(trigger("h"), map[string]any{"name": "h", "type": "make-http-request", "properties": map[string]any{"method": "GET"}}), "missing required property url"},
		{"say-play without message", flowOf(trigger("s"), map[string]any{"name": "s", "type": "say-play", "properties": map[string]any{}}), "missing required property say or play"},
		{"unknown event", flowOf(trigger("s"), map[string]any{"name": "s", "type": "say-play", "properties": map[string]any{"say": "hi"},
			"transitions": []any{map[string]any{"event": "keypress", "next": "s"}}}), `unknown event "keypress"`},
		{"duplicate names", flowOf(trigger(""), map[string]any{"name": "Trigger", "type": "say-play", "properties": map[string]any{"say": "x"}}), "used twice"},
		{"bad number", flowOf(trigger("g"), map[string]any{"name": "g", "type": "gather-input-on-call", "properties": map[string]any{"timeout": "soon"}}), "property timeout must be an integer"},
		{"unknown condition", flowOf(trigger("sp"), map[string]any{"name": "sp", "type": "split-based-on", "properties": map[string]any{"input": "{{x}}"},
			"transitions": []any{map[string]any{"event": "match", "next": "sp", "conditions": []any{map[string]any{"friendly_name": "c", "arguments": []any{"{{x}}"}, "type": "smells_like", "value": "1"}}}}}), `unknown type "smells_like"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sb.client.StudioV2.CreateFlow((&studiov2.CreateFlowParams{}).
				SetFriendlyName("bad").SetStatus("published").SetDefinition(tc.def))
			assertTwilioError(t, err, http.StatusBadRequest, 81022, tc.want)
			assert.Contains(t, err.Error(), "Flow definition validation failed")
			var te *client.TwilioRestError
			require.True(t, errors.As(err, &te))
			problems, _ := te.Details["errors"].([]any)
			require.NotEmpty(t, problems, "details.errors lists the problems")
			first := problems[0].(map[string]any)
			assert.NotEmpty(t, first["message"])
			assert.Contains(t, first["property_path"], "#")
		})
	}

	t.Run("a definition passed as a string is named as such", func(t *testing.T) {
		_, err := sb.client.StudioV2.CreateFlow((&studiov2.CreateFlowParams{}).
			SetFriendlyName("bad").SetStatus("published").SetDefinition(`{"initial_state":"Trigger"}`))
		assertTwilioError(t, err, http.StatusBadRequest, 81022, "got a JSON string")
	})
	t.Run("property paths point at the problem", func(t *testing.T) {
		_, err := sb.client.StudioV2.CreateFlow((&studiov2.CreateFlowParams{}).
			SetFriendlyName("bad").SetStatus("published").SetDefinition(flowOf(trigger("nowhere"))))
		var te *client.TwilioRestError
		require.True(t, errors.As(err, &te))
		assert.Equal(t, []any{map[string]any{
			"message":       `state "Trigger" (trigger): transition "incomingCall" points to unknown state "nowhere"`,
			"property_path": "#/states/0/transitions/0/next",
		}}, te.Details["errors"])
	})
	t.Run("update with an invalid definition keeps the flow as it was", func(t *testing.T) {
		f := createFlow(t, sb, "ok", "published", sayFlow("hi"))
		_, err := sb.client.StudioV2.UpdateFlow(*f.Sid, (&studiov2.UpdateFlowParams{}).SetStatus("published").SetDefinition(flowOf(trigger("gone"))))
		assertTwilioError(t, err, http.StatusBadRequest, 81022, `unknown state "gone"`)
		again, err := sb.client.StudioV2.FetchFlow(*f.Sid)
		require.NoError(t, err)
		assert.Equal(t, 1, again.Revision)
	})
	// Twilio's Flow Validate page: it "returns {"valid":true} ... otherwise, if the definition
	// fails validation, the endpoint returns an error response": the same 81022.
	t.Run("validate answers the same error", func(t *testing.T) {
		_, err := sb.client.StudioV2.UpdateFlowValidate((&studiov2.UpdateFlowValidateParams{}).
			SetFriendlyName("x").SetStatus("draft").SetDefinition(flowOf(trigger("gone"))))
		assertTwilioError(t, err, http.StatusBadRequest, 81022, `unknown state "gone"`)
	})
	t.Run("missing and bad parameters", func(t *testing.T) {
		_, err := sb.client.StudioV2.CreateFlow((&studiov2.CreateFlowParams{}).SetStatus("published").SetDefinition(sayFlow("x")))
		assertTwilioError(t, err, http.StatusBadRequest, 20001, "FriendlyName")
		_, err = sb.client.StudioV2.CreateFlow((&studiov2.CreateFlowParams{}).SetFriendlyName("x").SetStatus("live").SetDefinition(sayFlow("x")))
		assertTwilioError(t, err, http.StatusBadRequest, 20001, "Status")
		_, err = sb.client.StudioV2.CreateFlow((&studiov2.CreateFlowParams{}).SetFriendlyName("x").SetStatus("draft"))
		assertTwilioError(t, err, http.StatusBadRequest, 20001, "Definition")
		_, err = sb.client.StudioV2.UpdateFlow("FW00000000000000000000000000000000", (&studiov2.UpdateFlowParams{}).SetStatus("draft"))
		assertTwilioError(t, err, http.StatusNotFound, 20404, "FW00000000000000000000000000000000")
	})
	t.Run("Twilio widgets the sandbox does not run are accepted", func(t *testing.T) {
		f := createFlow(t, sb, "fn", "published", flowOf(trigger("fn"), map[string]any{"name": "fn", "type": "run-function", "properties": map[string]any{"url": "https://x"}}))
		assert.Equal(t, 1, f.Revision)
	})
}

func TestRESTNeedsCredentials(t *testing.T) {
	sb := newSandbox(t)
	req, err := http.NewRequest(http.MethodGet, sb.server.URL+"/v2/Flows", nil)
	require.NoError(t, err)
	req.SetBasicAuth(sandboxtest.Account, "wrong")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
}

func TestWebhookURLIgnoresATrailingSlashInBaseURL(t *testing.T) {
	for _, base := range []string{"http://127.0.0.1:8080", "http://127.0.0.1:8080/"} {
		e := New(Config{BaseURL: func() string { return base }, Credentials: twilioapi.Credentials{AccountSid: sandboxtest.Account}})
		assert.Equal(t, "http://127.0.0.1:8080/v1/Accounts/"+sandboxtest.Account+"/Flows/FW1", e.WebhookURL("FW1"))
	}
}
