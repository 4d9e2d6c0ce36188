package provision

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"

	"queuebridge/twiliogo"
)

const (
	twAccount = "AC0123456789abcdef0123456789abcdef"
	twToken   = "0123456789abcdef0123456789abcdef"
	twWS      = "WS0123456789abcdef0123456789abcdef"
	twWA      = "WA0123456789abcdef0123456789abcdef"
	twWQ      = "WQ0123456789abcdef0123456789abcdef"
	twWK      = "WK0123456789abcdef0123456789abcdef"
	twWW      = "WW0123456789abcdef0123456789abcdef"
	twPN      = "PN0123456789abcdef0123456789abcdef"
)

type twRequest struct {
	Method, Path string
	Query, Form  url.Values
}

// twilioServer answers each "METHOD /path" from routes (status 200 unless the body starts with
// a status line) and records every request.
type twilioServer struct {
	mu     sync.Mutex
	routes map[string]string
	reqs   []twRequest
}

func newTwilioServer(t *testing.T, routes map[string]string) (*twilioServer, *twilio.RestClient) {
	t.Helper()
	s := &twilioServer{routes: routes}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(body))
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.mu.Lock()
		s.reqs = append(s.reqs, twRequest{r.Method, r.URL.Path, r.URL.Query(), form})
		resp, ok := s.routes[r.Method+" "+r.URL.Path]
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case !ok:
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"code":20404,"message":"The requested resource %s was not found","more_info":"https://www.twilio.com/docs/errors/20404","status":404}`, r.URL.Path)
		case r.Method == http.MethodDelete:
			w.WriteHeader(http.StatusNoContent)
		case bytes.HasPrefix([]byte(resp), []byte(`{"code"`)):
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprint(w, resp)
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, resp)
		default:
			fmt.Fprint(w, resp)
		}
	}))
	t.Cleanup(srv.Close)
	rc, err := twiliogo.New(twiliogo.Credentials{AccountSID: twAccount, AuthToken: twToken}, srv.URL, 10*time.Second)
	require.NoError(t, err)
	return s, rc
}

func (s *twilioServer) requests() []twRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]twRequest(nil), s.reqs...)
}

// Response shapes follow twilio_taskrouter_v1.json and twilio_api_v2010.json.
func trMeta(key, path string) string {
	return fmt.Sprintf(`"meta":{"page":0,"page_size":50,"first_page_url":"https://taskrouter.twilio.com%[2]s?PageSize=50&Page=0","previous_page_url":null,"url":"https://taskrouter.twilio.com%[2]s?PageSize=50&Page=0","next_page_url":null,"key":%[1]q}`, key, path)
}

var workspaceJSON = `{"account_sid":"` + twAccount + `","date_created":"2026-11-22T02:00:00Z","date_updated":"2026-11-22T02:00:00Z",` +
	`"default_activity_name":"Offline","default_activity_sid":"` + twWA + `","event_callback_url":"https://bridge.example.com/taskrouter/events",` +
	`"events_filter":"task.canceled,task.completed","friendly_name":"queuebridge","multi_task_enabled":true,"sid":"` + twWS + `",` +
	`"timeout_activity_name":"Missed Call","timeout_activity_sid":"` + twWA + `","prioritize_queue_order":"FIFO",` +
	`"url":"https://taskrouter.twilio.com/v1/Workspaces/` + twWS + `","links":{}}`

var activityJSON = `{"account_sid":"` + twAccount + `","available":false,"date_created":"2026-11-22T02:00:00Z","date_updated":"2026-11-22T02:00:00Z",` +
	`"friendly_name":"Missed Call","sid":"` + twWA + `","workspace_sid":"` + twWS + `","url":"https://taskrouter.twilio.com/v1/Workspaces/` + twWS + `/Activities/` + twWA + `","links":{}}`

var queueJSON = `{"account_sid":"` + twAccount + `","assignment_activity_sid":null,"assignment_activity_name":null,"date_created":"2026-11-22T02:00:00Z",` +
	`"date_updated":"2026-11-22T02:00:00Z","friendly_name":"Sales","max_reserved_workers":2,"reservation_activity_sid":null,"reservation_activity_name":null,` +
	`"sid":"` + twWQ + `","target_workers":"skills HAS \"sales\"","task_order":"FIFO","url":"https://taskrouter.twilio.com/v1/Workspaces/` + twWS + `/TaskQueues/` + twWQ + `",` +
	`"workspace_sid":"` + twWS + `","links":{}}`

func workerJSON(attributes string) string {
	return `{"account_sid":"` + twAccount + `","activity_name":"Available","activity_sid":"` + twWA + `","attributes":` + attributes + `,"available":true,` +
		`"date_created":"2026-11-22T02:00:00Z","date_status_changed":"2026-11-22T02:00:00Z","date_updated":"2026-11-22T02:00:00Z","friendly_name":"Alice",` +
		`"sid":"` + twWK + `","workspace_sid":"` + twWS + `","url":"https://taskrouter.twilio.com/v1/Workspaces/` + twWS + `/Workers/` + twWK + `","links":{}}`
}

var workflowJSON = `{"account_sid":"` + twAccount + `","assignment_callback_url":null,"configuration":"{\"task_routing\":{\"filters\":[],\"default_filter\":{\"queue\":\"` + twWQ + `\"}}}",` +
	`"date_created":"2026-11-22T02:00:00Z","date_updated":"2026-11-22T02:00:00Z","document_content_type":"application/json","fallback_assignment_callback_url":null,` +
	`"friendly_name":"Inbound calls","sid":"` + twWW + `","task_reservation_timeout":105,"workspace_sid":"` + twWS + `",` +
	`"url":"https://taskrouter.twilio.com/v1/Workspaces/` + twWS + `/Workflows/` + twWW + `","links":{}}`

func numberJSON(voiceURL string) string {
	return `{"account_sid":"` + twAccount + `","address_sid":null,"address_requirements":"none","api_version":"2010-04-01","beta":false,` +
		`"capabilities":{"voice":true,"sms":true,"mms":true,"fax":false},"date_created":"Sun, 22 Nov 2026 02:00:00 +0000","date_updated":"Sun, 22 Nov 2026 02:00:00 +0000",` +
		`"friendly_name":"(500) 555-0006","identity_sid":null,"phone_number":"+15005550006","origin":"twilio","sid":"` + twPN + `","sms_application_sid":"",` +
		`"sms_fallback_method":"POST","sms_fallback_url":"","sms_method":"POST","sms_url":"","status_callback":"","status_callback_method":"POST","trunk_sid":null,` +
		`"uri":"/2010-04-01/Accounts/` + twAccount + `/IncomingPhoneNumbers/` + twPN + `.json","voice_receive_mode":"voice","voice_application_sid":"",` +
		`"voice_caller_id_lookup":false,"voice_fallback_method":"POST","voice_fallback_url":"","voice_method":"POST","voice_url":"` + voiceURL + `",` +
		`"emergency_status":"Inactive","emergency_address_sid":null,"emergency_address_status":"unregistered","bundle_sid":null,"status":"in-use"}`
}

func TestTwilioProvisionAPISendsTheRightParameters(t *testing.T) {
	ws := "/v1/Workspaces/" + twWS
	numbers := "/2010-04-01/Accounts/" + twAccount + "/IncomingPhoneNumbers"
	srv, rc := newTwilioServer(t, map[string]string{
		"GET /v1/Workspaces":                 `{"workspaces":[` + workspaceJSON + `],` + trMeta("workspaces", "/v1/Workspaces") + `}`,
		"POST /v1/Workspaces":                workspaceJSON,
		"POST " + ws:                         workspaceJSON,
		"DELETE " + ws:                       "",
		"GET " + ws + "/Activities":          `{"activities":[` + activityJSON + `],` + trMeta("activities", ws+"/Activities") + `}`,
		"POST " + ws + "/Activities":         activityJSON,
		"GET " + ws + "/TaskQueues":          `{"task_queues":[` + queueJSON + `],` + trMeta("task_queues", ws+"/TaskQueues") + `}`,
		"POST " + ws + "/TaskQueues":         queueJSON,
		"POST " + ws + "/TaskQueues/" + twWQ: queueJSON,
		// Twilio leaves attributes out of worker lists: the adapter fetches each worker.
		"GET " + ws + "/Workers":            `{"workers":[` + workerJSON("null") + `],` + trMeta("workers", ws+"/Workers") + `}`,
		"GET " + ws + "/Workers/" + twWK:    workerJSON(`"{\"contact_uri\":\"+15005550101\"}"`),
		"POST " + ws + "/Workers":           workerJSON(`"{\"contact_uri\":\"+15005550101\"}"`),
		"POST " + ws + "/Workers/" + twWK:   workerJSON(`"{\"contact_uri\":\"+15005550199\"}"`),
		"DELETE " + ws + "/Workers/" + twWK: "",
		"GET " + ws + "/Workflows":          `{"workflows":[` + workflowJSON + `],` + trMeta("workflows", ws+"/Workflows") + `}`,
		"POST " + ws + "/Workflows":         workflowJSON,
		"POST " + ws + "/Workflows/" + twWW: workflowJSON,
		"GET " + numbers + ".json": `{"incoming_phone_numbers":[` + numberJSON("") + `],"end":0,"first_page_uri":"` + numbers + `.json?PageSize=50&Page=0",` +
			`"next_page_uri":null,"page":0,"page_size":50,"previous_page_uri":null,"start":0,"uri":"` + numbers + `.json?PageSize=50&Page=0"}`,
		"POST " + numbers + "/" + twPN + ".json": numberJSON("https://webhooks.twilio.com/v1/Accounts/" + twAccount + "/Flows/FW1"),
	})
	a := NewTwilioProvisionAPI(rc)
	ctx := context.Background()

	tests := []struct {
		name string
		call func() (any, error)
		want any
		// method, path and the parameters of the request (query for GET, form otherwise)
		method, path string
		params       url.Values
	}{
		{
			name:   "list workspaces by name",
			call:   func() (any, error) { return a.ListWorkspaces(ctx, "queuebridge") },
			want:   []ProvisionedWorkspace{{SID: twWS, Name: "queuebridge", EventCallbackURL: "https://bridge.example.com/taskrouter/events", EventsFilter: "task.canceled,task.completed", TimeoutActivitySID: twWA, DefaultActivitySID: twWA}},
			method: "GET", path: "/v1/Workspaces", params: url.Values{"FriendlyName": {"queuebridge"}, "PageSize": {"50"}},
		},
		{
			name: "create workspace",
			call: func() (any, error) {
				return a.CreateWorkspace(ctx, ProvisionedWorkspace{Name: "queuebridge", EventCallbackURL: "https://bridge.example.com/taskrouter/events", EventsFilter: "task.canceled,task.completed"})
			},
			want:   ProvisionedWorkspace{SID: twWS, Name: "queuebridge", EventCallbackURL: "https://bridge.example.com/taskrouter/events", EventsFilter: "task.canceled,task.completed", TimeoutActivitySID: twWA, DefaultActivitySID: twWA},
			method: "POST", path: "/v1/Workspaces",
			params: url.Values{"FriendlyName": {"queuebridge"}, "EventCallbackUrl": {"https://bridge.example.com/taskrouter/events"}, "EventsFilter": {"task.canceled,task.completed"}},
		},
		{
			name: "update workspace with its activities",
			call: func() (any, error) {
				return a.UpdateWorkspace(ctx, ProvisionedWorkspace{SID: twWS, Name: "queuebridge", EventCallbackURL: "https://b/taskrouter/events", EventsFilter: "task.completed", TimeoutActivitySID: twWA, DefaultActivitySID: "WA2"})
			},
			want:   ProvisionedWorkspace{SID: twWS, Name: "queuebridge", EventCallbackURL: "https://bridge.example.com/taskrouter/events", EventsFilter: "task.canceled,task.completed", TimeoutActivitySID: twWA, DefaultActivitySID: twWA},
			method: "POST", path: ws,
			params: url.Values{"FriendlyName": {"queuebridge"}, "EventCallbackUrl": {"https://b/taskrouter/events"}, "EventsFilter": {"task.completed"}, "TimeoutActivitySid": {twWA}, "DefaultActivitySid": {"WA2"}},
		},
		{
			name:   "delete workspace",
			call:   func() (any, error) { return nil, a.DeleteWorkspace(ctx, twWS) },
			method: "DELETE", path: ws, params: url.Values{},
		},
		{
			name:   "list activities",
			call:   func() (any, error) { return a.ListActivities(ctx, twWS) },
			want:   []ProvisionedActivity{{SID: twWA, Name: "Missed Call"}},
			method: "GET", path: ws + "/Activities", params: url.Values{"PageSize": {"50"}},
		},
		{
			name:   "create activity",
			call:   func() (any, error) { return a.CreateActivity(ctx, twWS, ProvisionedActivity{Name: "Missed Call"}) },
			want:   ProvisionedActivity{SID: twWA, Name: "Missed Call"},
			method: "POST", path: ws + "/Activities", params: url.Values{"FriendlyName": {"Missed Call"}, "Available": {"false"}},
		},
		{
			name:   "list queues",
			call:   func() (any, error) { return a.ListQueues(ctx, twWS) },
			want:   []ProvisionedQueue{{SID: twWQ, Name: "Sales", TargetWorkers: `skills HAS "sales"`, MaxReservedWorkers: 2}},
			method: "GET", path: ws + "/TaskQueues", params: url.Values{"PageSize": {"50"}},
		},
		{
			name: "create queue",
			call: func() (any, error) {
				return a.CreateQueue(ctx, twWS, ProvisionedQueue{Name: "Sales", TargetWorkers: `skills HAS "sales"`, MaxReservedWorkers: 2})
			},
			want:   ProvisionedQueue{SID: twWQ, Name: "Sales", TargetWorkers: `skills HAS "sales"`, MaxReservedWorkers: 2},
			method: "POST", path: ws + "/TaskQueues", params: url.Values{"FriendlyName": {"Sales"}, "TargetWorkers": {`skills HAS "sales"`}, "MaxReservedWorkers": {"2"}},
		},
		{
			name: "update queue",
			call: func() (any, error) {
				return a.UpdateQueue(ctx, twWS, ProvisionedQueue{SID: twWQ, Name: "Sales", TargetWorkers: "1==1", MaxReservedWorkers: 3})
			},
			want:   ProvisionedQueue{SID: twWQ, Name: "Sales", TargetWorkers: `skills HAS "sales"`, MaxReservedWorkers: 2},
			method: "POST", path: ws + "/TaskQueues/" + twWQ, params: url.Values{"TargetWorkers": {"1==1"}, "MaxReservedWorkers": {"3"}},
		},
		{
			name:   "list workers fetches their attributes",
			call:   func() (any, error) { return a.ListWorkers(ctx, twWS) },
			want:   []ProvisionedWorker{{SID: twWK, Name: "Alice", Attributes: `{"contact_uri":"+15005550101"}`, ActivitySID: twWA}},
			method: "GET", path: ws + "/Workers/" + twWK, params: url.Values{},
		},
		{
			name: "create worker with its first activity",
			call: func() (any, error) {
				return a.CreateWorker(ctx, twWS, ProvisionedWorker{Name: "Alice", Attributes: `{"contact_uri":"+15005550101"}`, ActivitySID: twWA})
			},
			want:   ProvisionedWorker{SID: twWK, Name: "Alice", Attributes: `{"contact_uri":"+15005550101"}`, ActivitySID: twWA},
			method: "POST", path: ws + "/Workers", params: url.Values{"FriendlyName": {"Alice"}, "Attributes": {`{"contact_uri":"+15005550101"}`}, "ActivitySid": {twWA}},
		},
		{
			name: "update worker sends attributes only, never the activity",
			call: func() (any, error) {
				return a.UpdateWorker(ctx, twWS, ProvisionedWorker{SID: twWK, Name: "Alice", Attributes: `{"contact_uri":"+15005550199"}`, ActivitySID: "WAother"})
			},
			want:   ProvisionedWorker{SID: twWK, Name: "Alice", Attributes: `{"contact_uri":"+15005550199"}`, ActivitySID: twWA},
			method: "POST", path: ws + "/Workers/" + twWK, params: url.Values{"Attributes": {`{"contact_uri":"+15005550199"}`}},
		},
		{
			name:   "delete worker",
			call:   func() (any, error) { return nil, a.DeleteWorker(ctx, twWS, twWK) },
			method: "DELETE", path: ws + "/Workers/" + twWK, params: url.Values{},
		},
		{
			name: "create workflow with its reservation timeout",
			call: func() (any, error) {
				return a.CreateWorkflow(ctx, twWS, ProvisionedWorkflow{Name: "Inbound calls", Configuration: `{"task_routing":{}}`, TaskReservationTimeout: 105})
			},
			want:   ProvisionedWorkflow{SID: twWW, Name: "Inbound calls", Configuration: `{"task_routing":{"filters":[],"default_filter":{"queue":"` + twWQ + `"}}}`, TaskReservationTimeout: 105},
			method: "POST", path: ws + "/Workflows", params: url.Values{"FriendlyName": {"Inbound calls"}, "Configuration": {`{"task_routing":{}}`}, "TaskReservationTimeout": {"105"}},
		},
		{
			name: "update workflow",
			call: func() (any, error) {
				return a.UpdateWorkflow(ctx, twWS, ProvisionedWorkflow{SID: twWW, Name: "Inbound calls", Configuration: `{}`, TaskReservationTimeout: 150})
			},
			want:   ProvisionedWorkflow{SID: twWW, Name: "Inbound calls", Configuration: `{"task_routing":{"filters":[],"default_filter":{"queue":"` + twWQ + `"}}}`, TaskReservationTimeout: 105},
			method: "POST", path: ws + "/Workflows/" + twWW, params: url.Values{"Configuration": {`{}`}, "TaskReservationTimeout": {"150"}},
		},
		{
			name:   "list numbers by phone number",
			call:   func() (any, error) { return a.ListNumbers(ctx, "+15005550006") },
			want:   []ProvisionedNumber{{SID: twPN, PhoneNumber: "+15005550006", VoiceMethod: "POST"}},
			method: "GET", path: numbers + ".json", params: url.Values{"PhoneNumber": {"+15005550006"}, "PageSize": {"50"}},
		},
		{
			name: "point a number at the flow",
			call: func() (any, error) {
				return a.UpdateNumber(ctx, ProvisionedNumber{SID: twPN, VoiceURL: "https://webhooks.twilio.com/v1/Accounts/" + twAccount + "/Flows/FW1", VoiceMethod: "POST"})
			},
			want:   ProvisionedNumber{SID: twPN, PhoneNumber: "+15005550006", VoiceURL: "https://webhooks.twilio.com/v1/Accounts/" + twAccount + "/Flows/FW1", VoiceMethod: "POST"},
			method: "POST", path: numbers + "/" + twPN + ".json",
			params: url.Values{"VoiceUrl": {"https://webhooks.twilio.com/v1/Accounts/" + twAccount + "/Flows/FW1"}, "VoiceMethod": {"POST"}, "VoiceApplicationSid": {""}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.call()
			require.NoError(t, err)
			if tt.want != nil {
				assert.Equal(t, tt.want, got)
			}
			reqs := srv.requests()
			require.NotEmpty(t, reqs)
			last := reqs[len(reqs)-1]
			assert.Equal(t, tt.method+" "+tt.path, last.Method+" "+last.Path)
			if tt.method == "GET" {
				assert.Equal(t, tt.params, last.Query)
			} else {
				assert.Equal(t, tt.params, last.Form)
			}
		})
	}
}

func TestTwilioProvisionAPIReturnsTwilioErrors(t *testing.T) {
	ws := "/v1/Workspaces/" + twWS
	_, rc := newTwilioServer(t, map[string]string{
		"POST " + ws + "/Workers": `{"code":20001,"message":"Worker with friendly name Alice already exists","more_info":"https://www.twilio.com/docs/errors/20001","status":400}`,
	})
	_, err := NewTwilioProvisionAPI(rc).CreateWorker(context.Background(), twWS, ProvisionedWorker{Name: "Alice", Attributes: "{}"})
	var tw *client.TwilioRestError
	require.ErrorAs(t, err, &tw)
	assert.Equal(t, 20001, tw.Code)
	assert.Equal(t, "Worker with friendly name Alice already exists", tw.Message)
	pe := &ProvisionError{Op: "create", Kind: PlanKindWorker, Name: "Alice", Err: err}
	assert.Equal(t, `create worker "Alice": Twilio error 20001: Worker with friendly name Alice already exists (HTTP 400) https://www.twilio.com/docs/errors/20001`, pe.Error())
}

func TestTwilioProvisionAPIStopsOnCancelledContext(t *testing.T) {
	srv, rc := newTwilioServer(t, map[string]string{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := NewTwilioProvisionAPI(rc).ListWorkspaces(ctx, "queuebridge")
	assert.ErrorIs(t, err, context.Canceled)
	assert.Empty(t, srv.requests())
}

func TestPlanOverHTTPOnAnEmptyAccount(t *testing.T) {
	numbers := "/2010-04-01/Accounts/" + twAccount + "/IncomingPhoneNumbers"
	srv, rc := newTwilioServer(t, map[string]string{
		"GET /v1/Workspaces": `{"workspaces":[],` + trMeta("workspaces", "/v1/Workspaces") + `}`,
		"GET /v2/Flows":      `{"flows":[],"meta":{"page":0,"page_size":50,"first_page_url":"https://studio.twilio.com/v2/Flows?PageSize=50&Page=0","previous_page_url":null,"url":"https://studio.twilio.com/v2/Flows?PageSize=50&Page=0","next_page_url":null,"key":"flows"}}`,
		"GET " + numbers + ".json": `{"incoming_phone_numbers":[` + numberJSON("") + `],"end":0,"first_page_uri":"` + numbers + `.json?PageSize=50&Page=0",` +
			`"next_page_uri":null,"page":0,"page_size":50,"previous_page_uri":null,"start":0,"uri":"` + numbers + `.json?PageSize=50&Page=0"}`,
	})
	plan, err := NewProvisioner(NewTwilioProvisionAPI(rc), testSettings()).Plan(context.Background(), exampleSpec(t))
	require.NoError(t, err)
	assert.Equal(t, PlanSummary{Create: 13, Update: 1}, plan.Summary())
	var paths []string
	for _, r := range srv.requests() {
		paths = append(paths, r.Method+" "+r.Path)
	}
	assert.Equal(t, []string{"GET /v1/Workspaces", "GET /v2/Flows", "GET " + numbers + ".json"}, paths, "a plan only reads")
}
