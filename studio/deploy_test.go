package studio

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
)

const (
	testAccount = "AC0123456789abcdef0123456789abcdef"
	testToken   = "0123456789abcdef0123456789abcdef"
)

// rewrite sends every request to the test server, keeping the path, as TWILIO_API_URL does.
type rewrite struct{ target *url.URL }

func (r rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host, req.Host = r.target.Scheme, r.target.Host, r.target.Host
	return http.DefaultTransport.RoundTrip(req)
}

type recorded struct {
	Method, Path string
	Form         url.Values
}

// studioServer answers like Studio v2 (shapes from twilio_studio_v2.json) and records requests.
func studioServer(t *testing.T, handler func(w http.ResponseWriter, r *http.Request)) (*twilio.RestClient, *[]recorded) {
	t.Helper()
	var mu sync.Mutex
	var reqs []recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		r.Body = io.NopCloser(bytes.NewReader(body))
		mu.Lock()
		reqs = append(reqs, recorded{r.Method, r.URL.Path, form})
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	target, _ := url.Parse(srv.URL)
	c := &client.Client{Credentials: client.NewCredentials(testAccount, testToken), HTTPClient: &http.Client{Transport: rewrite{target}}}
	c.SetAccountSid(testAccount)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: c}), &reqs
}

func flowJSON(sid, name, msg string) string {
	return fmt.Sprintf(`{"sid":%q,"account_sid":%q,"friendly_name":%q,"definition":null,"status":"published","revision":2,`+
		`"commit_message":%q,"valid":true,"errors":[],"warnings":[],"date_created":"2026-11-22T02:00:00Z","date_updated":"2026-11-22T02:00:00Z",`+
		`"webhook_url":"https://webhooks.twilio.com/v1/Accounts/%s/Flows/%s","url":"https://studio.twilio.com/v2/Flows/%s","links":{}}`,
		sid, testAccount, name, msg, testAccount, sid, sid)
}

func TestTwilioFlowsSendsTheDefinitionPublished(t *testing.T) {
	def, err := Render(exampleParams())
	require.NoError(t, err)
	const sid = "FW0123456789abcdef0123456789abcdef"
	rc, reqs := studioServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v2/Flows":
			fmt.Fprintf(w, `{"flows":[%s],"meta":{"page":0,"page_size":50,"first_page_url":"https://studio.twilio.com/v2/Flows?PageSize=50&Page=0","previous_page_url":null,"url":"https://studio.twilio.com/v2/Flows?PageSize=50&Page=0","next_page_url":null,"key":"flows"}}`,
				flowJSON(sid, "other IVR", "x"))
		case r.Method == http.MethodPost && r.URL.Path == "/v2/Flows":
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, flowJSON(sid, r.FormValue("FriendlyName"), r.FormValue("CommitMessage")))
		default:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"code":20404,"message":"not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}`)
		}
	})

	got, changed, err := Deploy(context.Background(), NewTwilioFlows(rc), "queuebridge IVR", def)
	require.NoError(t, err)
	assert.True(t, changed)
	assert.Equal(t, sid, got.SID)
	assert.Equal(t, "https://webhooks.twilio.com/v1/Accounts/"+testAccount+"/Flows/"+sid, got.WebhookURL)

	require.Len(t, *reqs, 2)
	create := (*reqs)[1]
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
	rc, reqs := studioServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v2/Flows/"+sid:
			fmt.Fprint(w, flowJSON(sid, r.FormValue("FriendlyName"), r.FormValue("CommitMessage")))
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, `{"code":20001,"message":"Flow is in use","more_info":"https://www.twilio.com/docs/errors/20001","status":400}`)
		}
	})
	api := NewTwilioFlows(rc)
	got, err := api.UpdateFlow(context.Background(), sid, "queuebridge IVR", def, "m")
	require.NoError(t, err)
	assert.Equal(t, "m", got.CommitMessage)
	require.Len(t, *reqs, 1)
	assert.Equal(t, "published", (*reqs)[0].Form.Get("Status"))
	assert.JSONEq(t, string(def), (*reqs)[0].Form.Get("Definition"))

	err = api.DeleteFlow(context.Background(), sid)
	var twErr *client.TwilioRestError
	require.ErrorAs(t, err, &twErr)
	assert.Equal(t, 20001, twErr.Code)
	assert.Equal(t, "DELETE /v2/Flows/"+sid, (*reqs)[1].Method+" "+(*reqs)[1].Path)
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
