package operator

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"strings"
)

// Access says who may open the page. The page is read-only, but it shows callers' numbers
// (masked by default), agents and outcomes: it is closed unless a token is configured, or, in
// sandbox mode without a token, to anyone but the machine itself.
type Access struct {
	// Token is the operator token (OPERATOR_TOKEN). Empty: no token opens the page.
	Token string
	// OpenOnLoopback lets loopback requests in without a token (sandbox mode with no token set).
	OpenOnLoopback bool
	// SecureCookie marks the login cookie Secure: the page is reached over https.
	SecureCookie bool
	// PublicHost is the host of PUBLIC_BASE_URL: a login form posted from there is ours, also
	// behind a proxy that changes the Host header.
	PublicHost string
}

// CookieName is the login cookie's name.
const CookieName = "queuebridge_operator"

// MinTokenLength is the shortest operator token accepted: long enough that guessing is hopeless.
const MinTokenLength = 16

// sessionValue is what the login cookie holds: derived from the token, so the cookie does not
// carry the token itself, and changing the token logs every page out.
func (a Access) sessionValue() string {
	mac := hmac.New(sha256.New, []byte(a.Token))
	mac.Write([]byte("queuebridge operator session v1"))
	return hex.EncodeToString(mac.Sum(nil))
}

// tokenMatches compares a token in constant time (over hashes, so the length leaks nothing either).
func (a Access) tokenMatches(given string) bool {
	if a.Token == "" || given == "" {
		return false
	}
	want, got := sha256.Sum256([]byte(a.Token)), sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

// Allowed reports whether the request may see the page (and the other read-only operator
// routes): see allowed.
func (a Access) Allowed(r *http.Request) bool { return a.allowed(r) }

// allowed reports whether the request may see the page: the token as a bearer header, the login
// cookie, or, when open on loopback, a request from and addressed to the machine itself.
func (a Access) allowed(r *http.Request) bool {
	if a.Token != "" {
		if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && a.tokenMatches(strings.TrimSpace(bearer)) {
			return true
		}
		if c, err := r.Cookie(CookieName); err == nil {
			want := a.sessionValue()
			return subtle.ConstantTimeCompare([]byte(c.Value), []byte(want)) == 1
		}
		return false
	}
	return a.OpenOnLoopback && loopbackRequest(r)
}

// loopbackRequest reports whether the request comes from the loopback interface and names a
// loopback host: a page on another site that resolves its own name to 127.0.0.1 (DNS
// rebinding) sends its own Host and is refused.
func loopbackRequest(r *http.Request) bool {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return false
	}
	name := r.Host
	if h, _, err := net.SplitHostPort(name); err == nil {
		name = h
	}
	name = strings.Trim(name, "[]")
	if strings.EqualFold(name, "localhost") {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin refuses a form posted from another site (login CSRF): a browser sends Origin with
// every POST; a missing one is a client that is not a browser.
func (a Access) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" || origin == "null" {
		return origin == ""
	}
	_, host, ok := strings.Cut(origin, "://")
	return ok && (strings.EqualFold(host, r.Host) || (a.PublicHost != "" && strings.EqualFold(host, a.PublicHost)))
}
