package handlers

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"hash"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// signer checks X-Twilio-Signature as twilio-go's client.RequestValidator does (HMAC-SHA1 of
// the URL followed by each POST parameter's name and value, sorted by name; the URL tried with
// and without its port), and also over every value of a repeated key as Twilio signs them, with the work done once that can be: the two forms of
// PUBLIC_BASE_URL are computed at start, and the HMAC states are reused. Every webhook pays
// for this check, so it is on the hot path.
type signer struct {
	bases [2]string // PUBLIC_BASE_URL with its default port, and without
	pool  sync.Pool // of hash.Hash (HMAC-SHA1 keyed with the auth token)
}

func newSigner(authToken, base string) *signer {
	s := &signer{bases: [2]string{base, base}}
	s.pool.New = func() any { return hmac.New(sha1.New, []byte(authToken)) }
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return s
	}
	host, port := u.Hostname(), u.Port()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	prefix := u.Scheme + "://"
	if u.User != nil {
		prefix += u.User.String() + "@"
	}
	rest := strings.TrimPrefix(base, prefix+u.Host)
	if port == "" {
		port = map[string]string{"https": "443", "http": "80"}[u.Scheme]
	}
	s.bases = [2]string{prefix + host + ":" + port + rest, prefix + host + rest}
	return s
}

// valid reports whether sig signs a POST of form to PUBLIC_BASE_URL + requestURI.
func (s *signer) valid(requestURI string, form url.Values, sig string) bool {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	mac := s.pool.Get().(hash.Hash)
	defer s.pool.Put(mac)
	var sum [sha1.Size]byte
	var enc [28]byte // base64 of 20 bytes
	ok := 0
	for _, base := range s.bases {
		mac.Reset()
		mac.Write([]byte(base))
		mac.Write([]byte(requestURI))
		for _, k := range keys {
			vals := form[k]
			if len(vals) > 1 {
				// Twilio signs every value of a repeated key, sorted (twilio-go's validator
				// keeps only the first; this is where the two differ).
				vals = slices.Sorted(slices.Values(vals))
			}
			for _, v := range vals {
				mac.Write([]byte(k))
				mac.Write([]byte(v))
			}
		}
		base64.StdEncoding.Encode(enc[:], mac.Sum(sum[:0]))
		ok |= subtle.ConstantTimeCompare(enc[:], []byte(sig))
	}
	return ok == 1
}
