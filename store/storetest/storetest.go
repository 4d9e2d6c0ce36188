// Package storetest is the conformance suite of taskrouter.Store. The bridge's correctness rests
// on what a store promises (every update a compare-and-set, jobs stored with the change that
// needs them, an event applied once), and a second store (PostgreSQL) must keep the same
// promises: each store's tests call Run, so both are held to one definition of the contract,
// checked on what is stored and returned, never on how.
package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/taskrouter"
)

// Run runs the suite, each subtest on a store of its own. open returns a new, empty store and
// closes it when t ends. The store must stamp its own bookkeeping (processed events, jobs queued
// without a NotBefore) with the wall clock: the suite can only bound those times by time.Now.
// Every other time is explicit, and at millisecond precision, the least a store must keep.
func Run(t *testing.T, open func(t *testing.T) taskrouter.Store) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"UpdateReservation", updateReservationTests},
		{"UpdateTask", updateTaskTests},
		{"Reads", readTests},
		{"Jobs", jobTests},
		{"UpdateWorker", workerTests},
		{"Concurrency", concurrencyTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, open(t)) })
			}
		})
	}
}

type test struct {
	name string
	run  func(t *testing.T, s taskrouter.Store)
}

// base is the suite's fixed clock: odd milliseconds, so a store that rounds to seconds fails.
var base = time.Date(2024, time.March, 1, 12, 0, 0, 123_000_000, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

// sid makes a Twilio-shaped SID.
func sid(prefix string, n int) string { return fmt.Sprintf("%s%032x", prefix, n) }

var (
	wr1, wr2, wr3 = sid("WR", 1), sid("WR", 2), sid("WR", 3)
	wt1, wt2      = sid("WT", 1), sid("WT", 2)
	ev1, ev2      = sid("EV", 1), sid("EV", 2)
)

// errRefused is what the suite's update functions fail with.
var errRefused = errors.New("refused by the update function")

// reservation has every field set (see checkEveryFieldSet), so a column a store forgets shows.
func reservation(sid, task string, state taskrouter.State) taskrouter.Reservation {
	return taskrouter.Reservation{
		SID: sid, TaskSID: task, WorkspaceSID: "WS00000000000000000000000000000001",
		WorkflowSID: "WW00000000000000000000000000000001", WorkerSID: "WK00000000000000000000000000000001",
		WorkerName: "alice", ContactURI: "sip:alice@example.com", CallerID: "+15005550006",
		State: state, CallSID: "CA" + sid[2:], CallStatus: taskrouter.CallRinging, AnsweredBy: taskrouter.AnsweredHuman,
		Outcome:   taskrouter.Outcome{Kind: taskrouter.OutcomeBridged, Detail: "by the suite"},
		CreatedAt: at(0), UpdatedAt: at(time.Second), DialingAt: at(2 * time.Second), Deadline: at(2 * time.Minute),
		Department: "sales", CallerLast4: "0123", EnqueuedAt: at(-40 * time.Second),
	}
}

// set is an update function that stores r and queues jobs, whatever the snapshot.
func set(r taskrouter.Reservation, jobs ...taskrouter.Job) taskrouter.UpdateFunc {
	return func(taskrouter.Snapshot) (taskrouter.Change, error) {
		return taskrouter.Change{Reservation: &r, Jobs: jobs}, nil
	}
}

// noop changes nothing.
func noop(taskrouter.Snapshot) (taskrouter.Change, error) { return taskrouter.Change{}, nil }

// put stores r (and jobs) as a new reservation.
func put(t *testing.T, s taskrouter.Store, r taskrouter.Reservation, jobs ...taskrouter.Job) {
	t.Helper()
	_, dup, err := s.UpdateReservation(t.Context(), r.SID, r.TaskSID, "", set(r, jobs...))
	require.NoError(t, err)
	require.False(t, dup)
}

// get returns the stored reservation sid, which must exist.
func get(t *testing.T, s taskrouter.Store, sid string) taskrouter.Reservation {
	t.Helper()
	r, err := s.Reservation(t.Context(), sid)
	require.NoError(t, err)
	return r
}

// assertNotStored checks that no reservation sid is stored.
func assertNotStored(t *testing.T, s taskrouter.Store, sid string) {
	t.Helper()
	_, err := s.Reservation(t.Context(), sid)
	assert.ErrorIs(t, err, taskrouter.ErrNotFound)
}

// assertSame compares reservations field by field, times as instants: a store may hand them
// back in another location.
func assertSame(t *testing.T, want, got taskrouter.Reservation, msgAndArgs ...any) bool {
	t.Helper()
	return assert.Equal(t, inUTC(want), inUTC(got), msgAndArgs...)
}

func inUTC[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	for i := range rv.NumField() {
		if f, ok := rv.Field(i).Addr().Interface().(*time.Time); ok && !f.IsZero() {
			*f = f.UTC()
		}
	}
	return v
}

// checkEveryFieldSet fails when a field of v is zero: a field added to the domain must be added
// to the fixtures, or its round trip would go untested.
func checkEveryFieldSet(t *testing.T, v any) {
	t.Helper()
	var walk func(rv reflect.Value, path string)
	walk = func(rv reflect.Value, path string) {
		if rv.Kind() == reflect.Struct && rv.Type() != reflect.TypeFor[time.Time]() {
			for i := range rv.NumField() {
				walk(rv.Field(i), path+"."+rv.Type().Field(i).Name)
			}
			return
		}
		if rv.IsZero() {
			t.Errorf("the fixture leaves %s zero: give it a value", path)
		}
	}
	walk(reflect.ValueOf(v), reflect.TypeOf(v).Name())
}

// pending counts the store's outbox.
func pending(t *testing.T, s taskrouter.Store) int {
	t.Helper()
	n, err := s.PendingJobs(t.Context())
	require.NoError(t, err)
	return n
}

// claim claims up to 100 jobs due at now.
// lease is the job lease the suite claims with: long, so that only the lease tests see one end.
const lease = time.Hour

func claim(t *testing.T, s taskrouter.Store, now time.Time) []taskrouter.Job {
	t.Helper()
	jobs, err := s.ClaimJobs(t.Context(), now, lease, 100)
	require.NoError(t, err)
	return jobs
}

// job is a job due at notBefore, labelled by its CallSID so tests can tell jobs apart.
func job(kind taskrouter.JobKind, reservationSID, label string, notBefore time.Time) taskrouter.Job {
	return taskrouter.Job{Kind: kind, ReservationSID: reservationSID, CallSID: label, NotBefore: notBefore,
		Deadline: notBefore.Add(time.Minute)}
}

// labels lists the jobs' labels in order.
func labels(jobs []taskrouter.Job) []string {
	out := make([]string, len(jobs))
	for i, j := range jobs {
		out[i] = j.CallSID
	}
	return out
}

// msBounds brackets a store's own clock reading between from and to, at the millisecond
// precision a store keeps.
func msBounds(from, to time.Time) func(time.Time) bool {
	lo, hi := from.Truncate(time.Millisecond), to.Truncate(time.Millisecond).Add(time.Millisecond)
	return func(t time.Time) bool { return !t.Before(lo) && !t.After(hi) }
}
