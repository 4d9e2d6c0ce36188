package app

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/config"
	"queuebridge/internal/testkit"
	"queuebridge/twiliogo"
)

const testPublicURL = "https://bridge.example.com"

// serveTestApp serves an app over the kit's fake Twilio with these limits on a loopback port
// and returns its URL; everything stops in t.Cleanup.
func serveTestApp(t *testing.T, limits ServerLimits) string {
	t.Helper()
	tw := testkit.NewTwilio(t)
	a, err := New(context.Background(), Config{
		Twilio:        config.Twilio{Credentials: twiliogo.Credentials{AccountSID: testkit.Account, AuthToken: testkit.Token}, APIURL: tw.URL},
		PublicBaseURL: testPublicURL, DatabaseURL: filepath.Join(t.TempDir(), "qb.db"),
	}, WithoutStartupChecks(), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), WithServerLimits(limits))
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, testkit.Receive(t, served, 30*time.Second, "Serve to return"))
		assert.NoError(t, a.Close())
	})
	return "http://" + ln.Addr().String()
}

// heldConn is a connection the test opens and never finishes; answered is closed at the first
// byte the server sends, closed receives when the server closed it (a read returned EOF or an
// error), as the time since the test started.
type heldConn struct {
	conn     net.Conn
	answered chan struct{}
	closed   chan time.Duration
}

// hold dials addr, writes first, then reads until the server closes the connection.
func hold(t *testing.T, addr, first string, start time.Time) *heldConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = io.WriteString(c, first)
	require.NoError(t, err)
	h := &heldConn{conn: c, answered: make(chan struct{}), closed: make(chan time.Duration, 1)}
	go func() {
		r := bufio.NewReader(c)
		if _, err := r.Peek(1); err == nil {
			close(h.answered)
			_, _ = io.Copy(io.Discard, r) // until EOF or reset
		}
		h.closed <- time.Since(start)
	}()
	return h
}

// probe is one request made while connections are held: its status and how long it took.
type probe struct {
	status int
	took   time.Duration
	err    error
}

// probeLoop sends send() every interval until stop is closed, recording each answer.
func probeLoop(stop <-chan struct{}, interval time.Duration, send func() (int, error)) <-chan []probe {
	out := make(chan []probe, 1)
	go func() {
		var got []probe
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			begin := time.Now()
			status, err := send()
			got = append(got, probe{status, time.Since(begin), err})
			select {
			case <-stop:
				out <- got
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// heldConnCount is how many connections the slow-connection test holds: 400, fewer when the
// descriptor limit (each held connection costs this process two: client and server side)
// would not leave room for the rest of the test.
func heldConnCount(t *testing.T) int {
	n := 400
	if limit := openFileLimit(); limit > 0 {
		n = min(n, int(limit)/2-128)
	}
	if n < 100 {
		t.Skipf("descriptor limit %d leaves room for only %d held connections", openFileLimit(), n)
	}
	return n
}

// TestSlowConnectionsAreClosedWhileHealthzAnswers holds hundreds of connections that trickle a
// request body or idle on keep-alive, beyond the connection limit, and checks that /healthz and
// signed webhooks keep answering and that the server closes every held connection within its
// time-outs.
func TestSlowConnectionsAreClosedWhileHealthzAnswers(t *testing.T) {
	limits := ServerLimits{ReadHeaderTimeout: 500 * time.Millisecond, ReadTimeout: time.Second,
		WriteTimeout: 2 * time.Second, IdleTimeout: time.Second, MaxConns: 100}
	base := serveTestApp(t, limits)
	addr := strings.TrimPrefix(base, "http://")
	n := heldConnCount(t)
	start := time.Now()

	stop := make(chan struct{})
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	health := probeLoop(stop, 100*time.Millisecond, func() (int, error) {
		resp, err := client.Get(base + "/healthz")
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	})
	hooks := testkit.Webhooks{Token: testkit.Token, Base: testPublicURL}
	webhooks := probeLoop(stop, 100*time.Millisecond, func() (int, error) {
		s := hooks.Sign("/taskrouter/events", url.Values{"Sid": {testkit.SID("EV")}, "EventType": {"task.created"},
			"AccountSid": {testkit.Account}})
		req, _ := http.NewRequest(http.MethodPost, base+s.Target, strings.NewReader(s.Body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", s.Signature)
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	})

	slowBody := "POST /taskrouter/events HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\n" +
		"X-Twilio-Signature: x\r\nContent-Length: 4096\r\n\r\nEventType="
	keepAlive := "GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\n\r\n"
	held := make([]*heldConn, 0, n)
	for i := range n {
		first := keepAlive
		if i%2 == 0 {
			first = slowBody
		}
		held = append(held, hold(t, addr, first, start))
	}
	trickleDone := trickle(stop, held, 200*time.Millisecond)

	// Every held connection is closed by the server: a slow body within ReadTimeout of being
	// served, an idle one within IdleTimeout or sooner to make room; those beyond the limit wait
	// their turn, so the bound is the number of rounds the limit allows.
	rounds := (n + limits.MaxConns - 1) / limits.MaxConns
	bound := time.Duration(rounds)*limits.ReadTimeout + limits.IdleTimeout + 3*time.Second
	var closedAt []time.Duration
	for i, h := range held {
		select {
		case d := <-h.closed:
			closedAt = append(closedAt, d)
		case <-time.After(time.Until(start.Add(bound))):
			close(stop)
			t.Fatalf("held connection %d of %d still open %s after it was opened (%d closed)", i, n, bound, len(closedAt))
		}
	}
	time.Sleep(300 * time.Millisecond) // a few probes after the flood, too
	close(stop)
	<-trickleDone
	hp, wp := <-health, <-webhooks

	maxWait := time.Duration(rounds)*limits.ReadTimeout + time.Second
	checkProbes(t, "/healthz", hp, maxWait)
	checkProbes(t, "signed webhook", wp, maxWait)
	t.Logf("%d held connections (%d slow bodies, %d idle keep-alives), limit %d: all closed by the server, the last after %s",
		n, (n+1)/2, n/2, limits.MaxConns, slices.Max(closedAt).Round(time.Millisecond))
}

// trickle writes one more body byte to every other held connection (the slow bodies) each
// interval until stop: a trickling client must not extend ReadTimeout.
func trickle(stop <-chan struct{}, held []*heldConn, interval time.Duration) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for i := 0; i < len(held); i += 2 {
				held[i].conn.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
				_, _ = held[i].conn.Write([]byte("x"))
			}
		}
	}()
	return done
}

// checkProbes asserts every probe answered 200 within maxWait, and logs their latencies.
func checkProbes(t *testing.T, what string, probes []probe, maxWait time.Duration) {
	t.Helper()
	require.NotEmpty(t, probes)
	var took []time.Duration
	for i, p := range probes {
		assert.NoError(t, p.err, "%s probe %d", what, i)
		assert.Equal(t, http.StatusOK, p.status, "%s probe %d", what, i)
		assert.LessOrEqual(t, p.took, maxWait, "%s probe %d", what, i)
		took = append(took, p.took)
	}
	slices.Sort(took)
	t.Logf("%s under load: %d probes, all %d; latency p50 %s, p90 %s, max %s", what, len(took), http.StatusOK,
		took[len(took)/2].Round(time.Millisecond), took[len(took)*9/10].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
}

// TestIdleConnectionMakesRoom fills the connection limit with idle keep-alive connections
// (their idle time-out far away): a new connection is served at once, an idle one closed.
func TestIdleConnectionMakesRoom(t *testing.T) {
	limits := ServerLimits{IdleTimeout: time.Minute, MaxConns: 4}
	base := serveTestApp(t, limits)
	addr := strings.TrimPrefix(base, "http://")
	start := time.Now()
	var idle []*heldConn
	for range limits.MaxConns {
		h := hold(t, addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", start)
		idle = append(idle, h)
	}
	for i, h := range idle {
		testkit.Receive(t, h.answered, 5*time.Second, fmt.Sprintf("the answer on idle connection %d", i))
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 3 {
		begin := time.Now()
		resp, err := client.Get(base + "/healthz")
		require.NoError(t, err, "healthz %d with the limit full of idle connections", i)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
		t.Logf("healthz %d: %s", i, time.Since(begin).Round(time.Microsecond))
	}
	closed := 0
	for _, h := range idle {
		select {
		case <-h.closed:
			closed++
		case <-time.After(time.Second):
		}
	}
	assert.GreaterOrEqual(t, closed, 1, "an idle connection was closed to make room")
}

func TestMaxConnsFollowsTheDescriptorLimit(t *testing.T) {
	assert.Equal(t, maxConnsCap, maxConnsFor(0), "unknown limit")
	assert.Equal(t, 512, maxConnsFor(1024), "half of 1,024")
	assert.Equal(t, maxConnsCap, maxConnsFor(1<<20), "capped")
	assert.Equal(t, minConns, maxConnsFor(8), "floor")
	d := DefaultServerLimits()
	assert.Equal(t, readTimeout, d.ReadTimeout)
	assert.Equal(t, idleTimeout, d.IdleTimeout)
	assert.Equal(t, maxHeaderBytes, d.MaxHeaderBytes)
}
