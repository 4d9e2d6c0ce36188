package twilioapi

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go/client"
)

func TestSignMatchesTwilioTestVector(t *testing.T) {
	params := url.Values{
		"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"},
	}
	got := Sign("12345", "https://mycompany.com/myapp.php?foo=1&bar=2", params)
	assert.Equal(t, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=", got)
}

func TestSentWebhooksValidateWithTwilioGo(t *testing.T) {
	var sig, rawURL string
	var form url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		form, _ = url.ParseQuery(string(body))
		sig = r.Header.Get("X-Twilio-Signature")
		rawURL = "http://" + r.Host + r.URL.RequestURI()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	wh := Webhooks{AuthToken: "tok"}
	resp, err := wh.Send(context.Background(), "", srv.URL+"/x?reservation=WR1", url.Values{"A": {"1"}, "B": {"2"}})
	require.NoError(t, err)
	assert.Equal(t, http.StatusNoContent, resp.Status)
	flat := map[string]string{}
	for k := range form {
		flat[k] = form.Get(k)
	}
	rv := client.NewRequestValidator("tok")
	assert.True(t, rv.Validate(rawURL, flat, sig))
	other := client.NewRequestValidator("other")
	assert.False(t, other.Validate(rawURL, flat, sig))
}

// server counts requests and answers each with the next of answers (the last one repeats); an
// answer of 0 holds the request until the client gives up.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	hits   int
	tokens []string
	sigs   []string
	paths  []string
}

func newServer(t *testing.T, answers ...int) *server {
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := s.hits
		s.hits++
		s.tokens = append(s.tokens, r.Header.Get("I-Twilio-Idempotency-Token"))
		s.sigs = append(s.sigs, r.Header.Get("X-Twilio-Signature"))
		s.paths = append(s.paths, r.URL.RequestURI())
		s.mu.Unlock()
		status := answers[min(n, len(answers)-1)]
		if status == 0 {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits
}

// The cases follow https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides:
// defaults rc=1, rp=ct (a 5xx, a 4xx and a read timeout are not retried), and the overrides.
func TestWebhookRetriesFollowConnectionOverrides(t *testing.T) {
	tests := []struct {
		name       string
		fragment   string
		answers    []int
		wantHits   int
		wantStatus int
	}{
		{"503 once is not retried by default", "", []int{503, 200}, 1, 503},
		{"503 once is retried with rp=5xx", "#rp=5xx", []int{503, 200}, 2, 200},
		{"404 is retried with rp=4xx", "#rp=4xx", []int{404, 200}, 2, 200},
		{"404 is not retried with rp=5xx", "#rp=5xx", []int{404, 200}, 1, 404},
		{"all retries 5xx", "#rp=all", []int{500, 204}, 2, 204},
		{"a list of policies", "#rp=ct,5xx", []int{502, 204}, 2, 204},
		{"rc=3 tries 4 times", "#rc=3&rp=5xx", []int{503}, 4, 503},
		{"rc=0 never retries", "#rc=0&rp=5xx", []int{503, 200}, 1, 503},
		{"a success is never retried", "#rp=all&rc=5", []int{200}, 1, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.answers...)
			wh := &Webhooks{AuthToken: "tok"}
			resp, err := wh.Send(context.Background(), "", srv.URL+"/cb"+tt.fragment, url.Values{"A": {"1"}})
			require.NoError(t, err)
			assert.Equal(t, tt.wantStatus, resp.Status)
			assert.Equal(t, tt.wantHits, srv.count())
			srv.mu.Lock()
			defer srv.mu.Unlock()
			seen := map[string]bool{}
			for _, tok := range srv.tokens {
				assert.NotEmpty(t, tok, "every request carries I-Twilio-Idempotency-Token")
				assert.False(t, seen[tok], "each attempt carries a new token")
				seen[tok] = true
			}
		})
	}
}

func TestWebhookReadTimeoutGivesUp(t *testing.T) {
	srv := newServer(t, 0)
	wh := &Webhooks{AuthToken: "tok"}
	start := time.Now()
	_, err := wh.Send(context.Background(), "", srv.URL+"/slow#rt=200", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "read timeout")
	assert.Less(t, time.Since(start), 5*time.Second, "given up after rt, long before the 15 s default")
	assert.Equal(t, 1, srv.count(), "a read timeout is not retried by default (rp=ct)")

	srv2 := newServer(t, 0, 0, 200)
	resp, err := wh.Send(context.Background(), "", srv2.URL+"/slow#rt=150&rp=rt&rc=2", nil)
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status)
	assert.Equal(t, 3, srv2.count())

	srv3 := newServer(t, 0)
	start = time.Now()
	_, err = wh.Send(context.Background(), "", srv3.URL+"/slow#rt=300&tt=500&rp=rt&rc=5", nil)
	require.Error(t, err)
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.LessOrEqual(t, srv3.count(), 2, "tt bounds every attempt together: rc=5 never gets to its sixth attempt")
}

// failingDial is a transport that cannot connect, as a dead host.
type failingDial struct{ n atomic.Int32 }

func (f *failingDial) RoundTrip(*http.Request) (*http.Response, error) {
	f.n.Add(1)
	return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
}

func TestWebhookConnectFailureIsRetriedOnceByDefault(t *testing.T) {
	for _, tt := range []struct {
		fragment string
		want     int32
	}{{"", 2}, {"#rc=0", 1}, {"#rc=4", 5}, {"#rp=5xx&rc=4", 1}} {
		rt := &failingDial{}
		wh := &Webhooks{AuthToken: "tok", Client: &http.Client{Transport: rt}}
		_, err := wh.Send(context.Background(), "", "http://app.invalid/cb"+tt.fragment, nil)
		require.Error(t, err)
		assert.Equal(t, tt.want, rt.n.Load(), "fragment %q", tt.fragment)
	}
	// A real refused connection is classified the same way.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	wh := &Webhooks{AuthToken: "tok"}
	_, err = wh.Send(context.Background(), "", "http://"+addr+"/cb#ct=100", nil)
	require.Error(t, err)
}

// "these URL fragments do not make it into the signature computation": the request goes to the
// URL without its fragment and is signed over that URL.
func TestWebhookFragmentIsNeitherSentNorSigned(t *testing.T) {
	srv := newServer(t, 204)
	wh := &Webhooks{AuthToken: "tok"}
	params := url.Values{"CallSid": {"CA1"}}
	for _, method := range []string{"POST", "GET"} {
		_, err := wh.Send(context.Background(), method, srv.URL+"/cb?x=1#rc=2&rp=5xx", params)
		require.NoError(t, err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	require.Len(t, srv.paths, 2)
	assert.Equal(t, "/cb?x=1", srv.paths[0])
	assert.Equal(t, Sign("tok", srv.URL+"/cb?x=1", params), srv.sigs[0])
	assert.NotContains(t, srv.paths[1], "rc=")
	assert.Equal(t, Sign("tok", srv.URL+srv.paths[1], nil), srv.sigs[1])
}

func TestWebhookInvalidOverrideIsError11243AndDefaultIsUsed(t *testing.T) {
	srv := newServer(t, 503, 200)
	rec := &Recorder{}
	wh := &Webhooks{AuthToken: "tok", Recorder: rec}
	resp, err := wh.Send(WithSid(context.Background(), "CA1"), "", srv.URL+"/cb#rp=sometimes&rc=9&ct=50", nil)
	require.NoError(t, err)
	assert.Equal(t, 503, resp.Status, "the default policy (ct) does not retry a 5xx")
	assert.Equal(t, 1, srv.count())
	entries := rec.Entries("CA1")
	require.Len(t, entries, 3)
	params := map[string]bool{}
	for _, e := range entries {
		assert.Equal(t, "11243", e.Detail["error_code"])
		params[e.Detail["param"]] = true
	}
	assert.Equal(t, map[string]bool{"rp": true, "rc": true, "ct": true}, params)

	_, conn, bad := ParseConnection("https://a.example/x#ct=100&rt=15000&tt=100&rc=5&rp=rt,4xx&e=ie1")
	assert.Empty(t, bad)
	assert.Equal(t, Connection{ConnectTimeout: 100 * time.Millisecond, ReadTimeout: 15 * time.Second,
		TotalTime: 100 * time.Millisecond, RetryCount: 5, RetryPolicy: map[string]bool{"rt": true, "4xx": true}}, conn)
	_, _, bad = ParseConnection("https://a.example/x#ct=10001&rt=99&tt=15001&rc=-1")
	assert.Len(t, bad, 4)
}
