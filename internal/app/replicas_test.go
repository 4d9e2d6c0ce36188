package app_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/app"
	"queuebridge/internal/config"
	"queuebridge/internal/testkit"
	"queuebridge/store"
	"queuebridge/store/postgres"
	"queuebridge/store/postgres/pgtest"
	"queuebridge/taskrouter"
	"queuebridge/twiliogo"
)

func TestOpenStoreSelectsTheStoreByDatabaseURL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, in := range []string{filepath.Join(dir, "a.db"), "sqlite://" + filepath.Join(dir, "b.db")} {
		s, err := app.OpenStore(ctx, in, nil)
		require.NoError(t, err, in)
		assert.IsType(t, (*store.DB)(nil), s, "%s is SQLite", in)
		_, err = app.OpenStore(ctx, in, nil)
		assert.ErrorContains(t, err, "in use by another queuebridge process", "%s: one process per SQLite file", in)
		require.NoError(t, s.Close())
	}

	_, err := app.OpenStore(ctx, "mysql://app:s3cr3t@db/q", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DATABASE_URL")
	assert.Contains(t, err.Error(), "postgres://")
	assert.NotContains(t, err.Error(), "s3cr3t", "no password in an error")

	_, err = app.OpenStore(ctx, "postgres://app:s3cr3t@127.0.0.1:1/q?connect_timeout=2", nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "DATABASE_URL")
	assert.NotContains(t, err.Error(), "s3cr3t", "no password in an error")

	pg := pgtest.Schema(t)
	for _, in := range []string{pg, "postgresql://" + strings.TrimPrefix(pg, "postgres://")} {
		s, err := app.OpenStore(ctx, in, slog.New(slog.NewTextHandler(io.Discard, nil)))
		require.NoError(t, err, in)
		assert.IsType(t, (*postgres.DB)(nil), s, "%s is PostgreSQL", in)
		assert.Implements(t, (*app.Leader)(nil), s)
		assert.Implements(t, (*taskrouter.JobSignal)(nil), s)
		require.NoError(t, s.Close())
	}
}

// replica is one bridge serving on a loopback port over a database.
type replica struct {
	app   *app.App
	hooks testkit.Webhooks
	url   string
	stop  func()
}

// serveReplica serves a bridge over databaseURL and the fake Twilio tw until stop (or t's end).
func serveReplica(t *testing.T, tw *testkit.Twilio, databaseURL string, opts ...app.Option) *replica {
	t.Helper()
	opts = append([]app.Option{app.WithoutStartupChecks(), app.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	a, err := app.New(context.Background(), app.Config{
		Twilio:        config.Twilio{Credentials: twiliogo.Credentials{AccountSID: testkit.Account, AuthToken: testkit.Token}, APIURL: tw.URL},
		PublicBaseURL: publicBase, DatabaseURL: databaseURL,
		Options: taskrouter.Options{RetryBase: 5 * time.Millisecond, RetryMax: 50 * time.Millisecond},
	}, opts...)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- a.Serve(ctx, ln) }()
	stopped := false
	r := &replica{app: a, url: "http://" + ln.Addr().String()}
	r.hooks = testkit.Webhooks{Token: testkit.Token, Base: publicBase, URL: r.url}
	r.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		assert.NoError(t, testkit.Receive(t, served, 30*time.Second, "Serve to return"))
		assert.NoError(t, a.Close())
	}
	t.Cleanup(r.stop)
	return r
}

func (r *replica) ready(t *testing.T) int {
	t.Helper()
	resp, err := http.Get(r.url + "/readyz")
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// createdEvent is a reservation.created TaskRouter would send, with its event Sid.
func createdEvent() url.Values {
	return url.Values{
		"EventType": {"reservation.created"}, "Sid": {testkit.SID("EV")}, "AccountSid": {testkit.Account},
		"WorkspaceSid": {workspace}, "TaskSid": {testkit.SID("WT")}, "ReservationSid": {testkit.SID("WR")}, "WorkerSid": {testkit.SID("WK")},
		"TaskAttributes": {`{"from":"+15005550199","to":"+15005550006"}`}, "WorkerAttributes": {`{"contact_uri":"+15005550101"}`},
	}
}

// A replica that loses PostgreSQL answers webhooks 5xx and /readyz 503, so that Twilio's retry
// (through the load balancer) reaches another replica, which carries the work out; back, the
// first one answers a further retry of the same event 200 without doing the work again.
func TestAReplicaCutOffFromPostgresAnswers5xxAndAnotherServesTheRetry(t *testing.T) {
	pg := pgtest.Schema(t)
	proxy, via := pgtest.NewProxy(t, pg)
	tw := testkit.NewTwilio(t)
	a, b := serveReplica(t, tw, via+"&connect_timeout=2"), serveReplica(t, tw, pg)
	require.Equal(t, http.StatusOK, a.ready(t))

	proxy.Cut()
	ev := createdEvent()
	status, body := a.hooks.Post(t, "/taskrouter/events", ev)
	assert.GreaterOrEqual(t, status, 500, "cut off, the replica does not acknowledge: %s", body)
	require.Eventually(t, func() bool { return a.ready(t) == http.StatusServiceUnavailable }, 10*time.Second, 20*time.Millisecond,
		"/readyz fails while the database cannot be written")
	assert.Equal(t, http.StatusOK, b.ready(t))

	status, body = b.hooks.Post(t, "/taskrouter/events", ev) // Twilio's retry, through the load balancer
	require.Equal(t, http.StatusOK, status, body)
	require.Eventually(t, func() bool { return len(tw.Requests("create_call")) == 1 }, 10*time.Second, 5*time.Millisecond,
		"the other replica places the agent leg")

	proxy.Restore()
	require.Eventually(t, func() bool { return a.ready(t) == http.StatusOK }, 10*time.Second, 20*time.Millisecond, "ready again")
	status, body = a.hooks.Post(t, "/taskrouter/events", ev) // and another retry, to the first replica
	require.Equal(t, http.StatusOK, status, body)
	require.Eventually(t, func() bool { n, err := b.app.Store.PendingJobs(context.Background()); return err == nil && n == 0 },
		10*time.Second, 5*time.Millisecond)
	assert.Len(t, tw.Requests("create_call"), 1, "one agent leg for the reservation")
}

// The reconciler runs on one replica at a time, and on another when that one stops. Each
// replica talks to its own fake Twilio: whose receives the reconciler's requests shows who leads.
func TestTheReconcilerRunsOnOneReplicaAtATime(t *testing.T) {
	pg := pgtest.Schema(t)
	fast := app.WithReconcile(50*time.Millisecond, time.Millisecond)
	twA, twB := testkit.NewTwilio(t), testkit.NewTwilio(t)
	a := serveReplica(t, twA, pg, fast)
	b := serveReplica(t, twB, pg, fast)

	// A reservation ringing for ten minutes: overdue, so every pass asks TaskRouter about it.
	res, task, now := testkit.SID("WR"), testkit.SID("WT"), time.Now()
	for _, tw := range []*testkit.Twilio{twA, twB} {
		tw.Add("/v1/Workspaces/"+workspace+"/Tasks/"+task+"/Reservations", map[string]any{"sid": res, "reservation_status": "pending"})
	}
	r := taskrouter.Reservation{SID: res, TaskSID: task, WorkspaceSID: workspace, State: taskrouter.StateRinging,
		CallSID: testkit.SID("CA"), CallStatus: taskrouter.CallRinging, ContactURI: "+15005550101", CallerID: "+15005550006",
		CreatedAt: now.Add(-10 * time.Minute), UpdatedAt: now, Deadline: now.Add(time.Minute)}
	_, _, err := a.app.Store.UpdateReservation(context.Background(), res, task, "", func(taskrouter.Snapshot) (taskrouter.Change, error) {
		return taskrouter.Change{Reservation: &r}, nil
	})
	require.NoError(t, err)

	asked := func(tw *testkit.Twilio) int { return len(tw.Requests("fetch_reservation")) }
	require.Eventually(t, func() bool { return asked(twA) > 2 || asked(twB) > 2 }, 10*time.Second, 10*time.Millisecond, "a replica reconciles")
	leader, otherTw := a, twB
	if asked(twB) > asked(twA) {
		leader, otherTw = b, twA
	}
	before := asked(otherTw)
	assert.Never(t, func() bool { return asked(otherTw) > before }, time.Second, 20*time.Millisecond, "the other replica does not")

	leader.stop()
	start := time.Now()
	require.Eventually(t, func() bool { return asked(otherTw) > before }, 10*time.Second, 10*time.Millisecond,
		"the other replica takes over when the leader stops")
	t.Logf("reconciler takeover: %v", time.Since(start))
}
