// Package twiliogo is queuebridge's adapter to Twilio's REST APIs through twilio-go: it implements
// the domain's Voice and Router, reports every failure as a *taskrouter.RemoteError classified by
// the HTTP status Twilio answered, and builds the REST client (credentials or API key, an
// injected *http.Client, TWILIO_API_URL).
package twiliogo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"

	"queuebridge/taskrouter"
)

// Credentials authenticate REST requests: the account SID with its auth token, or with an API
// key and secret.
type Credentials struct {
	AccountSID string
	AuthToken  string
	APIKey     string
	APISecret  string
}

// HTTPClient is the *http.Client for Twilio's REST APIs: pooled connections, no redirects (as
// twilio-go's own), timeout per request, and, when apiURL is set, every request sent to that
// base URL with its path kept (TWILIO_API_URL: the sandbox, or a proxy).
func HTTPClient(apiURL string, timeout time.Duration) (*http.Client, error) {
	// The dispatcher runs many requests at once: keep that many connections alive (the default
	// keeps 2 per host, so the others would pay a new TCP and TLS handshake every time).
	pooled := http.DefaultTransport.(*http.Transport).Clone()
	pooled.MaxIdleConnsPerHost = 64
	var transport http.RoundTripper = pooled
	if apiURL != "" {
		base, err := url.Parse(apiURL)
		if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
			return nil, fmt.Errorf("TWILIO_API_URL %q: want an absolute http(s) URL", apiURL)
		}
		transport = &rewriteTransport{base: base, next: pooled}
	}
	return &http.Client{
		Transport:     &statusTransport{next: transport},
		Timeout:       timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// NewRestClient builds a twilio-go client over hc (see HTTPClient).
func NewRestClient(creds Credentials, hc *http.Client) *twilio.RestClient {
	user, pass := creds.AccountSID, creds.AuthToken
	if creds.APIKey != "" {
		user, pass = creds.APIKey, creds.APISecret
	}
	c := &client.Client{Credentials: client.NewCredentials(user, pass), HTTPClient: hc}
	c.SetAccountSid(creds.AccountSID)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: c})
}

// New is HTTPClient and NewRestClient in one.
func New(creds Credentials, apiURL string, timeout time.Duration) (*twilio.RestClient, error) {
	hc, err := HTTPClient(apiURL, timeout)
	if err != nil {
		return nil, err
	}
	return NewRestClient(creds, hc), nil
}

// rewriteTransport sends every request to base's scheme and host, keeping the path and query.
type rewriteTransport struct {
	base *url.URL
	next http.RoundTripper
}

func (t *rewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme = t.base.Scheme
	out.URL.Host = t.base.Host
	out.URL.Path = strings.TrimRight(t.base.Path, "/") + req.URL.Path
	out.Host = ""
	return t.next.RoundTrip(out)
}

// statusTransport makes the HTTP status of an error answer the one twilio-go reports: it writes
// it into the JSON body's "status", which twilio-go decodes into TwilioRestError.Status. Without
// it a 5xx whose body lacks "status" (a proxy's, or a partial outage's) decodes as status 0.
type statusTransport struct{ next http.RoundTripper }

func (t *statusTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 {
		return resp, err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	var fields map[string]any
	if rerr != nil || json.Unmarshal(body, &fields) != nil || fields == nil {
		// Not a JSON object (a proxy's page, null, a cut body): twilio-go would decode no
		// status, or none at all. Keep only what the status says.
		if rerr == nil && json.Valid(body) {
			body = nil
		}
		if rerr != nil || body == nil {
			fields = map[string]any{"message": http.StatusText(resp.StatusCode)}
		}
	}
	if fields != nil {
		fields["status"] = resp.StatusCode
		if patched, merr := json.Marshal(fields); merr == nil {
			body = patched
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// httpCodeInText finds the status twilio-go reports, only in text, for an error answer whose
// body is not JSON.
var httpCodeInText = regexp.MustCompile(`for an HTTP error code: (\d{3})`)

// classify turns a twilio-go error into a *taskrouter.RemoteError: a 4xx other than 429 is
// permanent, 429 not sent, 5xx retryable, a refused connection not sent, anything else (a
// timeout, a connection dropped after sending) ambiguous.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	re := &taskrouter.RemoteError{Kind: taskrouter.Ambiguous, Err: fmt.Errorf("%s: %w", op, err)}
	var te *client.TwilioRestError
	var opErr *net.OpError
	switch {
	case errors.As(err, &te):
		re.Status, re.Code = te.Status, te.Code
		// twilio-go's own text reads "(null)" for absent details: say it plainly.
		re.Err = fmt.Errorf("%s: Twilio answered %d, error %d: %s (%s)", op, te.Status, te.Code, te.Message, te.MoreInfo)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		re.Kind = taskrouter.NotSent // never reached Twilio
		return re
	default:
		if m := httpCodeInText.FindStringSubmatch(err.Error()); m != nil {
			re.Status, _ = strconv.Atoi(m[1])
		}
	}
	switch {
	case re.Status == http.StatusTooManyRequests:
		re.Kind = taskrouter.NotSent
	case re.Status >= 500:
		re.Kind = taskrouter.Retryable
	case re.Status >= 400:
		re.Kind = taskrouter.Permanent
	}
	return re
}

// API implements the domain's Voice and Router with twilio-go.
type API struct {
	Client *twilio.RestClient
}

var (
	_ taskrouter.Voice  = (*API)(nil)
	_ taskrouter.Router = (*API)(nil)
)

// PlaceCall creates the agent leg with AMD and status callbacks for every progress event.
func (t *API) PlaceCall(_ context.Context, req taskrouter.CallRequest) (string, error) {
	p := &api.CreateCallParams{}
	p.SetTo(req.To).SetFrom(req.From).SetUrl(req.URL).SetMethod(http.MethodPost).
		SetStatusCallback(req.StatusCallback).SetStatusCallbackMethod(http.MethodPost).
		SetStatusCallbackEvent([]string{"initiated", "ringing", "answered", "completed"})
	if req.Timeout > 0 {
		p.SetTimeout(req.Timeout)
	}
	if req.MachineDetection != "" {
		p.SetMachineDetection(req.MachineDetection)
		if req.AMDTimeout > 0 {
			p.SetMachineDetectionTimeout(req.AMDTimeout)
		}
		if req.SpeechThreshold > 0 {
			p.SetMachineDetectionSpeechThreshold(req.SpeechThreshold)
		}
		if req.SpeechEndThreshold > 0 {
			p.SetMachineDetectionSpeechEndThreshold(req.SpeechEndThreshold)
		}
		if req.SilenceTimeout > 0 {
			p.SetMachineDetectionSilenceTimeout(req.SilenceTimeout)
		}
	}
	call, err := t.Client.Api.CreateCall(p)
	if err != nil {
		return "", classify("create call", err)
	}
	if call.Sid == nil {
		return "", &taskrouter.RemoteError{Kind: taskrouter.Ambiguous, Err: errors.New("create call: Twilio answered without a call SID")}
	}
	return *call.Sid, nil
}

// EndCall sets the call's status to canceled or completed and returns the status Twilio
// answers with.
func (t *API) EndCall(_ context.Context, callSID string, status taskrouter.CallStatus) (taskrouter.CallStatus, error) {
	call, err := t.Client.Api.UpdateCall(callSID, (&api.UpdateCallParams{}).SetStatus(string(status)))
	if err != nil {
		return "", classify("update call "+callSID, err)
	}
	return taskrouter.CallStatus(deref(call.Status)), nil
}

// FindCalls lists the calls to → from that are still queued or started at or after since.
// Twilio's StartTime filter leaves out queued calls (their start time is empty until Twilio
// dials), so they are listed on their own: a call an interrupted dial created may be one.
func (t *API) FindCalls(_ context.Context, to, from string, since time.Time) ([]taskrouter.CallInfo, error) {
	queued, err := t.Client.Api.ListCall((&api.ListCallParams{}).SetTo(to).SetFrom(from).SetStatus("queued").SetLimit(20))
	if err != nil {
		return nil, classify("list queued calls", err)
	}
	started, err := t.Client.Api.ListCall((&api.ListCallParams{}).SetTo(to).SetFrom(from).SetStartTimeAfter(since.UTC()).SetLimit(20))
	if err != nil {
		return nil, classify("list calls", err)
	}
	out := make([]taskrouter.CallInfo, 0, len(queued)+len(started))
	seen := make(map[string]bool, cap(out))
	for _, c := range append(queued, started...) {
		if seen[deref(c.Sid)] {
			continue // queued at the first look, started by the second
		}
		seen[deref(c.Sid)] = true
		info := taskrouter.CallInfo{SID: deref(c.Sid), To: deref(c.To), From: deref(c.From), Status: taskrouter.CallStatus(deref(c.Status))}
		if ts, err := time.Parse(time.RFC1123Z, deref(c.DateCreated)); err == nil {
			info.CreatedAt = ts
		}
		out = append(out, info)
	}
	return out, nil
}

// FetchCall reads one call.
func (t *API) FetchCall(_ context.Context, callSID string) (taskrouter.CallInfo, error) {
	c, err := t.Client.Api.FetchCall(callSID, &api.FetchCallParams{})
	if err != nil {
		return taskrouter.CallInfo{}, classify("fetch call "+callSID, err)
	}
	return taskrouter.CallInfo{SID: deref(c.Sid), To: deref(c.To), From: deref(c.From), Status: taskrouter.CallStatus(deref(c.Status))}, nil
}

// ReservationStatus reads a reservation's status at TaskRouter.
func (t *API) ReservationStatus(_ context.Context, workspaceSID, taskSID, reservationSID string) (string, error) {
	r, err := t.Client.TaskrouterV1.FetchTaskReservation(workspaceSID, taskSID, reservationSID)
	if err != nil {
		return "", classify("fetch reservation "+reservationSID, err)
	}
	return deref(r.ReservationStatus), nil
}

// RejectReservation rejects a pending reservation, moving the worker to activitySID if set.
func (t *API) RejectReservation(_ context.Context, workspaceSID, taskSID, reservationSID, activitySID string) error {
	p := (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected")
	if activitySID != "" {
		p.SetWorkerActivitySid(activitySID)
	}
	_, err := t.Client.TaskrouterV1.UpdateTaskReservation(workspaceSID, taskSID, reservationSID, p)
	return classify("reject reservation "+reservationSID, err)
}

// CompleteTask completes the task with a reason.
func (t *API) CompleteTask(_ context.Context, workspaceSID, taskSID, reason string) error {
	p := (&trapi.UpdateTaskParams{}).SetAssignmentStatus("completed").SetReason(reason)
	_, err := t.Client.TaskrouterV1.UpdateTask(workspaceSID, taskSID, p)
	return classify("complete task "+taskSID, err)
}

// WorkerActivity reads the worker's current activity SID.
func (t *API) WorkerActivity(_ context.Context, workspaceSID, workerSID string) (string, error) {
	w, err := t.Client.TaskrouterV1.FetchWorker(workspaceSID, workerSID)
	if err != nil {
		return "", classify("fetch worker "+workerSID, err)
	}
	return deref(w.ActivitySid), nil
}

// SetWorkerActivity moves the worker to the activity. A pending reservation of the worker is
// left alone (RejectPendingReservations unset): it is the bridge's to resolve.
func (t *API) SetWorkerActivity(_ context.Context, workspaceSID, workerSID, activitySID string) error {
	_, err := t.Client.TaskrouterV1.UpdateWorker(workspaceSID, workerSID, (&trapi.UpdateWorkerParams{}).SetActivitySid(activitySID))
	return classify("update worker "+workerSID, err)
}

// Workspace is what the start-up check reads of the workspace.
type Workspace struct {
	Name             string
	EventCallbackURL string
}

// FetchWorkspace reads the workspace.
func (t *API) FetchWorkspace(_ context.Context, workspaceSID string) (Workspace, error) {
	ws, err := t.Client.TaskrouterV1.FetchWorkspace(workspaceSID)
	if err != nil {
		return Workspace{}, classify("fetch workspace "+workspaceSID, err)
	}
	return Workspace{Name: deref(ws.FriendlyName), EventCallbackURL: deref(ws.EventCallbackUrl)}, nil
}

// OwnsNumber reports whether the account may use number as a From: one of its phone numbers
// (IncomingPhoneNumbers) or a verified caller ID (OutgoingCallerIds). Twilio refuses any other
// From with 21210.
func (t *API) OwnsNumber(_ context.Context, number string) (bool, error) {
	owned, err := t.Client.Api.ListIncomingPhoneNumber((&api.ListIncomingPhoneNumberParams{}).SetPhoneNumber(number).SetLimit(20))
	if err != nil {
		return false, classify("list incoming phone numbers", err)
	}
	if slices.ContainsFunc(owned, func(n api.ApiV2010IncomingPhoneNumber) bool { return deref(n.PhoneNumber) == number }) {
		return true, nil
	}
	verified, err := t.Client.Api.ListOutgoingCallerId((&api.ListOutgoingCallerIdParams{}).SetPhoneNumber(number).SetLimit(20))
	if err != nil {
		return false, classify("list outgoing caller IDs", err)
	}
	return slices.ContainsFunc(verified, func(n api.ApiV2010OutgoingCallerId) bool { return deref(n.PhoneNumber) == number }), nil
}

// ReservationTimeouts returns each workflow's reservation timeout in the workspace, and its name.
func (t *API) ReservationTimeouts(_ context.Context, workspaceSID string) (map[string]time.Duration, map[string]string, error) {
	wfs, err := t.Client.TaskrouterV1.ListWorkflow(workspaceSID, (&trapi.ListWorkflowParams{}).SetLimit(1000))
	if err != nil {
		return nil, nil, fmt.Errorf("listing workflows of %s: %w", workspaceSID, err)
	}
	timeouts := make(map[string]time.Duration, len(wfs))
	names := make(map[string]string, len(wfs))
	for _, wf := range wfs {
		sid := deref(wf.Sid)
		timeout := time.Duration(wf.TaskReservationTimeout) * time.Second
		if timeout == 0 {
			timeout = taskrouter.DefaultReservationTimeout
		}
		timeouts[sid] = timeout
		names[sid] = deref(wf.FriendlyName)
	}
	return timeouts, names, nil
}

// ActivitySID resolves an activity's friendly name in the workspace.
func (t *API) ActivitySID(_ context.Context, workspaceSID, name string) (string, error) {
	acts, err := t.Client.TaskrouterV1.ListActivity(workspaceSID, (&trapi.ListActivityParams{}).SetFriendlyName(name))
	if err != nil {
		return "", fmt.Errorf("looking up activity %q in %s: %w", name, workspaceSID, err)
	}
	for _, a := range acts {
		if deref(a.FriendlyName) == name {
			return deref(a.Sid), nil
		}
	}
	return "", fmt.Errorf("workspace %s has no activity named %q", workspaceSID, name)
}

// Worker is a worker of the workspace, as the operator page lists agents.
type Worker struct {
	SID, Name, Activity string
}

// Workers lists the workspace's workers (at most 1,000) with their activity.
func (t *API) Workers(_ context.Context, workspaceSID string) ([]Worker, error) {
	list, err := t.Client.TaskrouterV1.ListWorker(workspaceSID, (&trapi.ListWorkerParams{}).SetLimit(1000))
	if err != nil {
		return nil, classify("list workers of "+workspaceSID, err)
	}
	out := make([]Worker, 0, len(list))
	for _, w := range list {
		out = append(out, Worker{SID: deref(w.Sid), Name: deref(w.FriendlyName), Activity: deref(w.ActivityName)})
	}
	return out, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// Client is twilio-go's REST client.
type Client = twilio.RestClient
