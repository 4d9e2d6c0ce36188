package app

import (
	"net"
	"net/http"
	"sync"
)

// limitListener serves at most max connections at once. When all slots are taken it accepts the
// next connection, closes an idle keep-alive connection (one between requests) to make room, or
// else waits until a connection ends: the server's time-outs end held connections (a slow body
// within ReadTimeout, an idle one within IdleTimeout), so waiting is bounded. Connections beyond
// the limit wait in the kernel's backlog, not in descriptors of this process.
//
// Closing an idle connection races with a request just arriving on it, exactly as the server's
// own IdleTimeout and Shutdown do; HTTP clients send such a request again on a new connection.
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once

	mu   sync.Mutex
	idle map[*limitConn]struct{}
	// becameIdle wakes an Accept waiting for a slot when a connection turns idle.
	becameIdle chan struct{}
}

func newLimitListener(ln net.Listener, max int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), done: make(chan struct{}),
		idle: make(map[*limitConn]struct{}), becameIdle: make(chan struct{}, 1)}
}

// Accept returns the next connection once it has a slot.
func (l *limitListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if !l.acquire() {
		c.Close()
		return nil, net.ErrClosed
	}
	return &limitConn{Conn: c, l: l}, nil
}

// acquire takes a slot, closing an idle connection when none is free (at once, or as soon as
// one finishes its request); false once the listener is closed.
func (l *limitListener) acquire() bool {
	for {
		select {
		case l.slots <- struct{}{}:
			return true
		default:
		}
		if l.closeIdle() {
			continue
		}
		select {
		case l.slots <- struct{}{}:
			return true
		case <-l.becameIdle:
		case <-l.done:
			return false
		}
	}
}

// closeIdle closes one idle connection, if any: its slot is free when Close returns.
func (l *limitListener) closeIdle() bool {
	l.mu.Lock()
	var victim *limitConn
	for c := range l.idle {
		victim = c
		delete(l.idle, c)
		break
	}
	l.mu.Unlock()
	if victim == nil {
		return false
	}
	victim.Close()
	return true
}

// track follows the server's connection states (http.Server.ConnState): idle connections may
// be closed to make room.
func (l *limitListener) track(c net.Conn, state http.ConnState) {
	lc, ok := c.(*limitConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if state == http.StateIdle && !lc.closed {
		l.idle[lc] = struct{}{}
		select {
		case l.becameIdle <- struct{}{}:
		default:
		}
	} else {
		delete(l.idle, lc)
	}
}

// Close stops accepting and releases an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// limitConn gives its slot back when closed (once, whoever closes it first).
type limitConn struct {
	net.Conn
	l    *limitListener
	once sync.Once
	// closed is set, under l.mu, when the connection is closed: it is never idle again.
	closed bool
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.l.mu.Lock()
		c.closed = true
		delete(c.l.idle, c)
		c.l.mu.Unlock()
		<-c.l.slots
	})
	return err
}
