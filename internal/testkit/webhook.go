package testkit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"

	"queuebridge/sandbox/twiliosig"
)

// Webhooks posts forms signed as Twilio signs its webhooks: over Base (the application's
// public URL, PUBLIC_BASE_URL) plus the target, with Token. They go to Handler, in process,
// when it is set, else to the server at URL.
type Webhooks struct {
	Token   string
	Base    string
	Handler http.Handler
	URL     string
}

// Signed is a webhook ready to send: built and signed ahead (before a benchmark's clock starts).
type Signed struct {
	Target    string // path and query, e.g. /dial-queue?reservation=WR…
	Body      string // the encoded form
	Signature string // X-Twilio-Signature; "" sends none
}

// Sign builds the webhook for target with the signature Twilio would send.
func (wh Webhooks) Sign(target string, form url.Values) Signed {
	return Signed{Target: target, Body: form.Encode(), Signature: twiliosig.Sign(wh.Token, wh.Base+target, form)}
}

// Post signs and sends a form POST to target and returns the answer's status and body.
func (wh Webhooks) Post(t TB, target string, form url.Values) (int, string) {
	t.Helper()
	return wh.Send(t, wh.Sign(target, form))
}

// PostSigned sends a form POST to target with the signature given ("" for none): forged,
// missing, or signed over another URL.
func (wh Webhooks) PostSigned(t TB, target string, form url.Values, signature string) (int, string) {
	t.Helper()
	return wh.Send(t, Signed{Target: target, Body: form.Encode(), Signature: signature})
}

// Send sends a signed webhook and returns the answer's status and body. It may be called from
// any goroutine: a request that cannot be sent is reported with t.Errorf (never FailNow) and
// answers status 0.
func (wh Webhooks) Send(t TB, s Signed) (int, string) {
	t.Helper()
	if wh.Handler != nil {
		rec := httptest.NewRecorder()
		wh.Handler.ServeHTTP(rec, s.request(httptest.NewRequest(http.MethodPost, s.Target, strings.NewReader(s.Body))))
		return rec.Code, rec.Body.String()
	}
	req, err := http.NewRequest(http.MethodPost, wh.URL+s.Target, strings.NewReader(s.Body))
	if err == nil {
		var resp *http.Response
		if resp, err = http.DefaultClient.Do(s.request(req)); err == nil {
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(body)
		}
	}
	t.Errorf("webhook %s: %v", s.Target, err)
	return 0, ""
}

func (s Signed) request(req *http.Request) *http.Request {
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if s.Signature != "" {
		req.Header.Set("X-Twilio-Signature", s.Signature)
	}
	return req
}
