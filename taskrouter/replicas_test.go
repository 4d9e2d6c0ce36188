package taskrouter_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/store/postgres"
	"queuebridge/store/postgres/pgtest"
	"queuebridge/taskrouter"
)

// dyingStore is a replica's view of a shared store; once dead, the replica writes nothing more
// (here: it no longer extends its leases), as a process that died.
type dyingStore struct {
	*postgres.DB
	dead atomic.Bool
}

func (s *dyingStore) ExtendLeases(ctx context.Context, ids []int64, until time.Time) error {
	if s.dead.Load() {
		return errors.New("this replica is dead")
	}
	return s.DB.ExtendLeases(ctx, ids, until)
}

func openShared(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url, postgres.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// Replica A marks a reservation dialing and sends Calls.create, which Twilio carries out, then
// dies before the answer. Replica B claims the dial job when A's lease ends and, finding the
// reservation dialing without a leg, follows the restart's recovery rules: it waits for the leg
// to report, looks the call up, and adopts A's leg. It never places a second call.
func TestAnotherReplicaRecoversADeadReplicasDialWithoutRedialing(t *testing.T) {
	url := pgtest.Schema(t)
	a := &dyingStore{DB: openShared(t, url)}
	b := openShared(t, url)
	leg := testkit.SID("CA")
	entered, release := make(chan time.Time, 1), make(chan struct{})
	twA := &fakeTwilio{place: func(taskrouter.CallRequest) (string, error) {
		entered <- time.Now() // Twilio has the call from here on
		<-release
		return leg, nil
	}}
	var created atomic.Pointer[time.Time]
	twB := &fakeTwilio{find: func(since time.Time) []taskrouter.CallInfo {
		if at := created.Load(); at != nil {
			return []taskrouter.CallInfo{{SID: leg, To: "+15005550101", From: "+15005550006", Status: taskrouter.CallRinging, CreatedAt: *at}}
		}
		return nil
	}}
	const lease = 300 * time.Millisecond
	set := func(o *taskrouter.Options) {
		o.Workers, o.JobLease, o.LegReportWait, o.RetryBase, o.RetryMax = 2, lease, 100*time.Millisecond, time.Millisecond, 10*time.Millisecond
	}
	bridgeA, bridgeB := newBridgeWith(t, a, twA, set), newBridgeWith(t, b, twB, set)

	res := testkit.SID("WR")
	require.NoError(t, bridgeA.HandleEvent(context.Background(), event("reservation.created", res, testkit.SID("WT"))))
	stopA := run(t, bridgeA)
	at := testkit.Receive(t, entered, 10*time.Second, "replica A to send Calls.create")
	created.Store(&at)
	a.dead.Store(true)
	died := time.Now()
	stopB := run(t, bridgeB)
	defer stopB()

	var r taskrouter.Reservation
	require.Eventually(t, func() bool {
		var err error
		r, err = b.Reservation(context.Background(), res)
		return err == nil && r.CallSID != ""
	}, 10*time.Second, 5*time.Millisecond, "replica B resolves the dial")
	t.Logf("A died → B adopted its leg: %v (lease %v, leg report wait 100 ms)", time.Since(died), lease)
	assert.Equal(t, leg, r.CallSID, "B adopted the leg A's create made")
	assert.Equal(t, taskrouter.StateRinging, r.State)
	placedB, _, rejectedB := twB.counts()
	assert.Zero(t, placedB, "B never re-dials a dialing reservation")
	assert.Empty(t, rejectedB)
	twB.mu.Lock()
	assert.Positive(t, twB.finds, "B looked the call up")
	twB.mu.Unlock()

	close(release) // A's answer arrives after all (it was only slow): nothing changes
	stopA()
	r, err := b.Reservation(context.Background(), res)
	require.NoError(t, err)
	assert.Equal(t, leg, r.CallSID)
	placedA, _, _ := twA.counts()
	assert.Equal(t, 1, placedA, "one Calls.create in all")
}
