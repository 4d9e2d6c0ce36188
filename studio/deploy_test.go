package studio

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"

	"queuebridge/internal/testkit"
	"queuebridge/twiliogo"
)

const testAccount = testkit.Account

// studioClient is a twilio-go client, built as the bridge builds it, on the kit's fake Twilio,
// which answers like Studio v2 and records requests.
func studioClient(t *testing.T) (*testkit.Twilio, *twilio.RestClient) {
	t.Helper()
	tw := testkit.NewTwilio(t)
	rc, err := twiliogo.New(twiliogo.Credentials{AccountSID: testAccount, AuthToken: testkit.Token}, tw.URL, 10*time.Second)
	require.NoError(t, err)
	return tw, rc
}

// addFlow puts a published flow into the fake, as if deployed before the test.
func addFlow(tw *testkit.Twilio, sid, name, msg string) {
	tw.Add("/v2/Flows", map[string]any{"sid": sid, "friendly_name": name, "definition": nil, "status": "published",
		"revision": 2, "commit_message": msg, "valid": true, "errors": []any{}, "warnings": []any{},
		"webhook_url": "https://webhooks.twilio.com/v1/Accounts/" + testAccount + "/Flows/" + sid,
		"url":         "https://studio.twilio.com/v2/Flows/" + sid, "links": map[string]any{}})
}

func TestTwilioFlowsSendsTheDefinitionPublished(t *testing.T) {
	def, err := Render(exampleParams())
	require.NoError(t, err)
	tw, rc := studioClient(t)
	addFlow(tw, "FW0123456789abcdef0123456789abcdef", "other IVR", "x")

	got, changed, err := Deploy(context.Background(), NewTwilioFlows(rc), "queuebridge IVR", def)
	require.NoError(t, err)
	assert.True(t, changed)
	deployed := tw.Find("/v2/Flows", "friendly_name", "queuebridge IVR")
	require.Len(t, deployed, 1)
	sid := deployed[0]["sid"].(string)
	assert.Equal(t, sid, got.SID)
	assert.Equal(t, "https://webhooks.twilio.com/v1/Accounts/"+testAccount+"/Flows/"+sid, got.WebhookURL)

	reqs := tw.Requests()
	require.Len(t, reqs, 2)
	create := reqs[1]
	assert.Equal(t, "POST /v2/Flows", create.Method+" "+create.Path)
	assert.Equal(t, "queuebridge IVR", create.Form.Get("FriendlyName"))
	assert.Equal(t, "published", create.Form.Get("Status"))
	assert.Equal(t, CommitMessage(def), create.Form.Get("CommitMessage"))
	// The definition goes out as a JSON object, not as a JSON string holding one.
	assert.JSONEq(t, string(def), create.Form.Get("Definition"))
}

func TestTwilioFlowsUpdateAndErrors(t *testing.T) {
	def, err := Render(exampleParams())
	require.NoError(t, err)
	const sid = "FW0123456789abcdef0123456789abcdef"
	tw, rc := studioClient(t)
	addFlow(tw, sid, "queuebridge IVR", "x")
	tw.Fail("delete_flow", testkit.Code(400, 20001).WithMessage("Flow is in use"), 1)
	api := NewTwilioFlows(rc)
	got, err := api.UpdateFlow(context.Background(), sid, "queuebridge IVR", def, "m")
	require.NoError(t, err)
	assert.Equal(t, "m", got.CommitMessage)
	reqs := tw.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "published", reqs[0].Form.Get("Status"))
	assert.JSONEq(t, string(def), reqs[0].Form.Get("Definition"))

	err = api.DeleteFlow(context.Background(), sid)
	var twErr *client.TwilioRestError
	require.ErrorAs(t, err, &twErr)
	assert.Equal(t, 20001, twErr.Code)
	reqs = tw.Requests()
	require.Len(t, reqs, 2)
	assert.Equal(t, "DELETE /v2/Flows/"+sid, reqs[1].Method+" "+reqs[1].Path)
}

// fakeFlows is an in-memory FlowAPI that counts writes.
type fakeFlows struct {
	flows  []FlowInfo
	writes int
}

func (f *fakeFlows) ListFlows(context.Context) ([]FlowInfo, error) { return f.flows, nil }
func (f *fakeFlows) CreateFlow(_ context.Context, name string, _ json.RawMessage, msg string) (FlowInfo, error) {
	f.writes++
	fl := FlowInfo{SID: fmt.Sprintf("FW%032d", len(f.flows)+1), FriendlyName: name, Status: StatusPublished, CommitMessage: msg}
	f.flows = append(f.flows, fl)
	return fl, nil
}
func (f *fakeFlows) UpdateFlow(_ context.Context, sid, name string, _ json.RawMessage, msg string) (FlowInfo, error) {
	f.writes++
	for i := range f.flows {
		if f.flows[i].SID == sid {
			f.flows[i].CommitMessage, f.flows[i].Status, f.flows[i].FriendlyName = msg, StatusPublished, name
			return f.flows[i], nil
		}
	}
	return FlowInfo{}, fmt.Errorf("no flow %s", sid)
}
func (f *fakeFlows) DeleteFlow(context.Context, string) error { f.writes++; return nil }

func TestDeployCreatesThenLeavesAloneThenUpdates(t *testing.T) {
	ctx := context.Background()
	api := &fakeFlows{}
	def, err := Render(exampleParams())
	require.NoError(t, err)

	first, changed, err := Deploy(ctx, api, "IVR", def)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, 1, api.writes)

	second, changed, err := Deploy(ctx, api, "IVR", def)
	require.NoError(t, err)
	assert.False(t, changed)
	assert.Equal(t, first.SID, second.SID)
	assert.Equal(t, 1, api.writes, "an unchanged flow is not republished")

	p := exampleParams()
	p.Greeting = "Welcome back."
	def2, err := Render(p)
	require.NoError(t, err)
	third, changed, err := Deploy(ctx, api, "IVR", def2)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, first.SID, third.SID)
	assert.Equal(t, CommitMessage(def2), third.CommitMessage)
	assert.Len(t, api.flows, 1)

	api.flows = append(api.flows, FlowInfo{SID: "FW2", FriendlyName: "IVR"})
	_, _, err = Deploy(ctx, api, "IVR", def2)
	assert.EqualError(t, err, `flow "IVR": 2 flows have this name (FW00000000000000000000000000000001, FW2…): delete the extra ones`)
}
