package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestAPIURLTransportKeepsThePath(t *testing.T) {
	tests := []struct{ base, in, want string }{
		{"http://127.0.0.1:8081", "https://taskrouter.twilio.com/v1/Workspaces?PageSize=50", "http://127.0.0.1:8081/v1/Workspaces?PageSize=50"},
		{"http://127.0.0.1:8081/", "https://api.twilio.com/2010-04-01/Accounts/AC1/Calls.json", "http://127.0.0.1:8081/2010-04-01/Accounts/AC1/Calls.json"},
		{"https://sandbox.example.com/twilio/", "https://studio.twilio.com/v2/Flows", "https://sandbox.example.com/twilio/v2/Flows"},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			base, err := parseBaseURL(tt.base)
			require.NoError(t, err)
			var got *http.Request
			tr := apiURLTransport{base: base, next: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				got = r
				return httptest.NewRecorder().Result(), nil
			})}
			req := httptest.NewRequest(http.MethodGet, tt.in, nil)
			req.RequestURI = ""
			_, err = tr.RoundTrip(req)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got.URL.String())
			assert.Equal(t, got.URL.Host, got.Host)
			assert.Contains(t, tt.in, req.URL.Host, "the caller's request is not modified")
		})
	}
}

func TestAPIKeyAuthenticatesAndTheAccountStaysInPaths(t *testing.T) {
	b := newBootstrapTest(t)
	b.env["TWILIO_API_KEY"] = "SK0123456789abcdef0123456789abcdef"
	b.env["TWILIO_API_SECRET"] = "secret0123"
	b.env["TWILIO_AUTH_TOKEN"] = ""
	_, _, err := b.run("", "apply", "--yes")
	require.NoError(t, err)
	assert.Equal(t, map[string]bool{"SK0123456789abcdef0123456789abcdef": true}, b.twilio.users)
	assert.Contains(t, b.twilio.Writes(), "POST /2010-04-01/Accounts/"+testAccount+"/IncomingPhoneNumbers/PN0123456789abcdef0123456789abcdef.json")
}
