package twilioapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Sign computes X-Twilio-Signature for a form POST to rawURL, as Twilio does: the URL followed by
// each parameter's key and value, sorted by key (each value of a repeated key, sorted), HMAC-SHA1
// with the auth token, base64.
func Sign(authToken, rawURL string, params url.Values) string {
	var b strings.Builder
	b.WriteString(rawURL)
	keys := make([]string, 0, len(params))
	for k := range params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		vals := append([]string(nil), params[k]...)
		sort.Strings(vals)
		for _, v := range vals {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(authToken))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Webhooks sends signed form POSTs (and GETs) the way Twilio calls an application: with
// Twilio's connection defaults and the overrides in each URL's fragment (see Connection).
// Timeouts are real time, not the sandbox clock's: they are network behaviour.
type Webhooks struct {
	AuthToken string
	// Client's Transport carries the requests (nil: http.DefaultTransport); when it is an
	// *http.Transport, a clone enforcing the connect timeout is used. Client.Timeout, if set,
	// bounds each attempt on top of the connection settings.
	Client    *http.Client
	UserAgent string
	// Recorder, when set, gets an entry (kind "webhook", error_code 11243) for every invalid
	// connection override; Now stamps it (nil: time.Now).
	Recorder *Recorder
	Now      func() time.Time

	once   sync.Once
	client *http.Client
}

// Response is what an application answered to a webhook.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
}

type sidKey struct{}

// WithSid tags ctx with the SID a webhook is about (a call's), so the entries Send records
// land on that SID's timeline.
func WithSid(ctx context.Context, sid string) context.Context {
	return context.WithValue(ctx, sidKey{}, sid)
}

type connectTimeoutKey struct{}

func (w *Webhooks) httpClient() *http.Client {
	w.once.Do(func() {
		base := &http.Client{}
		if w.Client != nil {
			*base = *w.Client
		}
		rt := base.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		if t, ok := rt.(*http.Transport); ok {
			t = t.Clone()
			dialer := &net.Dialer{KeepAlive: 30 * time.Second}
			t.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
				if d, ok := ctx.Value(connectTimeoutKey{}).(time.Duration); ok {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, d)
					defer cancel()
				}
				return dialer.DialContext(ctx, network, addr)
			}
			rt = t
		}
		base.Transport = rt
		w.client = base
	})
	return w.client
}

// CloseIdleConnections closes the connections kept open to applications.
func (w *Webhooks) CloseIdleConnections() { w.httpClient().CloseIdleConnections() }

// Send delivers params to rawURL with method (POST by default; GET puts them in the query),
// signed with the auth token, following the URL's connection settings: attempts are retried as
// its retry policy says, each with a new I-Twilio-Idempotency-Token, until one is not
// retriable, the retries run out or the total time passes. It returns the last answer; a
// transport error or a timeout is an error, any HTTP status a Response.
func (w *Webhooks) Send(ctx context.Context, method, rawURL string, params url.Values) (*Response, error) {
	if method == "" {
		method = http.MethodPost
	}
	method = strings.ToUpper(method)
	target, conn, bad := ParseConnection(rawURL)
	w.recordBadOverrides(ctx, rawURL, bad)
	target, body, signParams, err := prepare(method, target, params)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, conn.TotalTime)
	defer cancel()
	var resp *Response
	for attempt := 0; ; attempt++ {
		var class string
		resp, class, err = w.attempt(ctx, conn, method, target, body, signParams)
		if class == "" || !conn.RetryPolicy[class] || attempt >= conn.RetryCount || ctx.Err() != nil {
			return resp, err
		}
	}
}

// prepare builds the request URL and body: a GET carries params in the query and signs none.
func prepare(method, target string, params url.Values) (string, string, url.Values, error) {
	if method != http.MethodGet {
		return target, params.Encode(), params, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return "", "", nil, fmt.Errorf("webhook url %q: %w", target, err)
	}
	q := u.Query()
	for k, vs := range params {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	u.RawQuery = q.Encode()
	return u.String(), "", nil, nil
}

// attempt makes one request. class says why it failed, for the retry policy: "ct" (could not
// connect), "rt" (no complete answer in the read timeout, or the connection broke after it was
// made), "4xx", "5xx"; "" when it succeeded or answered something else.
func (w *Webhooks) attempt(ctx context.Context, conn Connection, method, target, body string, signParams url.Values) (*Response, string, error) {
	ctx, cancel := context.WithCancel(context.WithValue(ctx, connectTimeoutKey{}, conn.ConnectTimeout))
	defer cancel()
	var connected, readTimedOut atomic.Bool
	var readTimer *time.Timer
	var mu sync.Mutex
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		if readTimer != nil {
			readTimer.Stop()
		}
	}()
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) {
		connected.Store(true)
		mu.Lock()
		defer mu.Unlock()
		readTimer = time.AfterFunc(conn.ReadTimeout, func() { readTimedOut.Store(true); cancel() })
	}})
	var rd io.Reader
	if method != http.MethodGet {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return nil, "", fmt.Errorf("webhook %s %s: %w", method, target, err)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Twilio-Signature", Sign(w.AuthToken, target, signParams))
	req.Header.Set("I-Twilio-Idempotency-Token", NewSID(""))
	ua := w.UserAgent
	if ua == "" {
		ua = "TwilioProxy/1.1"
	}
	req.Header.Set("User-Agent", ua)
	resp, err := w.httpClient().Do(req)
	if err == nil {
		var data []byte
		data, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if err == nil {
			out := &Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: data}
			return out, statusClass(resp.StatusCode), nil
		}
		err = fmt.Errorf("reading answer: %w", err)
	}
	class := "rt"
	if !connected.Load() && !readTimedOut.Load() && isConnectFailure(err) {
		class = "ct"
	}
	if readTimedOut.Load() {
		err = fmt.Errorf("read timeout after %s: %w", conn.ReadTimeout, err)
	}
	return nil, class, fmt.Errorf("webhook %s %s: %w", method, target, err)
}

func statusClass(status int) string {
	switch {
	case status >= 400 && status < 500:
		return "4xx"
	case status >= 500 && status < 600:
		return "5xx"
	}
	return ""
}

// isConnectFailure reports whether err happened before a connection was made: dialing (refused,
// unreachable, the connect timeout) or the TLS handshake.
func isConnectFailure(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var rec tls.RecordHeaderError
	var cert *tls.CertificateVerificationError
	return errors.As(err, &rec) || errors.As(err, &cert) || strings.Contains(err.Error(), "tls: ")
}

func (w *Webhooks) recordBadOverrides(ctx context.Context, rawURL string, bad []OverrideError) {
	if len(bad) == 0 || w.Recorder == nil {
		return
	}
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	sid, _ := ctx.Value(sidKey{}).(string)
	for _, b := range bad {
		w.Recorder.Record(Entry{Time: now(), Sid: sid, Kind: "webhook", What: "error 11243: invalid connection override",
			Detail: map[string]string{"error_code": "11243", "url": rawURL, "param": b.Param, "value": b.Value, "message": b.Error()}})
	}
}
