package twilioapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
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

// Webhooks sends signed form POSTs (and GETs) the way Twilio calls an application.
type Webhooks struct {
	AuthToken string
	Client    *http.Client
	UserAgent string
}

// Response is what an application answered to a webhook.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
}

// Send delivers params to rawURL with method (POST by default; GET puts them in the query),
// signed with the auth token, and returns the answer. A transport error or a timeout is returned
// as an error; any HTTP status is a Response.
func (w *Webhooks) Send(ctx context.Context, method, rawURL string, params url.Values) (*Response, error) {
	if method == "" {
		method = http.MethodPost
	}
	method = strings.ToUpper(method)
	target := rawURL
	var body io.Reader
	signParams := params
	if method == http.MethodGet {
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, fmt.Errorf("webhook url %q: %w", rawURL, err)
		}
		q := u.Query()
		for k, vs := range params {
			for _, v := range vs {
				q.Add(k, v)
			}
		}
		u.RawQuery = q.Encode()
		target = u.String()
		signParams = nil
	} else {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return nil, fmt.Errorf("webhook %s %s: %w", method, rawURL, err)
	}
	if method != http.MethodGet {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("X-Twilio-Signature", Sign(w.AuthToken, target, signParams))
	ua := w.UserAgent
	if ua == "" {
		ua = "TwilioProxy/1.1"
	}
	req.Header.Set("User-Agent", ua)
	client := w.Client
	if client == nil {
		client = &http.Client{Timeout: 15 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("webhook %s %s: %w", method, rawURL, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("webhook %s %s: reading answer: %w", method, rawURL, err)
	}
	return &Response{Status: resp.StatusCode, ContentType: resp.Header.Get("Content-Type"), Body: data}, nil
}
