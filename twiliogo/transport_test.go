package twiliogo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"queuebridge/taskrouter"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestRewriteTransportKeepsThePath(t *testing.T) {
	tests := []struct{ base, in, want string }{
		{"http://127.0.0.1:8081", "https://taskrouter.twilio.com/v1/Workspaces?PageSize=50", "http://127.0.0.1:8081/v1/Workspaces?PageSize=50"},
		{"http://127.0.0.1:8081/", "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json", "http://127.0.0.1:8081/2010-04-01/Accounts/AC1/Calls.json"},
		{"https://sandbox.example.com/twilio/", "https://studio.twilio.com/v2/Flows", "https://sandbox.example.com/twilio/v2/Flows"},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			base, err := url.Parse(tt.base)
			require.NoError(t, err)
			var got *http.Request
			tr := &rewriteTransport{base: base, next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				got = r
				return httptest.NewRecorder().Result(), nil
			})}
			req := httptest.NewRequest(http.MethodGet, tt.in, nil)
			req.RequestURI = ""
			_, err = tr.RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.URL.String())
			assert.Empty(t, got.Host, "the Host header follows the rewritten URL")
			assert.Contains(t, tt.in, req.URL.Host, "the caller's request is not modified")
		})
	}
}

// TestFailuresAreClassifiedByTheHTTPStatus: the kind comes from the status Twilio (or a proxy)
// answered, whatever the body says or lacks.
func TestFailuresAreClassifiedByTheHTTPStatus(t *testing.T) {
	cases := []struct {
		name   string
		status int
		body   string
		want   taskrouter.FailureKind
	}{
		{"4xx with Twilio's body", 400, `{"code":21211,"message":"bad To","status":400}`, taskrouter.Permanent},
		{"5xx whose JSON lacks status", 502, `{"code":20500,"message":"bad gateway"}`, taskrouter.Retryable},
		{"5xx whose JSON says another status", 503, `{"code":20500,"message":"x","status":400}`, taskrouter.Retryable},
		{"4xx with a null body", 400, `null`, taskrouter.Permanent},
		{"5xx HTML page from a proxy", 502, `<html>Bad Gateway</html>`, taskrouter.Retryable},
		{"429", 429, `{"code":20429,"message":"Too Many Requests"}`, taskrouter.NotSent},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			t.Cleanup(srv.Close)
			c, err := New(Credentials{AccountSID: "AC00000000000000000000000000000001", AuthToken: "token"}, srv.URL, time.Second)
			require.NoError(t, err)
			_, err = (&API{Client: c}).PlaceCall(context.Background(), taskrouter.CallRequest{To: "+15005550101", From: "+15005550006", URL: "https://x"})
			var re *taskrouter.RemoteError
			require.ErrorAs(t, err, &re)
			assert.Equal(t, tc.want, re.Kind, "%v", err)
			assert.Equal(t, tc.status, re.Status)
			assert.NotContains(t, err.Error(), "(null)")
		})
	}
}
