package testkit_test

import (
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

	"queuebridge/internal/testkit"
	"queuebridge/sandbox/twiliosig"
)

const calls = "/2010-04-01/Accounts/" + testkit.Account + "/Calls.json"

// call sends one REST request to the fake and returns its status and decoded JSON body.
func call(t *testing.T, c *http.Client, method, target string, form url.Values) (int, map[string]any, error) {
	t.Helper()
	req, err := http.NewRequest(method, target, strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(testkit.Account, testkit.Token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var fields map[string]any
	_ = json.Unmarshal(body, &fields)
	if fields == nil {
		fields = map[string]any{"text": string(body)}
	}
	return resp.StatusCode, fields, nil
}

func TestOpNames(t *testing.T) {
	for want, req := range map[string][2]string{
		"create_call": {"POST", calls}, "list_calls": {"GET", calls}, "update_call": {"POST", "/2010-04-01/Accounts/AC1/Calls/CA1.json"},
		"fetch_call": {"GET", "/2010-04-01/Accounts/AC1/Calls/CA1.json"}, "update_reservation": {"POST", "/v1/Workspaces/WS1/Tasks/WT1/Reservations/WR1"},
		"update_task": {"POST", "/v1/Workspaces/WS1/Tasks/WT1"}, "list_workflows": {"GET", "/v1/Workspaces/WS1/Workflows"},
		"list_activities": {"GET", "/v1/Workspaces/WS1/Activities"}, "create_flow": {"POST", "/v2/Flows"}, "delete_flow": {"DELETE", "/v2/Flows/FW1"},
		"update_incoming_phone_number": {"POST", "/2010-04-01/Accounts/AC1/IncomingPhoneNumbers/PN1.json"}, "": {"GET", "/v1/Nothing"},
	} {
		assert.Equal(t, want, testkit.Op(req[0], req[1]), "%s %s", req[0], req[1])
	}
}

func TestCallsAreCreatedListedUpdatedAndRecorded(t *testing.T) {
	tw := testkit.NewTwilio(t)
	status, created, err := call(t, http.DefaultClient, "POST", tw.URL+calls, url.Values{"To": {"+15005550101"}, "From": {"+15005550199"}})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, status)
	sid := created["sid"].(string)
	assert.Equal(t, "queued", created["status"])
	assert.Equal(t, testkit.Account, created["account_sid"])

	_, list, _ := call(t, http.DefaultClient, "GET", tw.URL+calls+"?To=%2B15005550101", nil)
	require.Len(t, list["calls"], 1)
	_, list, _ = call(t, http.DefaultClient, "GET", tw.URL+calls+"?To=%2B15005550102", nil)
	assert.Empty(t, list["calls"], "the To filter applies")

	item := "/2010-04-01/Accounts/" + testkit.Account + "/Calls/" + sid + ".json"
	status, updated, _ := call(t, http.DefaultClient, "POST", tw.URL+item, url.Values{"Status": {"canceled"}})
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "canceled", updated["status"])
	_, fetched, _ := call(t, http.DefaultClient, "GET", tw.URL+item, nil)
	assert.Equal(t, "canceled", fetched["status"])

	status, res, _ := call(t, http.DefaultClient, "POST", tw.URL+"/v1/Workspaces/WS1/Tasks/WT1/Reservations/WR1", url.Values{"ReservationStatus": {"rejected"}})
	assert.Equal(t, http.StatusOK, status, "reservations exist without the fake having created them")
	assert.Equal(t, "rejected", res["reservation_status"])

	reqs := tw.Requests("create_call")
	require.Len(t, reqs, 1)
	assert.Equal(t, "+15005550101", reqs[0].Form.Get("To"))
	assert.Equal(t, testkit.Account, reqs[0].User)
	assert.Equal(t, sid, reqs[0].SID)
	assert.Equal(t, http.StatusCreated, reqs[0].Status)
	assert.Len(t, tw.Writes(), 3)
	assert.Len(t, tw.Requests(), 6)
}

func TestErrorFaults(t *testing.T) {
	cases := []struct {
		fault  testkit.Fault
		status int
		body   map[string]any
	}{
		{testkit.Status(503), 503, map[string]any{"code": 20503.0, "message": "Service Unavailable", "more_info": "https://www.twilio.com/docs/errors/20503", "status": 503.0}},
		{testkit.Status(429), 429, map[string]any{"code": 20429.0, "message": "Too Many Requests", "more_info": "https://www.twilio.com/docs/errors/20429", "status": 429.0}},
		{testkit.Code(400, 21211), 400, map[string]any{"code": 21211.0, "message": "Invalid 'To' Phone Number", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400.0}},
		{testkit.GatewayJSON(502), 502, map[string]any{"code": 20502.0, "message": "Bad Gateway", "more_info": "https://www.twilio.com/docs/errors/20502"}},
	}
	for _, tc := range cases {
		t.Run(tc.fault.String(), func(t *testing.T) {
			tw := testkit.NewTwilio(t)
			tw.Fail("create_call", tc.fault, 1)
			status, body, err := call(t, http.DefaultClient, "POST", tw.URL+calls, url.Values{"To": {"+15005550101"}})
			require.NoError(t, err)
			assert.Equal(t, tc.status, status)
			assert.Equal(t, tc.body, body)
			assert.Empty(t, tw.Find("/Calls", "to", "+15005550101"), "a refused create creates nothing")
			status, _, _ = call(t, http.DefaultClient, "POST", tw.URL+calls, url.Values{"To": {"+15005550101"}})
			assert.Equal(t, http.StatusCreated, status, "one fault, then normal answers")
		})
	}
	t.Run("page", func(t *testing.T) {
		tw := testkit.NewTwilio(t)
		tw.Fail("list_calls", testkit.GatewayPage(502), -1)
		for range 2 {
			status, body, err := call(t, http.DefaultClient, "GET", tw.URL+calls, nil)
			require.NoError(t, err)
			assert.Equal(t, http.StatusBadGateway, status)
			assert.Contains(t, body["text"], "<h1>502 Bad Gateway</h1>")
		}
		tw.Clear()
		status, _, _ := call(t, http.DefaultClient, "GET", tw.URL+calls, nil)
		assert.Equal(t, http.StatusOK, status)
	})
}

func TestConnectionFaults(t *testing.T) {
	tw := testkit.NewTwilio(t)
	client := &http.Client{Timeout: 200 * time.Millisecond}
	tw.Fail("create_call", testkit.ConnReset(), 1)
	_, _, err := call(t, client, "POST", tw.URL+calls, url.Values{"To": {"+1500555001"}})
	assert.Error(t, err, "a reset")

	tw.Fail("create_call", testkit.Timeout(), 1)
	start := time.Now()
	_, _, err = call(t, client, "POST", tw.URL+calls, url.Values{"To": {"+1500555002"}})
	assert.ErrorContains(t, err, "Client.Timeout")
	assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)

	tw.Fail("create_call", testkit.Applied(testkit.Status(500)), 1)
	status, _, err := call(t, client, "POST", tw.URL+calls, url.Values{"To": {"+1500555003"}})
	require.NoError(t, err)
	assert.Equal(t, 500, status)
	assert.Len(t, tw.Find("/Calls", "to", "+1500555003"), 1, "the call exists although the answer was an error")

	tw.Fail("create_call", testkit.Applied(testkit.Timeout()), 1)
	_, _, err = call(t, client, "POST", tw.URL+calls, url.Values{"To": {"+1500555004"}})
	assert.Error(t, err)
	assert.Len(t, tw.Find("/Calls", "to", "+1500555004"), 1, "created, never answered")
	assert.Empty(t, tw.Find("/Calls", "to", "+1500555001"), "a plain reset creates nothing")
	assert.Empty(t, tw.Find("/Calls", "to", "+1500555002"), "a plain timeout creates nothing")

	tw.Fail("create_call", testkit.Slow(50*time.Millisecond), 1)
	start = time.Now()
	status, _, err = call(t, client, "POST", tw.URL+calls, nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusCreated, status)
	assert.GreaterOrEqual(t, time.Since(start), 50*time.Millisecond)

	gate := make(chan struct{})
	tw.Fail("create_call", testkit.Held(gate), 1)
	answered := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest("POST", tw.URL+calls, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	assert.Never(t, func() bool { return len(answered) > 0 }, 50*time.Millisecond, 5*time.Millisecond, "held until the gate opens")
	close(gate)
	assert.Equal(t, http.StatusCreated, testkit.Receive(t, answered, 5*time.Second, "the held answer"))
}

func TestRandomFaultsAreDeterministicBySeed(t *testing.T) {
	run := func(seed uint64) []int {
		tw := testkit.NewTwilio(t)
		tw.FailRandom(seed, 0.3, []testkit.Fault{testkit.Status(500), testkit.Status(503)}, "create_call")
		var out []int
		for range 40 {
			status, _, err := call(t, http.DefaultClient, "POST", tw.URL+calls, nil)
			require.NoError(t, err)
			out = append(out, status)
		}
		status, _, _ := call(t, http.DefaultClient, "GET", tw.URL+calls, nil)
		assert.Equal(t, http.StatusOK, status, "only the operations named fail")
		return out
	}
	a, b, c := run(7), run(7), run(8)
	assert.Equal(t, a, b)
	assert.NotEqual(t, a, c)
	assert.Contains(t, a, 201)
	assert.Contains(t, a, 503)
}

func TestFaultHook(t *testing.T) {
	tw := testkit.NewTwilio(t)
	tw.FailWith(func(r testkit.Request) testkit.Fault {
		if r.Form.Get("To") == "+15005550109" {
			return testkit.Code(400, 21210)
		}
		return testkit.Fault{}
	})
	status, body, _ := call(t, http.DefaultClient, "POST", tw.URL+calls, url.Values{"To": {"+15005550109"}})
	assert.Equal(t, 400, status)
	assert.Equal(t, 21210.0, body["code"])
	status, _, _ = call(t, http.DefaultClient, "POST", tw.URL+calls, url.Values{"To": {"+15005550101"}})
	assert.Equal(t, http.StatusCreated, status)
	assert.Equal(t, "400+code 21210", tw.Requests("create_call")[0].Fault.String())
}

func TestWebhooksAreSignedAsTwilioSignsThem(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ParseForm() != nil || r.Header.Get("X-Twilio-Signature") != twiliosig.Sign(testkit.Token, "https://bridge.example.com"+r.URL.RequestURI(), r.PostForm) {
			w.WriteHeader(http.StatusForbidden)
		}
		_, _ = io.WriteString(w, r.PostForm.Get("CallSid"))
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	form := url.Values{"CallSid": {testkit.SID("CA")}}
	for _, wh := range []testkit.Webhooks{
		{Token: testkit.Token, Base: "https://bridge.example.com", Handler: h},
		{Token: testkit.Token, Base: "https://bridge.example.com", URL: srv.URL},
	} {
		status, body := wh.Post(t, "/dial-queue?reservation=WR1", form)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, form.Get("CallSid"), body)
		status, _ = wh.PostSigned(t, "/dial-queue?reservation=WR1", form, "forged")
		assert.Equal(t, http.StatusForbidden, status)
	}
}

func TestSIDsAndSyncBuffer(t *testing.T) {
	a, b := testkit.SID("CA"), testkit.SID("CA")
	assert.NotEqual(t, a, b)
	assert.Regexp(t, `^CA[0-9a-f]{32}$`, a)

	var buf testkit.SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = io.WriteString(&buf, "x") }()
		_ = buf.String()
	}
	wg.Wait()
	assert.Equal(t, "xxxxxxxx", buf.String())
}
