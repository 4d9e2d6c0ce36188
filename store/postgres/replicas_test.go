package postgres_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/store/postgres"
	"queuebridge/store/postgres/pgtest"
	"queuebridge/taskrouter"
)

// admin runs one statement on its own connection (the test's view of the server).
func admin(t *testing.T, databaseURL, query string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), databaseURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	_, err = conn.Exec(context.Background(), query, args...)
	require.NoError(t, err)
}

// queryInt runs a query returning one integer.
func queryInt(t *testing.T, databaseURL, query string, args ...any) int64 {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), databaseURL)
	require.NoError(t, err)
	defer conn.Close(context.Background())
	var n int64
	require.NoError(t, conn.QueryRow(context.Background(), query, args...).Scan(&n))
	return n
}

// created stores a new pending reservation with a dial job, as reservation.created does.
func created(t *testing.T, s taskrouter.Store) string {
	t.Helper()
	sid, task := testkit.SID("WR"), testkit.SID("WT")
	_, _, err := s.UpdateReservation(context.Background(), sid, task, testkit.SID("EV"), func(taskrouter.Snapshot) (taskrouter.Change, error) {
		now := time.Now()
		r := taskrouter.Reservation{SID: sid, TaskSID: task, WorkspaceSID: "WS1", State: taskrouter.StatePending,
			CreatedAt: now, UpdatedAt: now, Deadline: now.Add(2 * time.Minute)}
		return taskrouter.Change{Reservation: &r, Jobs: []taskrouter.Job{{Kind: taskrouter.JobDial}}}, nil
	})
	require.NoError(t, err)
	return sid
}

// Replicas starting together on a fresh schema: each migration is applied once, and every
// replica opens.
func TestMigrationsApplyOnceWhenReplicasStartTogether(t *testing.T) {
	url := pgtest.Schema(t)
	const replicas = 6
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			db, err := postgres.Open(context.Background(), url, postgres.WithLogger(quiet))
			if err == nil {
				db.Close()
			}
			errs[i] = err
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		assert.NoError(t, err, "replica %d", i)
	}
	assert.EqualValues(t, migrationCount(t), queryInt(t, url, `SELECT count(*) FROM schema_migrations`), "each migration applied once")
	assert.EqualValues(t, 1, queryInt(t, url, `SELECT count(*) FROM schema_migrations WHERE version = 1`))
}

// A rolling deploy: a newer replica applied a migration this binary does not know. This one
// still opens (the schema change was additive), and reopening keeps every row.
func TestOpensAfterANewerMigrationAndKeepsData(t *testing.T) {
	url := pgtest.Schema(t)
	db := open(t, url)
	sid := created(t, db)
	_, err := db.UpdateTask(context.Background(), "WT-canceled", "hangup", "", func(taskrouter.Snapshot) (taskrouter.Change, error) {
		return taskrouter.Change{}, nil
	})
	require.NoError(t, err)
	require.NoError(t, db.Close())
	admin(t, url, `ALTER TABLE reservations ADD COLUMN from_the_future TEXT NOT NULL DEFAULT ''`)
	admin(t, url, `INSERT INTO schema_migrations (version) VALUES (999)`)

	again := open(t, url)
	r, err := again.Reservation(context.Background(), sid)
	require.NoError(t, err)
	assert.Equal(t, taskrouter.StatePending, r.State)
	n, err := again.PendingJobs(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the job queued with the reservation is still there")
	var canceled string
	_, _, err = again.UpdateReservation(context.Background(), "WRx", "WT-canceled", "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		canceled = s.TaskCanceled
		return taskrouter.Change{}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, "hangup", canceled, "the canceled task is remembered")
	assert.EqualValues(t, migrationCount(t)+1, queryInt(t, url, `SELECT count(*) FROM schema_migrations`), "nothing applied again")
}

func TestOpenErrorsNameTheProblemWithoutThePassword(t *testing.T) {
	url := pgtest.Schema(t) // skips without a server, like every test here

	_, err := postgres.Open(context.Background(), "postgres://app:s3cr3t@127.0.0.1:1/test?connect_timeout=2", postgres.WithLogger(quiet))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "postgres://app:xxxxx@127.0.0.1:1/test")
	assert.NotContains(t, err.Error(), "s3cr3t", "no password in an error")

	_, err = postgres.Open(context.Background(), "postgres://app:s3cr3t@127.0.0.1:1/test?sslmode=bogus", postgres.WithLogger(quiet))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t", "no password in a parse error")

	missing := strings.Replace(url, "search_path=", "search_path=nope_", 1)
	_, err = postgres.Open(context.Background(), missing, postgres.WithLogger(quiet))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no schema of its search_path exists")
}

// A job queued through one store wakes the other's dispatcher through LISTEN/NOTIFY, in
// milliseconds; an update that queues nothing wakes nobody.
func TestJobsQueuedWakesAnotherStore(t *testing.T) {
	url := pgtest.Schema(t)
	a, b := open(t, url), open(t, url)
	ch := a.JobsQueued()
	testkit.Receive(t, a.Listening(), 10*time.Second, "the listener to start")
	testkit.Receive(t, ch, 5*time.Second, "the tick that follows a connection")

	start := time.Now()
	created(t, b)
	testkit.Receive(t, ch, 5*time.Second, "a tick for the job queued by the other store")
	t.Logf("queued on b → tick on a: %v (commit included)", time.Since(start))

	_, _, err := b.UpdateReservation(context.Background(), testkit.SID("WR"), testkit.SID("WT"), "", func(taskrouter.Snapshot) (taskrouter.Change, error) {
		return taskrouter.Change{}, nil
	})
	require.NoError(t, err)
	assert.Never(t, func() bool { return len(ch) > 0 }, 300*time.Millisecond, 10*time.Millisecond, "no job queued, no tick")
}

// A store's own commit that queued a job ticks its channel once, at the commit, not again when
// its own NOTIFY comes back through PostgreSQL (that second wake-up would be a claim and a
// look-up that find nothing); both ways of updating (pipelined and one statement at a time).
func TestAStoresOwnJobTicksOnceWithoutItsEcho(t *testing.T) {
	for name, opts := range map[string][]postgres.Option{"pipelined": nil, "one by one": {postgres.WithoutPipeline()}} {
		t.Run(name, func(t *testing.T) {
			url := pgtest.Schema(t)
			a, b := open(t, url, opts...), open(t, url)
			ch := a.JobsQueued()
			testkit.Receive(t, a.Listening(), 10*time.Second, "the listener to start")
			testkit.Receive(t, ch, 5*time.Second, "the tick that follows a connection")

			// Count the ticks as they come, so that two of them are not coalesced in the channel.
			var ticks atomic.Int32
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for {
					select {
					case <-ch:
						ticks.Add(1)
					case <-stop:
						return
					}
				}
			}()
			t.Cleanup(func() { close(stop); <-done })

			created(t, a)
			assert.Eventually(t, func() bool { return ticks.Load() == 1 }, time.Second, time.Millisecond, "the store's own commit ticks")
			assert.Never(t, func() bool { return ticks.Load() > 1 }, 300*time.Millisecond, 10*time.Millisecond,
				"its own notification does not tick again")
			created(t, b)
			assert.Eventually(t, func() bool { return ticks.Load() == 2 }, 5*time.Second, 5*time.Millisecond,
				"another store's job still ticks it")
		})
	}
}

// The listener's connection is killed: it reconnects, ticks (jobs queued meanwhile were not
// notified), and goes on receiving notifications.
func TestListenerReconnects(t *testing.T) {
	url := pgtest.Schema(t)
	a, b := open(t, url), open(t, url)
	ch := a.JobsQueued()
	testkit.Receive(t, a.Listening(), 10*time.Second, "the listener to start")
	testkit.Receive(t, ch, 5*time.Second, "the tick that follows a connection")

	require.EqualValues(t, 1, queryInt(t, url, `SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'queuebridge listener' AND query LIKE '%' || $1 || '%') AS killed`, a.Channel()),
		"the listener's session is found and ended")
	testkit.Receive(t, ch, 10*time.Second, "the tick after the listener reconnected")
	created(t, b)
	testkit.Receive(t, ch, 5*time.Second, "a tick for a job queued after the reconnection")
}

// leader runs Lead on a store with a function that records whether it leads.
type leader struct {
	leading atomic.Bool
	led     atomic.Int32 // how many times it became leader
	stop    context.CancelFunc
	done    chan struct{}
}

func lead(db *postgres.DB) *leader {
	ctx, cancel := context.WithCancel(context.Background())
	l := &leader{stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		db.Lead(ctx, func(ctx context.Context) {
			l.led.Add(1)
			l.leading.Store(true)
			<-ctx.Done()
			l.leading.Store(false)
		})
	}()
	return l
}

// One replica leads at a time; when the leader is cut off from PostgreSQL (dead, or its network
// gone), its session ends and another replica takes over within seconds, while the old leader
// stops.
func TestLeadershipMovesWhenTheLeaderDies(t *testing.T) {
	url := pgtest.Schema(t)
	proxy, via := pgtest.NewProxy(t, url)
	a, b := open(t, via+"&connect_timeout=2"), open(t, url)
	la := lead(a)
	require.Eventually(t, func() bool { return la.leading.Load() }, 10*time.Second, 10*time.Millisecond, "a replica alone leads")
	lb := lead(b)
	t.Cleanup(func() {
		la.stop()
		lb.stop()
		<-la.done
		<-lb.done
	})
	assert.Never(t, func() bool { return lb.leading.Load() }, 2*postgres.LeaderRetry+500*time.Millisecond, 20*time.Millisecond,
		"one leader at a time")

	start := time.Now()
	proxy.Cut()
	require.Eventually(t, func() bool { return lb.leading.Load() }, 10*time.Second, 10*time.Millisecond, "the other replica takes over")
	takeover := time.Since(start)
	t.Logf("leadership takeover after the leader was cut off: %v", takeover)
	assert.Less(t, takeover, 2*postgres.LeaderRetry+time.Second, "within a retry or two")
	require.Eventually(t, func() bool { return !la.leading.Load() }, 5*time.Second, 10*time.Millisecond, "the old leader stops")

	// The new leader shuts down: the first one, reachable again, leads again.
	proxy.Restore()
	lb.stop()
	<-lb.done
	require.Eventually(t, func() bool { return la.leading.Load() }, 10*time.Second, 10*time.Millisecond)
	assert.EqualValues(t, 2, la.led.Load())
}

// PostgreSQL becomes unreachable: Ping (/readyz) and writes fail; reachable again, both succeed.
func TestPingFailsWhileTheDatabaseIsUnreachable(t *testing.T) {
	url := pgtest.Schema(t)
	proxy, via := pgtest.NewProxy(t, url)
	db := open(t, via+"&connect_timeout=2")
	require.NoError(t, db.Ping(context.Background()))
	proxy.Cut()
	_, _, err := db.UpdateReservation(context.Background(), testkit.SID("WR"), testkit.SID("WT"), testkit.SID("EV"),
		func(taskrouter.Snapshot) (taskrouter.Change, error) { return taskrouter.Change{}, nil })
	require.Error(t, err, "a write fails")
	require.Eventually(t, func() bool { return db.Ping(context.Background()) != nil }, 10*time.Second, 20*time.Millisecond,
		"Ping fails while the database cannot be reached")
	assert.ErrorContains(t, db.Ping(context.Background()), "database writes fail")

	proxy.Restore()
	require.Eventually(t, func() bool { return db.Ping(context.Background()) == nil }, 10*time.Second, 20*time.Millisecond,
		"Ping succeeds again")
	created(t, db)
}

// Jobs claimed by a replica that died are claimed by another once their lease ends.
func TestDeadReplicasJobsAreClaimedAfterTheirLease(t *testing.T) {
	url := pgtest.Schema(t)
	a, b := open(t, url), open(t, url)
	created(t, a)
	const lease = 300 * time.Millisecond
	jobs, err := a.ClaimJobs(context.Background(), time.Now(), lease, 10)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	require.NoError(t, a.Close()) // a dies, the job running

	none, err := b.ClaimJobs(context.Background(), time.Now(), lease, 10)
	require.NoError(t, err)
	assert.Empty(t, none, "the lease holds")
	var again []taskrouter.Job
	require.Eventually(t, func() bool {
		again, err = b.ClaimJobs(context.Background(), time.Now(), lease, 10)
		return err == nil && len(again) == 1
	}, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, jobs[0].ID, again[0].ID)
	assert.Equal(t, 1, again[0].Attempts, fmt.Sprint("the dead replica's run counts: ", again[0].Attempts))
}

// migrationCount is how many migrations this binary embeds.
func migrationCount(t *testing.T) int {
	t.Helper()
	names, err := fs.Glob(os.DirFS("migrations"), "*.sql")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	return len(names)
}
