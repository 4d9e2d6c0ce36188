package twiliogo

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

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
