package twilioapi

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Connection is how Twilio connects to a webhook: its defaults and the overrides an
// application puts in the URL's fragment ("#ct=1000&rt=3000&rc=3&rp=5xx"), from
// https://www.twilio.com/docs/usage/webhooks/webhooks-connection-overrides.
type Connection struct {
	ConnectTimeout time.Duration // ct: 100–10000 ms, default 5000
	ReadTimeout    time.Duration // rt: 100–15000 ms, default 15000
	TotalTime      time.Duration // tt: 100–15000 ms, default 15000, retries included
	RetryCount     int           // rc: 0–5, default 1
	// RetryPolicy is what is retried (rp): "ct" (TCP connect or TLS handshake failure, the
	// default), "rt" (read timeout), "4xx", "5xx"; "all" is all four.
	RetryPolicy map[string]bool
}

// DefaultConnection is Twilio's default: connect 5 s, read 15 s, 15 s in all, one retry, on a
// connection failure only (a 5xx or a read timeout is not retried).
func DefaultConnection() Connection {
	return Connection{ConnectTimeout: 5 * time.Second, ReadTimeout: 15 * time.Second, TotalTime: 15 * time.Second,
		RetryCount: 1, RetryPolicy: map[string]bool{"ct": true}}
}

// OverrideError is an override the sandbox refused (Twilio's 11243 for rp; the same code is
// used for every out-of-range value): the default is used instead.
type OverrideError struct {
	Param, Value string
}

func (e OverrideError) Error() string {
	return fmt.Sprintf("11243: invalid connection override %s=%q: the default is used", e.Param, e.Value)
}

// ParseConnection splits rawURL into the URL Twilio requests and signs (without the fragment:
// "these URL fragments do not make it into the signature computation") and its connection
// settings. Invalid overrides are reported and replaced by their defaults; unknown fragment keys
// (e.g. e=, sni=) are ignored.
func ParseConnection(rawURL string) (target string, conn Connection, bad []OverrideError) {
	conn = DefaultConnection()
	base, frag, found := strings.Cut(rawURL, "#")
	if !found || frag == "" {
		return base, conn, nil
	}
	values, err := url.ParseQuery(frag)
	if err != nil {
		return base, conn, []OverrideError{{Param: "#", Value: frag}}
	}
	ms := func(name string, lo, hi int, into *time.Duration) {
		v := values.Get(name)
		if v == "" {
			return
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			bad = append(bad, OverrideError{Param: name, Value: v})
			return
		}
		*into = time.Duration(n) * time.Millisecond
	}
	ms("ct", 100, 10000, &conn.ConnectTimeout)
	ms("rt", 100, 15000, &conn.ReadTimeout)
	ms("tt", 100, 15000, &conn.TotalTime)
	if v := values.Get("rc"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 5 {
			bad = append(bad, OverrideError{Param: "rc", Value: v})
		} else {
			conn.RetryCount = n
		}
	}
	if v := values.Get("rp"); v != "" {
		if policy, ok := parseRetryPolicy(v); ok {
			conn.RetryPolicy = policy
		} else {
			bad = append(bad, OverrideError{Param: "rp", Value: v})
		}
	}
	return base, conn, bad
}

func parseRetryPolicy(v string) (map[string]bool, bool) {
	policy := map[string]bool{}
	for _, one := range strings.Split(v, ",") {
		switch one = strings.TrimSpace(one); one {
		case "ct", "rt", "4xx", "5xx":
			policy[one] = true
		case "all":
			for _, k := range []string{"ct", "rt", "4xx", "5xx"} {
				policy[k] = true
			}
		default:
			return nil, false
		}
	}
	return policy, true
}
