package app

import (
	"net/http"
	"time"
)

// Bounds of the HTTP server. Twilio's webhooks are small forms sent in one go and answered in
// milliseconds, and Twilio gives up on an answer after 15 s: a connection that trickles its
// request, or idles, is closed instead of holding a file descriptor for good, and the number of
// connections served at once stays well below the descriptors the process may open.
const (
	// readHeaderTimeout: a webhook's headers arrive in one write; 5 s is ample over any real
	// network and closes a connection that sends its headers a byte at a time (slowloris).
	readHeaderTimeout = 5 * time.Second
	// readTimeout bounds reading a whole request, headers and body: a body still arriving after
	// 10 s could not be answered within Twilio's 15 s webhook time-out anyway.
	readTimeout = 10 * time.Second
	// writeTimeout bounds handling and writing the answer (from the end of the headers): past
	// Twilio's 15 s time-out nobody reads it.
	writeTimeout = 15 * time.Second
	// idleTimeout closes a keep-alive connection with no request for 30 s. Idle connections are
	// also the first closed when the connection limit is reached (limitListener), so this only
	// bounds how long a descriptor lingers while there is room.
	idleTimeout = 30 * time.Second
	// maxHeaderBytes: Twilio's headers (signature, user agent, forwarding headers added by a
	// proxy) are far below 64 KiB; Go's default would let each connection send 1 MiB.
	maxHeaderBytes = 64 << 10
	// maxConnsCap caps the connections served at once: far above what Twilio's webhooks for a
	// contact centre need (a few per call in progress), low enough that a flood of held
	// connections costs bounded memory.
	maxConnsCap = 4096
	// minConns keeps a server usable under a tiny descriptor limit.
	minConns = 16
)

// ServerLimits bounds what HTTP connections may hold (time, header bytes, descriptors).
type ServerLimits struct {
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int
	// MaxConns bounds the connections served at once; more wait in the kernel's backlog until
	// one closes, and an idle keep-alive connection is closed to make room for them.
	MaxConns int
}

// DefaultServerLimits are the limits Serve uses: the constants above, and MaxConns half the
// process's descriptor limit (the other half is for SQLite, the connections to Twilio, the
// listener and logs), at most maxConnsCap.
func DefaultServerLimits() ServerLimits {
	return ServerLimits{
		ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout, WriteTimeout: writeTimeout,
		IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes, MaxConns: maxConnsFor(openFileLimit()),
	}
}

// maxConnsFor is the connection limit for a process that may open nofile descriptors (0: unknown).
func maxConnsFor(nofile uint64) int {
	if nofile == 0 || nofile/2 >= maxConnsCap {
		return maxConnsCap
	}
	return max(int(nofile/2), minConns)
}

// WithServerLimits replaces the HTTP server's limits (tests shorten them). Zero fields keep
// their defaults.
func WithServerLimits(l ServerLimits) Option { return func(b *build) { b.limits = l } }

// withDefaults fills l's zero fields from d.
func (l ServerLimits) withDefaults(d ServerLimits) ServerLimits {
	pick := func(v, def time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return def
	}
	l.ReadHeaderTimeout = pick(l.ReadHeaderTimeout, d.ReadHeaderTimeout)
	l.ReadTimeout = pick(l.ReadTimeout, d.ReadTimeout)
	l.WriteTimeout = pick(l.WriteTimeout, d.WriteTimeout)
	l.IdleTimeout = pick(l.IdleTimeout, d.IdleTimeout)
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxConns <= 0 {
		l.MaxConns = d.MaxConns
	}
	return l
}

// server is the HTTP server for h within these limits; ln tracks its idle connections.
func (l ServerLimits) server(h http.Handler, ln *limitListener) *http.Server {
	return &http.Server{
		Handler: h, ReadHeaderTimeout: l.ReadHeaderTimeout, ReadTimeout: l.ReadTimeout,
		WriteTimeout: l.WriteTimeout, IdleTimeout: l.IdleTimeout, MaxHeaderBytes: l.MaxHeaderBytes,
		ConnState: ln.track,
	}
}
