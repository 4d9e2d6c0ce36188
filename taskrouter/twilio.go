package taskrouter

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	api "github.com/twilio/twilio-go/rest/api/v2010"
	trapi "github.com/twilio/twilio-go/rest/taskrouter/v1"
)

// Credentials authenticate REST requests: the account SID with its auth token, or with an API
// key and secret.
type Credentials struct {
	AccountSID string
	AuthToken  string
	APIKey     string
	APISecret  string
}

// NewRestClient builds a twilio-go client. When apiURL is set, every request goes to that base
// URL with its path kept (TWILIO_API_URL: the sandbox, or a proxy); timeout bounds each request.
func NewRestClient(creds Credentials, apiURL string, timeout time.Duration) (*twilio.RestClient, error) {
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
	user, pass := creds.AccountSID, creds.AuthToken
	if creds.APIKey != "" {
		user, pass = creds.APIKey, creds.APISecret
	}
	c := &client.Client{
		Credentials: client.NewCredentials(user, pass),
		HTTPClient: &http.Client{
			Transport: transport,
			Timeout:   timeout,
			// twilio-go's default client does not follow redirects either.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(creds.AccountSID)
	return twilio.NewRestClientWithParams(twilio.ClientParams{Client: c}), nil
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

// ErrorClass says what to do about a failed Twilio request.
type ErrorClass int

// The classes.
const (
	// Permanent: a 4xx other than 429. Retrying sends the same refused request.
	Permanent ErrorClass = iota
	// Retryable: Twilio did not act on the request (429, 5xx, connection refused).
	Retryable
	// Ambiguous: the request may have been acted on (a timeout or a dropped connection after
	// sending). For Calls.create, look before trying again.
	Ambiguous
)

// Classify sorts a twilio-go error.
func Classify(err error) ErrorClass {
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		switch {
		case te.Status == http.StatusTooManyRequests || te.Status >= 500:
			return Retryable
		default:
			return Permanent
		}
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return Retryable // never reached Twilio
	}
	// twilio-go reports an error status whose body is not JSON (a proxy's 502 page) only in text.
	if msg := err.Error(); strings.Contains(msg, "for an HTTP error code: 5") || strings.Contains(msg, "for an HTTP error code: 429") {
		return Retryable
	}
	return Ambiguous
}

// TwilioAPI implements Voice and Router with twilio-go.
type TwilioAPI struct {
	Client *twilio.RestClient
}

var (
	_ Voice  = (*TwilioAPI)(nil)
	_ Router = (*TwilioAPI)(nil)
)

// PlaceCall creates the agent leg with AMD and status callbacks for every progress event.
func (t *TwilioAPI) PlaceCall(_ context.Context, req CallRequest) (string, error) {
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
		return "", err
	}
	if call.Sid == nil {
		return "", fmt.Errorf("create call: Twilio answered without a call SID")
	}
	return *call.Sid, nil
}

// EndCall sets the call's status to canceled or completed.
func (t *TwilioAPI) EndCall(_ context.Context, callSID string, status CallStatus) error {
	_, err := t.Client.Api.UpdateCall(callSID, (&api.UpdateCallParams{}).SetStatus(string(status)))
	return err
}

// FindCalls lists the calls to → from started at or after since.
func (t *TwilioAPI) FindCalls(_ context.Context, to, from string, since time.Time) ([]CallInfo, error) {
	p := (&api.ListCallParams{}).SetTo(to).SetFrom(from).SetStartTimeAfter(since.UTC()).SetLimit(20)
	calls, err := t.Client.Api.ListCall(p)
	if err != nil {
		return nil, err
	}
	out := make([]CallInfo, 0, len(calls))
	for _, c := range calls {
		info := CallInfo{SID: deref(c.Sid), To: deref(c.To), From: deref(c.From), Status: CallStatus(deref(c.Status))}
		if ts, err := time.Parse(time.RFC1123Z, deref(c.DateCreated)); err == nil {
			info.CreatedAt = ts
		}
		out = append(out, info)
	}
	return out, nil
}

// RejectReservation rejects a pending reservation, moving the worker to activitySID if set.
func (t *TwilioAPI) RejectReservation(_ context.Context, workspaceSID, taskSID, reservationSID, activitySID string) error {
	p := (&trapi.UpdateTaskReservationParams{}).SetReservationStatus("rejected")
	if activitySID != "" {
		p.SetWorkerActivitySid(activitySID)
	}
	_, err := t.Client.TaskrouterV1.UpdateTaskReservation(workspaceSID, taskSID, reservationSID, p)
	return err
}

// CompleteTask completes the task with a reason.
func (t *TwilioAPI) CompleteTask(_ context.Context, workspaceSID, taskSID, reason string) error {
	p := (&trapi.UpdateTaskParams{}).SetAssignmentStatus("completed").SetReason(reason)
	_, err := t.Client.TaskrouterV1.UpdateTask(workspaceSID, taskSID, p)
	return err
}

// ReservationTimeouts returns each workflow's reservation timeout in the workspace.
func (t *TwilioAPI) ReservationTimeouts(_ context.Context, workspaceSID string) (map[string]time.Duration, map[string]string, error) {
	wfs, err := t.Client.TaskrouterV1.ListWorkflow(workspaceSID, (&trapi.ListWorkflowParams{}).SetLimit(1000))
	if err != nil {
		return nil, nil, fmt.Errorf("listing workflows of %s: %w", workspaceSID, err)
	}
	timeouts := make(map[string]time.Duration, len(wfs))
	names := make(map[string]string, len(wfs))
	for _, wf := range wfs {
		sid := deref(wf.Sid)
		timeout := wf.TaskReservationTimeout
		if timeout == 0 {
			timeout = 120
		}
		timeouts[sid] = time.Duration(timeout) * time.Second
		names[sid] = deref(wf.FriendlyName)
	}
	return timeouts, names, nil
}

// ActivitySID resolves an activity's friendly name in the workspace.
func (t *TwilioAPI) ActivitySID(_ context.Context, workspaceSID, name string) (string, error) {
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

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
