// Package oaicheck checks the sandbox's answers against Twilio's own OpenAPI descriptions
// (twilio-oai, MIT, embedded under specs/): a test wraps the twilio-go client's transport in a
// Transport, and every response the sandbox gives is validated against the response schema of
// the operation it answers. It is used by tests only.
package oaicheck

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

//go:embed specs/*.json
var specs embed.FS

// Spec files, by the Twilio host whose paths they describe.
var specFiles = map[string]string{
	"api.twilio.com":        "specs/twilio_api_v2010.json",
	"taskrouter.twilio.com": "specs/twilio_taskrouter_v1.json",
	"studio.twilio.com":     "specs/twilio_studio_v2.json",
}

// Checker validates responses against the embedded specs.
type Checker struct {
	routers map[string]routers.Router
}

var (
	loadOnce sync.Once
	loaded   *Checker
	loadErr  error
)

// Load parses the embedded specs once per process.
func Load() (*Checker, error) {
	loadOnce.Do(func() {
		c := &Checker{routers: map[string]routers.Router{}}
		for host, file := range specFiles {
			data, err := specs.ReadFile(file)
			if err != nil {
				loadErr = err
				return
			}
			loader := openapi3.NewLoader()
			doc, err := loader.LoadFromData(data)
			if err != nil {
				loadErr = fmt.Errorf("%s: %w", file, err)
				return
			}
			// Route on path only: servers are Twilio's hosts, the sandbox is on loopback.
			// twilio-oai also names servers on every path and operation: drop those.
			doc.Servers = openapi3.Servers{{URL: "/"}}
			for _, item := range doc.Paths.Map() {
				item.Servers = nil
				for _, op := range item.Operations() {
					op.Servers = nil
				}
			}
			r, err := gorillamux.NewRouter(doc)
			if err != nil {
				loadErr = fmt.Errorf("%s: %w", file, err)
				return
			}
			c.routers[host] = r
		}
		loaded = c
	})
	return loaded, loadErr
}

// hostFor picks the spec by path, since the sandbox serves every API on one host.
func hostFor(path string) string {
	switch {
	case strings.HasPrefix(path, "/2010-04-01/"):
		return "api.twilio.com"
	case strings.HasPrefix(path, "/v1/Workspaces"):
		return "taskrouter.twilio.com"
	case strings.HasPrefix(path, "/v2/"):
		return "studio.twilio.com"
	}
	return ""
}

// Check validates one response body for the request that produced it. Requests to paths no
// spec describes are an error too, so a test notices an operation it did not mean to call.
func (c *Checker) Check(ctx context.Context, req *http.Request, status int, header http.Header, body []byte) error {
	host := hostFor(req.URL.Path)
	r, ok := c.routers[host]
	if !ok {
		return fmt.Errorf("oaicheck: no spec describes %s %s", req.Method, req.URL.Path)
	}
	probe := req.Clone(ctx)
	probe.URL = &url.URL{Path: req.URL.Path, RawQuery: req.URL.RawQuery}
	probe.Host = ""
	route, pathParams, err := r.FindRoute(probe)
	if err != nil {
		return fmt.Errorf("oaicheck: %s %s: %w", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: probe, PathParams: pathParams, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		},
		Status:  status,
		Header:  header,
		Options: &openapi3filter.Options{IncludeResponseStatus: false, MultiError: true},
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(ctx, in); err != nil {
		return fmt.Errorf("oaicheck: %s %s -> %d: %w", req.Method, req.URL.Path, status, err)
	}
	return nil
}

// Transport validates every 2xx response that passes through it; the failures are collected
// for the test to assert on (Failures), since twilio-go would hide a transport error's detail.
type Transport struct {
	Base    http.RoundTripper
	Checker *Checker

	mu       sync.Mutex
	failures []string
	checked  int
}

// RoundTrip forwards the request and checks the answer.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	checkErr := t.Checker.Check(req.Context(), req, resp.StatusCode, resp.Header, body)
	t.mu.Lock()
	t.checked++
	if checkErr != nil {
		t.failures = append(t.failures, checkErr.Error())
	}
	t.mu.Unlock()
	return resp, nil
}

// Failures returns every schema violation seen so far.
func (t *Transport) Failures() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]string(nil), t.failures...)
}

// Checked returns how many responses were validated.
func (t *Transport) Checked() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.checked
}

// Rewrite sends every request to Target's scheme and host, keeping the path and query: how a
// test points the twilio-go client (whose hosts are fixed) at an httptest server, as
// TWILIO_API_URL does for the bridge. Base nil is http.DefaultTransport.
type Rewrite struct {
	Target *url.URL
	Base   http.RoundTripper
}

// RoundTrip forwards a copy of the request to Target.
func (rw Rewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host, out.Host = rw.Target.Scheme, rw.Target.Host, rw.Target.Host
	base := rw.Base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(out)
}
