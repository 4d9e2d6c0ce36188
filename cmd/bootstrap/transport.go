package main

import (
	"net/http"
	"net/url"
)

// apiURLTransport sends every request to one base URL (TWILIO_API_URL), keeping the path and
// query: twilio-go's hosts are fixed (api., taskrouter., studio.twilio.com), so this is how the
// same client reaches the sandbox. The bridge has its twin; they merge later.
type apiURLTransport struct {
	base *url.URL
	next http.RoundTripper
}

func (t apiURLTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme = t.base.Scheme
	req.URL.Host = t.base.Host
	req.Host = t.base.Host
	if t.base.Path != "" && t.base.Path != "/" {
		req.URL.Path = t.base.Path + req.URL.Path
	}
	return t.next.RoundTrip(req)
}
