package storetest

import (
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/taskrouter"
)

var updateTaskTests = []test{
	{"applies the function to each reservation of the task", updateTaskEachReservation},
	{"records the cancel reason", updateTaskRecordsCancel},
	{"a duplicate event SID does not run the function", updateTaskDuplicateEvent},
	{"a failing update function stores nothing", updateTaskFailureStoresNothing},
}

var readTests = []test{
	{"Reservation of an unknown SID is ErrNotFound", unknownIsNotFound},
	{"CallOwner finds the reservation of a call", callOwner},
	{"TaskReservations lists the task's reservations oldest first", taskReservationsOldestFirst},
	{"PruneEvents forgets old event SIDs only", pruneEvents},
	{"OpenReservations lists the open and accepted ones with a leg created before a time, oldest first", openReservations},
	{"Ping", func(t *testing.T, s taskrouter.Store) { assert.NoError(t, s.Ping(t.Context())) }},
}

// putTask stores three reservations of wt1 and one of wt2.
func putTask(t *testing.T, s taskrouter.Store) map[string]taskrouter.Reservation {
	out := map[string]taskrouter.Reservation{}
	for i, r := range []taskrouter.Reservation{
		reservation(wr1, wt1, taskrouter.StateRinging), reservation(wr2, wt1, taskrouter.StateRejected),
		reservation(wr3, wt1, taskrouter.StatePending), reservation(sid("WR", 4), wt2, taskrouter.StateRinging),
	} {
		r.CreatedAt = at(time.Duration(i) * time.Second)
		put(t, s, r)
		out[r.SID] = r
	}
	return out
}

// cancelAll is task.canceled's transition: every reservation canceled, with a hangup job.
func cancelAll(seen *[]taskrouter.Snapshot) taskrouter.UpdateFunc {
	return func(snap taskrouter.Snapshot) (taskrouter.Change, error) {
		*seen = append(*seen, snap)
		r := snap.Reservation
		r.State, r.Outcome, r.UpdatedAt = taskrouter.StateCanceled, taskrouter.Outcome{Kind: taskrouter.OutcomeTaskCanceled, Detail: snap.TaskCanceled}, at(time.Hour)
		return taskrouter.Change{Reservation: &r, Jobs: []taskrouter.Job{job(taskrouter.JobHangup, "", r.CallSID, at(time.Minute))}}, nil
	}
}

func updateTaskEachReservation(t *testing.T, s taskrouter.Store) {
	stored := putTask(t, s)
	var seen []taskrouter.Snapshot
	dup, err := s.UpdateTask(t.Context(), wt1, "hangup", ev1, cancelAll(&seen))
	require.NoError(t, err)
	assert.False(t, dup)

	require.Len(t, seen, 3, "fn runs once per reservation of the task")
	sort.Slice(seen, func(i, j int) bool { return seen[i].Reservation.SID < seen[j].Reservation.SID })
	var calls []string
	for i, snap := range seen {
		want := stored[[]string{wr1, wr2, wr3}[i]]
		assert.True(t, snap.Found)
		assert.Equal(t, "hangup", snap.TaskCanceled)
		assertSame(t, want, snap.Reservation, "snapshot %d", i)
		want.State, want.Outcome, want.UpdatedAt = taskrouter.StateCanceled, taskrouter.Outcome{Kind: taskrouter.OutcomeTaskCanceled, Detail: "hangup"}, at(time.Hour)
		assertSame(t, want, get(t, s, want.SID), "stored %d", i)
		calls = append(calls, want.CallSID)
	}
	other := sid("WR", 4)
	assertSame(t, stored[other], get(t, s, other), "another task's reservation is left alone")

	jobs := claim(t, s, at(time.Hour))
	require.Len(t, jobs, 3, "one job per reservation, in the same transaction")
	sort.Slice(jobs, func(i, j int) bool { return jobs[i].ReservationSID < jobs[j].ReservationSID })
	assert.Equal(t, calls, labels(jobs))
	assert.Equal(t, []string{wr1, wr2, wr3}, []string{jobs[0].ReservationSID, jobs[1].ReservationSID, jobs[2].ReservationSID},
		"a job's reservation defaults to the one the function was given")
}

func updateTaskRecordsCancel(t *testing.T, s taskrouter.Store) {
	put(t, s, reservation(wr1, wt1, taskrouter.StateRinging))
	var seen []taskrouter.Snapshot
	_, err := s.UpdateTask(t.Context(), wt1, "", "", func(snap taskrouter.Snapshot) (taskrouter.Change, error) {
		seen = append(seen, snap)
		return taskrouter.Change{}, nil
	})
	require.NoError(t, err)
	require.Len(t, seen, 1)
	assert.Empty(t, seen[0].TaskCanceled)
	assert.Empty(t, snapshotOf(t, s, wr2, wt1).TaskCanceled, "no reason, no cancel")

	_, err = s.UpdateTask(t.Context(), wt1, "timeout", "", noop)
	require.NoError(t, err)
	assert.Equal(t, "timeout", snapshotOf(t, s, wr1, "").TaskCanceled)
	assert.Equal(t, "timeout", snapshotOf(t, s, wr2, wt1).TaskCanceled)
}

func updateTaskDuplicateEvent(t *testing.T, s taskrouter.Store) {
	stored := putTask(t, s)
	var seen []taskrouter.Snapshot
	_, err := s.UpdateTask(t.Context(), wt1, "hangup", ev1, cancelAll(&seen))
	require.NoError(t, err)
	after := get(t, s, wr1)

	seen = nil
	dup, err := s.UpdateTask(t.Context(), wt1, "other", ev1, cancelAll(&seen))
	require.NoError(t, err)
	assert.True(t, dup)
	assert.Empty(t, seen, "fn of a processed event does not run")
	assertSame(t, after, get(t, s, wr1))
	assert.Equal(t, 3, pending(t, s))
	assert.Equal(t, "hangup", snapshotOf(t, s, sid("WR", 9), wt1).TaskCanceled)

	dup, err = s.UpdateTask(t.Context(), wt2, "", ev1, cancelAll(&seen))
	require.NoError(t, err)
	assert.True(t, dup, "an event SID is processed once, whatever it is about")
	assertSame(t, stored[sid("WR", 4)], get(t, s, sid("WR", 4)))
}

func updateTaskFailureStoresNothing(t *testing.T, s taskrouter.Store) {
	stored := putTask(t, s)
	var seen []taskrouter.Snapshot
	cancel := cancelAll(&seen)
	fail := func(snap taskrouter.Snapshot) (taskrouter.Change, error) {
		c, _ := cancel(snap)
		if len(seen) == 2 {
			return c, errRefused // after a first reservation was changed
		}
		return c, nil
	}
	dup, err := s.UpdateTask(t.Context(), wt1, "hangup", ev1, fail)
	assert.ErrorIs(t, err, errRefused)
	assert.False(t, dup)
	for _, sid := range []string{wr1, wr2, wr3} {
		assertSame(t, stored[sid], get(t, s, sid), "reservation %s", sid)
	}
	assert.Zero(t, pending(t, s), "no job")
	assert.Empty(t, snapshotOf(t, s, sid("WR", 9), wt1).TaskCanceled, "no cancel recorded")

	seen = nil
	dup, err = s.UpdateTask(t.Context(), wt1, "hangup", ev1, cancel)
	require.NoError(t, err)
	assert.False(t, dup, "the event of a failed update is not a duplicate")
	assert.Len(t, seen, 3)
}

func unknownIsNotFound(t *testing.T, s taskrouter.Store) {
	_, err := s.Reservation(t.Context(), wr1)
	assert.ErrorIs(t, err, taskrouter.ErrNotFound)
	put(t, s, reservation(wr1, wt1, taskrouter.StatePending))
	_, err = s.Reservation(t.Context(), wr2)
	assert.ErrorIs(t, err, taskrouter.ErrNotFound)
}

func callOwner(t *testing.T, s taskrouter.Store) {
	a, b := reservation(wr1, wt1, taskrouter.StateRinging), reservation(wr2, wt1, taskrouter.StateRinging)
	put(t, s, a)
	put(t, s, b)
	for call, want := range map[string]string{a.CallSID: wr1, b.CallSID: wr2, "CA" + sid("", 42): ""} {
		got, err := s.CallOwner(t.Context(), call)
		require.NoError(t, err)
		assert.Equal(t, want, got, "owner of %s", call)
	}
}

func taskReservationsOldestFirst(t *testing.T, s taskrouter.Store) {
	// Neither the order of the SIDs nor that of the writes is the order of creation.
	byAge := []taskrouter.Reservation{
		reservation(wr3, wt1, taskrouter.StateRinging), reservation(wr2, wt1, taskrouter.StatePending), reservation(wr1, wt1, taskrouter.StateCanceled),
	}
	for i := range byAge {
		byAge[i].CreatedAt = at(time.Duration(i) * time.Second)
	}
	for _, i := range []int{1, 2, 0} {
		put(t, s, byAge[i])
	}
	put(t, s, reservation(sid("WR", 4), wt2, taskrouter.StatePending))
	list, err := s.TaskReservations(t.Context(), wt1)
	require.NoError(t, err)
	require.Len(t, list, 3)
	for i := range byAge {
		assertSame(t, byAge[i], list[i], "reservation %d", i)
	}
	list, err = s.TaskReservations(t.Context(), sid("WT", 9))
	require.NoError(t, err)
	assert.Empty(t, list)
}

func openReservations(t *testing.T, s taskrouter.Store) {
	states := []taskrouter.State{
		taskrouter.StateBridging, taskrouter.StateRejected, taskrouter.StatePending, taskrouter.StateRinging,
		taskrouter.StateCanceled, taskrouter.StateDialing, taskrouter.StateAccepted, taskrouter.StateCompleted,
		taskrouter.StateWrapping, taskrouter.StateRinging, taskrouter.StateConfirming,
	}
	var open []taskrouter.Reservation
	for i, st := range states {
		r := reservation(sid("WR", 100+i), wt1, st)
		r.CreatedAt = at(time.Duration(len(states)-i) * time.Second) // stored newest first
		put(t, s, r)
		if st.Open() || st == taskrouter.StateAccepted {
			open = append([]taskrouter.Reservation{r}, open...)
		}
	}
	for i, st := range []taskrouter.State{taskrouter.StatePending, taskrouter.StateDialing} {
		r := reservation(sid("WR", 200+i), wt1, st)
		r.CallSID, r.CallStatus = "", "" // no leg yet: its dial job's, not the reconciler's
		put(t, s, r)
	}
	list, err := s.OpenReservations(t.Context(), at(time.Hour), 100)
	require.NoError(t, err)
	require.Len(t, list, len(open), "only pending, dialing, ringing, bridging and accepted with a leg are listed")
	for i := range open {
		assertSame(t, open[i], list[i], "open reservation %d, oldest first", i)
	}
	list, err = s.OpenReservations(t.Context(), at(time.Hour), 2)
	require.NoError(t, err)
	assert.Len(t, list, 2, "at most limit")
	list, err = s.OpenReservations(t.Context(), open[1].CreatedAt, 100)
	require.NoError(t, err)
	require.Len(t, list, 1, "only those created before the time")
	assert.Equal(t, open[0].SID, list[0].SID)
}

func pruneEvents(t *testing.T, s taskrouter.Store) {
	before := time.Now()
	for _, ev := range []string{ev1, ev2} {
		_, _, err := s.UpdateReservation(t.Context(), wr1, wt1, ev, noop)
		require.NoError(t, err)
	}
	ev3 := sid("EV", 3)
	_, err := s.UpdateTask(t.Context(), wt1, "", ev3, noop)
	require.NoError(t, err)
	after := time.Now()

	n, err := s.PruneEvents(t.Context(), before.Add(-time.Hour))
	require.NoError(t, err)
	assert.Zero(t, n, "recent events are kept")
	_, dup, err := s.UpdateReservation(t.Context(), wr1, wt1, ev1, noop)
	require.NoError(t, err)
	assert.True(t, dup, "a recent event is still a duplicate")

	n, err = s.PruneEvents(t.Context(), after.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	runs := 0
	for _, ev := range []string{ev1, ev2, ev3} {
		_, dup, err := s.UpdateReservation(t.Context(), wr1, wt1, ev, func(taskrouter.Snapshot) (taskrouter.Change, error) {
			runs++
			return taskrouter.Change{}, nil
		})
		require.NoError(t, err)
		assert.False(t, dup, "a pruned event is processed again")
	}
	assert.Equal(t, 3, runs)
	n, err = s.PruneEvents(t.Context(), after.Add(time.Hour))
	require.NoError(t, err)
	assert.Equal(t, 3, n, "the events processed again were recorded again")
}
