package studio

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/twilio/twilio-go"

	"queuebridge/sandbox/clock"
	"queuebridge/sandbox/internal/oaicheck"
	"queuebridge/sandbox/internal/sandboxtest"
	"queuebridge/sandbox/internal/twilioapi"
)

// sandbox is an engine behind an httptest server, with a twilio-go client whose responses are
// checked against Twilio's OpenAPI description.
type sandbox struct {
	engine   *Engine
	server   *httptest.Server
	client   *twilio.RestClient
	check    *oaicheck.Transport
	recorder *twilioapi.Recorder
	clock    *clock.Manual
	webhooks *twilioapi.Webhooks
}

func newSandbox(t *testing.T) *sandbox {
	t.Helper()
	var base atomic.Value
	base.Store("")
	sb := &sandbox{recorder: &twilioapi.Recorder{}, clock: clock.NewManual(time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC))}
	sb.engine = New(Config{
		Clock:       sb.clock,
		Credentials: twilioapi.Credentials{AccountSid: sandboxtest.Account, AuthToken: sandboxtest.Token},
		Recorder:    sb.recorder,
		BaseURL:     func() string { return base.Load().(string) },
	})
	sb.server = httptest.NewServer(sb.engine.Handler())
	t.Cleanup(sb.server.Close)
	base.Store(sb.server.URL)

	sb.client, sb.check = sandboxtest.Client(t, sb.server.URL)
	sb.webhooks = &twilioapi.Webhooks{AuthToken: sandboxtest.Token}
	return sb
}

// assertContract fails the test when a response did not match Twilio's schema.
func (sb *sandbox) assertContract(t *testing.T) {
	t.Helper()
	require.Empty(t, sb.check.Failures())
	require.Positive(t, sb.check.Checked())
}

// call plays the Voice engine: a signed form POST with a call's parameters.
func (sb *sandbox) call(t *testing.T, rawURL string, params url.Values) *twilioapi.Response {
	t.Helper()
	resp, err := sb.webhooks.Send(context.Background(), http.MethodPost, rawURL, params)
	require.NoError(t, err)
	return resp
}

func callParams(callSid, from, to string, extra ...string) url.Values {
	v := url.Values{
		"CallSid": {callSid}, "AccountSid": {sandboxtest.Account}, "From": {from}, "To": {to},
		"Caller": {from}, "Called": {to}, "CallStatus": {"in-progress"}, "Direction": {"inbound"},
		"ApiVersion": {"2010-04-01"},
	}
	for i := 0; i+1 < len(extra); i += 2 {
		v.Set(extra[i], extra[i+1])
	}
	return v
}

// node is a parsed TwiML element; attributes are compared by name, never by order.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []node     `xml:",any"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n node) names() []string {
	out := make([]string, 0, len(n.Children))
	for _, c := range n.Children {
		out = append(out, c.XMLName.Local)
	}
	return out
}

func parseTwiML(t *testing.T, resp *twilioapi.Response) node {
	t.Helper()
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	require.True(t, strings.HasPrefix(resp.ContentType, "text/xml"), resp.ContentType)
	var doc node
	require.NoError(t, xml.Unmarshal(resp.Body, &doc), string(resp.Body))
	require.Equal(t, "Response", doc.XMLName.Local)
	return doc
}

// tryCall is call for other goroutines: it reports failures instead of stopping the test.
func (sb *sandbox) tryCall(rawURL string, params url.Values) (node, error) {
	resp, err := sb.webhooks.Send(context.Background(), http.MethodPost, rawURL, params)
	if err != nil {
		return node{}, err
	}
	if resp.Status != http.StatusOK {
		return node{}, fmt.Errorf("%s answered %d: %s", rawURL, resp.Status, resp.Body)
	}
	var doc node
	if err := xml.Unmarshal(resp.Body, &doc); err != nil {
		return node{}, fmt.Errorf("%s: %w", rawURL, err)
	}
	if len(doc.Children) == 0 {
		return node{}, fmt.Errorf("%s answered an empty Response", rawURL)
	}
	return doc, nil
}
