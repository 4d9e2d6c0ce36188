package taskrouter_test

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"errors"
	"queuebridge/handlers"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/store"
	"queuebridge/taskrouter"
)

// The dispatcher's own tests: small fakes for Twilio (one decision at a time), the real store.

// fakeTwilio implements Voice and Router with function fields.
type fakeTwilio struct {
	mu     sync.Mutex
	placed int
	ended  []string
	reject []string
	// completed lists the tasks TaskRouter was asked to complete, once per request.
	completed []string
	finds     int
	// activity is the worker's (one worker), moves every SetWorkerActivity.
	activity string
	moves    []string
	place    func(req taskrouter.CallRequest) (string, error)
	find     func(since time.Time) []taskrouter.CallInfo
}

var (
	_ taskrouter.Voice  = (*fakeTwilio)(nil)
	_ taskrouter.Router = (*fakeTwilio)(nil)
)

func (f *fakeTwilio) PlaceCall(_ context.Context, req taskrouter.CallRequest) (string, error) {
	f.mu.Lock()
	f.placed++
	f.mu.Unlock()
	if f.place != nil {
		return f.place(req)
	}
	return testkit.SID("CA"), nil
}

func (f *fakeTwilio) EndCall(_ context.Context, sid string, status taskrouter.CallStatus) (taskrouter.CallStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = append(f.ended, sid+":"+string(status))
	return status, nil
}

func (f *fakeTwilio) FindCalls(_ context.Context, _, _ string, since time.Time) ([]taskrouter.CallInfo, error) {
	f.mu.Lock()
	f.finds++
	f.mu.Unlock()
	if f.find != nil {
		return f.find(since), nil
	}
	return nil, nil
}

func (f *fakeTwilio) RejectReservation(_ context.Context, _, _, sid, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reject = append(f.reject, sid)
	return nil
}

func (f *fakeTwilio) CompleteTask(_ context.Context, _, task, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.completed = append(f.completed, task)
	return nil
}

func (f *fakeTwilio) FetchCall(_ context.Context, sid string) (taskrouter.CallInfo, error) {
	return taskrouter.CallInfo{SID: sid, Status: taskrouter.CallRinging}, nil
}

func (f *fakeTwilio) ReservationStatus(context.Context, string, string, string) (string, error) {
	return "pending", nil
}

func (f *fakeTwilio) WorkerActivity(context.Context, string, string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.activity, nil
}

func (f *fakeTwilio) SetWorkerActivity(_ context.Context, _, _, activity string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.activity = activity
	f.moves = append(f.moves, activity)
	return nil
}

func (f *fakeTwilio) counts() (placed int, ended, rejected []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.placed, append([]string(nil), f.ended...), append([]string(nil), f.reject...)
}

// countingStore counts NextJobAt calls: the dispatcher's loop iterations.
type countingStore struct {
	*store.DB
	next atomic.Int64
}

func (c *countingStore) NextJobAt(ctx context.Context) (time.Time, bool, error) {
	c.next.Add(1)
	return c.DB.NextJobAt(ctx)
}

func newBridge(t *testing.T, st taskrouter.Store, tw *fakeTwilio, workers int, retryBase ...time.Duration) *taskrouter.Bridge {
	t.Helper()
	base := time.Millisecond
	if len(retryBase) > 0 {
		base = retryBase[0]
	}
	return newBridgeWith(t, st, tw, func(o *taskrouter.Options) {
		o.Workers, o.RetryBase, o.RetryMax, o.LegReportWait = workers, base, 5*base, base
	})
}

// newBridgeWith builds a bridge over st and tw with the options set sets.
func newBridgeWith(t *testing.T, st taskrouter.Store, tw *fakeTwilio, set func(*taskrouter.Options)) *taskrouter.Bridge {
	t.Helper()
	opts := taskrouter.Options{
		URLs:   handlers.NewURLs("https://bridge.example.com"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	set(&opts)
	b, err := taskrouter.NewBridge(st, tw, tw, opts, taskrouter.Hooks{})
	require.NoError(t, err)
	return b
}

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "q.db"), nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func event(typ, reservation, task string) taskrouter.Event {
	e, err := taskrouter.ParseEvent(url.Values{
		"EventType": {typ}, "Sid": {testkit.SID("EV")}, "WorkspaceSid": {testkit.SID("WS")}, "TaskSid": {task},
		"ReservationSid": {reservation}, "WorkerSid": {testkit.SID("WK")},
		"TaskAttributes": {`{"from":"+15005550199","to":"+15005550006"}`}, "WorkerAttributes": {`{"contact_uri":"+15005550101"}`},
	})
	if err != nil {
		panic(err)
	}
	return e
}

// run starts the dispatcher and returns a stop function that fails the test if Run does not
// return promptly.
func run(t *testing.T, b *taskrouter.Bridge) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = b.Run(ctx); close(done) }()
	return func() {
		t.Helper()
		cancel()
		testkit.Receive(t, done, 10*time.Second, "Run to return after its context ended")
	}
}

func TestDispatcherWithBusyWorkersWaitsInsteadOfSpinning(t *testing.T) {
	db := openStore(t)
	cs := &countingStore{DB: db}
	entered, release := make(chan struct{}, 10), make(chan struct{})
	tw := &fakeTwilio{place: func(taskrouter.CallRequest) (string, error) {
		entered <- struct{}{}
		<-release
		return testkit.SID("CA"), nil
	}}
	b := newBridge(t, cs, tw, 1)
	for range 3 {
		require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", testkit.SID("WR"), testkit.SID("WT"))))
	}
	stop := run(t, b)
	<-entered // the one worker is busy; two jobs are due
	before := cs.next.Load()
	assert.Never(t, func() bool { return cs.next.Load() > before+2 }, 200*time.Millisecond, 5*time.Millisecond,
		"the loop spins while every worker is busy")
	close(release)
	require.Eventually(t, func() bool { p, _, _ := tw.counts(); return p == 3 }, 5*time.Second, time.Millisecond)
	stop()
}

// slowStore makes every NextJobAt slow, so jobs finish faster than the loop comes round.
type slowStore struct{ *store.DB }

func (s slowStore) NextJobAt(ctx context.Context) (time.Time, bool, error) {
	time.Sleep(20 * time.Millisecond) // a slow disk, not a wait for async work
	return s.DB.NextJobAt(ctx)
}

func TestDispatcherShutsDownWhileJobsPileUp(t *testing.T) {
	db := openStore(t)
	tw := &fakeTwilio{}
	b := newBridge(t, slowStore{db}, tw, 2)
	for range 30 {
		require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", testkit.SID("WR"), testkit.SID("WT"))))
	}
	stop := run(t, b)
	require.Eventually(t, func() bool { p, _, _ := tw.counts(); return p >= 10 }, 10*time.Second, time.Millisecond)
	stop() // fails the test if Run hangs
}

func TestAmbiguousDialThenCancelHangsUpTheOrphan(t *testing.T) {
	db := openStore(t)
	var created taskrouter.CallInfo
	tw := &fakeTwilio{}
	tw.place = func(req taskrouter.CallRequest) (string, error) {
		// Twilio creates the call, but the answer never arrives.
		created = taskrouter.CallInfo{SID: testkit.SID("CA"), To: req.To, From: req.From, Status: taskrouter.CallRinging, CreatedAt: time.Now()}
		return "", &url.Error{Op: "Post", URL: "https://api.twilio.com", Err: context.DeadlineExceeded}
	}
	// The retry comes 250 ms or more after the ambiguous attempt: the cancel lands first.
	b := newBridge(t, db, tw, 1, 500*time.Millisecond)
	res, task := testkit.SID("WR"), testkit.SID("WT")
	require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", res, task)))
	placeOnce := make(chan struct{})
	origPlace := tw.place
	tw.place = func(req taskrouter.CallRequest) (string, error) {
		defer close(placeOnce)
		return origPlace(req)
	}
	tw.find = func(time.Time) []taskrouter.CallInfo {
		<-placeOnce
		return []taskrouter.CallInfo{created}
	}
	stop := run(t, b)
	<-placeOnce
	require.NoError(t, b.HandleEvent(context.Background(), event("reservation.canceled", res, task)))
	require.Eventually(t, func() bool { _, ended, _ := tw.counts(); return len(ended) == 1 }, 5*time.Second, time.Millisecond,
		"the orphan leg of the ambiguous dial is hung up")
	stop()
	placed, ended, rejected := tw.counts()
	assert.Equal(t, 1, placed)
	assert.Equal(t, created.SID+":canceled", ended[0])
	assert.Empty(t, rejected, "TaskRouter ended it: nothing to reject")
	got, err := db.Reservation(context.Background(), res)
	require.NoError(t, err)
	assert.Equal(t, created.SID, got.CallSID, "the orphan is recorded as this reservation's")
}

func TestRecoveryNeverAdoptsAnotherReservationsCall(t *testing.T) {
	db := openStore(t)
	old := taskrouter.CallInfo{SID: testkit.SID("CA"), Status: taskrouter.CallRinging, CreatedAt: time.Now().Add(-30 * time.Second)}
	tw := &fakeTwilio{
		place: func(taskrouter.CallRequest) (string, error) {
			return "", &taskrouter.RemoteError{Kind: taskrouter.Retryable, Status: 503, Code: 20503, Err: errors.New("unavailable")}
		},
		find: func(time.Time) []taskrouter.CallInfo { return []taskrouter.CallInfo{old} },
	}
	b := newBridge(t, db, tw, 1)
	res, task := testkit.SID("WR"), testkit.SID("WT")
	require.NoError(t, b.HandleEvent(context.Background(), event("reservation.created", res, task)))
	stop := run(t, b)
	require.Eventually(t, func() bool { _, _, rejected := tw.counts(); return len(rejected) == 1 }, 5*time.Second, time.Millisecond)
	stop()
	placed, _, _ := tw.counts()
	assert.Equal(t, 1, placed, "a 5xx is never re-sent blindly")
	got, err := db.Reservation(context.Background(), res)
	require.NoError(t, err)
	assert.Equal(t, taskrouter.StateRejected, got.State)
	assert.Empty(t, got.CallSID, "a call from before the attempt is some other dial's")
}
