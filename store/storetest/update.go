package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/taskrouter"
)

var updateReservationTests = []test{
	{"unknown reservation gives an empty snapshot", unknownReservation},
	{"a new reservation is stored as the change says", createStoresChange},
	{"every field round-trips", everyFieldRoundTrips},
	{"zero times stay zero", zeroTimesStayZero},
	{"an update moving task and call stores every field", updateMoving(true, true)},
	{"an update moving the call stores every field", updateMoving(false, true)},
	{"an update moving the task stores every field", updateMoving(true, false)},
	{"an update keeping task and call stores every field", updateMoving(false, false)},
	{"no reservation in the change stores nothing", nilChangeStoresNothing},
	{"jobs are queued with the change", jobsQueuedWithChange},
	{"a job without NotBefore is due at once", jobWithoutNotBeforeIsDue},
	{"a failing update function stores nothing", failedUpdateStoresNothing},
	{"a failing update function leaves a stored reservation alone", failedUpdateKeepsStored},
	{"a duplicate event SID does not run the function", duplicateEvent},
	{"an empty event SID never de-duplicates", emptyEventSID},
	{"a canceled task is seen by its later reservations", canceledTaskSeenByNewReservation},
	{"a stored reservation sees its own task's cancel", storedReservationSeesOwnTask},
}

func unknownReservation(t *testing.T, s taskrouter.Store) {
	var snaps []taskrouter.Snapshot
	got, dup, err := s.UpdateReservation(t.Context(), wr1, wt1, ev1, func(snap taskrouter.Snapshot) (taskrouter.Change, error) {
		snaps = append(snaps, snap)
		return taskrouter.Change{}, nil
	})
	require.NoError(t, err)
	assert.False(t, dup)
	assert.Equal(t, []taskrouter.Snapshot{{}}, snaps, "fn runs once, on an empty snapshot")
	assert.Equal(t, taskrouter.Reservation{}, got)
	assertNotStored(t, s, wr1)
}

func createStoresChange(t *testing.T, s taskrouter.Store) {
	want := reservation(wr1, wt1, taskrouter.StatePending)
	got, dup, err := s.UpdateReservation(t.Context(), wr1, wt1, ev1, set(want))
	require.NoError(t, err)
	assert.False(t, dup)
	assertSame(t, want, got, "returned")
	assertSame(t, want, get(t, s, wr1), "stored")

	var snap taskrouter.Snapshot
	_, _, err = s.UpdateReservation(t.Context(), wr1, "", "", func(sn taskrouter.Snapshot) (taskrouter.Change, error) {
		snap = sn
		return taskrouter.Change{}, nil
	})
	require.NoError(t, err)
	assert.True(t, snap.Found)
	assert.Empty(t, snap.TaskCanceled)
	assertSame(t, want, snap.Reservation, "the next update's snapshot")
}

func everyFieldRoundTrips(t *testing.T, s taskrouter.Store) {
	want := reservation(wr1, wt1, taskrouter.StateRinging)
	want.Outcome = taskrouter.Outcome{Kind: taskrouter.OutcomeLegEnded, Detail: "no-answer ✓ 'quoted' \"too\""}
	want.AnsweredBy, want.CallStatus = taskrouter.AnsweredMachineEndBeep, taskrouter.CallNoAnswer
	// Times in another location and with every millisecond digit used: the instant must survive.
	zone := time.FixedZone("UTC-7", -7*3600)
	want.CreatedAt = time.Date(2023, 12, 31, 23, 59, 59, 999_000_000, zone)
	want.UpdatedAt, want.DialingAt, want.Deadline = at(5*time.Millisecond), at(time.Millisecond), at(48*time.Hour+7*time.Millisecond)
	checkEveryFieldSet(t, want)
	put(t, s, want)
	got := get(t, s, wr1)
	assertSame(t, want, got)
	assert.True(t, want.CreatedAt.Equal(got.CreatedAt), "created at %v, read back %v", want.CreatedAt, got.CreatedAt)
}

func zeroTimesStayZero(t *testing.T, s taskrouter.Store) {
	want := taskrouter.Reservation{SID: wr1, TaskSID: wt1, WorkspaceSID: "WS1", State: taskrouter.StatePending}
	put(t, s, want)
	got := get(t, s, wr1)
	assertSame(t, want, got)
	for name, v := range map[string]time.Time{"CreatedAt": got.CreatedAt, "UpdatedAt": got.UpdatedAt, "DialingAt": got.DialingAt, "Deadline": got.Deadline} {
		assert.True(t, v.IsZero(), "%s is %v", name, v)
	}
}

// changeEveryField returns r with every field but SID and CreatedAt (which no transition changes)
// given a new value, and the task and the call when told: a store may write a transition that
// keeps both (the common one) differently.
func changeEveryField(r taskrouter.Reservation, moveTask, moveCall bool) taskrouter.Reservation {
	r.WorkspaceSID, r.WorkflowSID, r.WorkerSID = "WS2", "WW2", "WK2"
	r.WorkerName, r.ContactURI, r.CallerID = "bob", "+15005550101", "+15005550102"
	r.State, r.CallStatus, r.AnsweredBy = taskrouter.StateRejected, taskrouter.CallBusy, taskrouter.AnsweredFax
	r.Outcome = taskrouter.Outcome{Kind: taskrouter.OutcomeAnsweredBy, Detail: "fax"}
	r.UpdatedAt, r.DialingAt, r.Deadline = at(time.Hour), at(time.Hour+time.Millisecond), at(3*time.Hour)
	if moveTask {
		r.TaskSID = wt2
	}
	if moveCall {
		r.CallSID = "CA" + sid("", 99)
	}
	return r
}

func updateMoving(task, call bool) func(t *testing.T, s taskrouter.Store) {
	return func(t *testing.T, s taskrouter.Store) {
		old := reservation(wr1, wt1, taskrouter.StateRinging)
		put(t, s, old)
		want := changeEveryField(old, task, call)
		got, _, err := s.UpdateReservation(t.Context(), wr1, "", "", set(want))
		require.NoError(t, err)
		assertSame(t, want, got, "returned")
		assertSame(t, want, get(t, s, wr1), "stored")
		assertFoundBy(t, s, old, want)
	}
}

// assertFoundBy checks that the lookups by call and by task find the reservation where it now is.
func assertFoundBy(t *testing.T, s taskrouter.Store, old, now taskrouter.Reservation) {
	t.Helper()
	ctx := t.Context()
	if old.CallSID != now.CallSID {
		owner, err := s.CallOwner(ctx, old.CallSID)
		require.NoError(t, err)
		assert.Empty(t, owner, "the old call is no longer the reservation's")
	}
	owner, err := s.CallOwner(ctx, now.CallSID)
	require.NoError(t, err)
	assert.Equal(t, now.SID, owner)
	if old.TaskSID != now.TaskSID {
		list, err := s.TaskReservations(ctx, old.TaskSID)
		require.NoError(t, err)
		assert.Empty(t, list, "the reservation left its old task")
	}
	list, err := s.TaskReservations(ctx, now.TaskSID)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assertSame(t, now, list[0])
}

func nilChangeStoresNothing(t *testing.T, s taskrouter.Store) {
	want := reservation(wr1, wt1, taskrouter.StateRinging)
	put(t, s, want)
	got, dup, err := s.UpdateReservation(t.Context(), wr1, wt1, ev1, noop)
	require.NoError(t, err)
	assert.False(t, dup)
	assertSame(t, want, got, "the stored reservation is returned")
	assertSame(t, want, get(t, s, wr1))
	assert.Zero(t, pending(t, s))
}

func jobsQueuedWithChange(t *testing.T, s taskrouter.Store) {
	r := reservation(wr1, wt1, taskrouter.StatePending)
	explicit := job(taskrouter.JobReject, wr2, "CA-explicit", at(time.Second))
	implicit := job(taskrouter.JobDial, "", "CA-implicit", at(2*time.Second))
	_, _, err := s.UpdateReservation(t.Context(), wr1, wt1, "", set(r, explicit, implicit))
	require.NoError(t, err)
	// A change with jobs and no reservation queues them too, for the stored reservation.
	_, _, err = s.UpdateReservation(t.Context(), wr1, "", "", func(taskrouter.Snapshot) (taskrouter.Change, error) {
		return taskrouter.Change{Jobs: []taskrouter.Job{job(taskrouter.JobHangup, "", "CA-orphan", at(3*time.Second))}}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, 3, pending(t, s))

	jobs := claim(t, s, at(time.Hour))
	require.Len(t, jobs, 3)
	assert.Equal(t, []string{"CA-explicit", "CA-implicit", "CA-orphan"}, labels(jobs))
	assert.Equal(t, []string{wr2, wr1, wr1}, []string{jobs[0].ReservationSID, jobs[1].ReservationSID, jobs[2].ReservationSID},
		"a job's reservation defaults to the change's")
	assert.Equal(t, []taskrouter.JobKind{taskrouter.JobReject, taskrouter.JobDial, taskrouter.JobHangup},
		[]taskrouter.JobKind{jobs[0].Kind, jobs[1].Kind, jobs[2].Kind})
	for i, want := range []taskrouter.Job{explicit, implicit} {
		assert.True(t, want.NotBefore.Equal(jobs[i].NotBefore), "job %d not before %v, got %v", i, want.NotBefore, jobs[i].NotBefore)
		assert.True(t, want.Deadline.Equal(jobs[i].Deadline), "job %d deadline %v, got %v", i, want.Deadline, jobs[i].Deadline)
		assert.Zero(t, jobs[i].Attempts)
		assert.Empty(t, jobs[i].LastErr)
	}
	assert.NotEqual(t, jobs[0].ID, jobs[1].ID)
	assert.NotEqual(t, jobs[1].ID, jobs[2].ID)
}

func jobWithoutNotBeforeIsDue(t *testing.T, s taskrouter.Store) {
	before := time.Now()
	put(t, s, reservation(wr1, wt1, taskrouter.StatePending), taskrouter.Job{Kind: taskrouter.JobDial})
	after := time.Now()
	assert.Empty(t, claim(t, s, before.Add(-time.Hour)), "not due before it was queued")
	jobs := claim(t, s, after.Add(time.Second))
	require.Len(t, jobs, 1)
	assert.True(t, msBounds(before, after)(jobs[0].NotBefore), "not before %v, queued between %v and %v", jobs[0].NotBefore, before, after)
}

// refuse is an update function that decides a full change, then fails: none of it may be stored.
func refuse(r taskrouter.Reservation) taskrouter.UpdateFunc {
	return func(taskrouter.Snapshot) (taskrouter.Change, error) {
		return taskrouter.Change{Reservation: &r, Jobs: []taskrouter.Job{job(taskrouter.JobDial, r.SID, "CA-refused", at(0))}}, errRefused
	}
}

func failedUpdateStoresNothing(t *testing.T, s taskrouter.Store) {
	_, dup, err := s.UpdateReservation(t.Context(), wr1, wt1, ev1, refuse(reservation(wr1, wt1, taskrouter.StatePending)))
	assert.ErrorIs(t, err, errRefused, "the function's error is returned")
	assert.False(t, dup)
	assertNotStored(t, s, wr1)
	assert.Zero(t, pending(t, s), "no job")
	assert.Empty(t, claim(t, s, at(time.Hour)))

	// The event SID was not recorded either: TaskRouter's retry is applied.
	r := reservation(wr1, wt1, taskrouter.StatePending)
	_, dup, err = s.UpdateReservation(t.Context(), wr1, wt1, ev1, set(r))
	require.NoError(t, err)
	assert.False(t, dup, "the event of a failed update is not a duplicate")
	assertSame(t, r, get(t, s, wr1))
}

func failedUpdateKeepsStored(t *testing.T, s taskrouter.Store) {
	want := reservation(wr1, wt1, taskrouter.StateRinging)
	put(t, s, want)
	_, _, err := s.UpdateReservation(t.Context(), wr1, "", ev1, refuse(changeEveryField(want, true, true)))
	assert.ErrorIs(t, err, errRefused)
	assertSame(t, want, get(t, s, wr1))
	assert.Zero(t, pending(t, s))
}

func duplicateEvent(t *testing.T, s taskrouter.Store) {
	want := reservation(wr1, wt1, taskrouter.StatePending)
	_, dup, err := s.UpdateReservation(t.Context(), wr1, wt1, ev1, set(want, job(taskrouter.JobDial, wr1, "CA-1", at(0))))
	require.NoError(t, err)
	require.False(t, dup)

	ran := false
	got, dup, err := s.UpdateReservation(t.Context(), wr1, wt1, ev1, func(taskrouter.Snapshot) (taskrouter.Change, error) {
		ran = true
		return set(changeEveryField(want, true, true), job(taskrouter.JobDial, wr1, "CA-2", at(0)))(taskrouter.Snapshot{})
	})
	require.NoError(t, err)
	assert.True(t, dup)
	assert.False(t, ran, "fn of a processed event does not run")
	assertSame(t, want, got, "a duplicate returns the stored reservation")
	assertSame(t, want, get(t, s, wr1))
	assert.Equal(t, 1, pending(t, s))

	// Another event for the same reservation is applied.
	_, dup, err = s.UpdateReservation(t.Context(), wr1, wt1, ev2, noop)
	require.NoError(t, err)
	assert.False(t, dup)
}

func emptyEventSID(t *testing.T, s taskrouter.Store) {
	runs := 0
	count := func(taskrouter.Snapshot) (taskrouter.Change, error) { runs++; return taskrouter.Change{}, nil }
	for range 3 {
		_, dup, err := s.UpdateReservation(t.Context(), wr1, wt1, "", count)
		require.NoError(t, err)
		assert.False(t, dup)
	}
	_, err := s.UpdateTask(t.Context(), wt1, "", "", noop)
	require.NoError(t, err)
	dup, err := s.UpdateTask(t.Context(), wt1, "", "", noop)
	require.NoError(t, err)
	assert.False(t, dup)
	assert.Equal(t, 3, runs)
}

// snapshotOf runs a no-op update and returns the snapshot it was given.
func snapshotOf(t *testing.T, s taskrouter.Store, sid, taskSID string) taskrouter.Snapshot {
	t.Helper()
	var snap taskrouter.Snapshot
	_, _, err := s.UpdateReservation(t.Context(), sid, taskSID, "", func(sn taskrouter.Snapshot) (taskrouter.Change, error) {
		snap = sn
		return taskrouter.Change{}, nil
	})
	require.NoError(t, err)
	return snap
}

func canceledTaskSeenByNewReservation(t *testing.T, s taskrouter.Store) {
	_, err := s.UpdateTask(t.Context(), wt1, "hangup", ev1, func(taskrouter.Snapshot) (taskrouter.Change, error) {
		t.Error("the task has no reservation: fn must not run")
		return taskrouter.Change{}, nil
	})
	require.NoError(t, err)
	snap := snapshotOf(t, s, wr1, wt1)
	assert.False(t, snap.Found)
	assert.Equal(t, "hangup", snap.TaskCanceled, "a reservation.created after task.canceled is known as such")
	assert.Empty(t, snapshotOf(t, s, wr2, wt2).TaskCanceled, "another task is not canceled")
	assert.Empty(t, snapshotOf(t, s, wr3, "").TaskCanceled, "no task given, none known")

	_, err = s.UpdateTask(t.Context(), wt2, "", ev2, noop)
	require.NoError(t, err)
	assert.Empty(t, snapshotOf(t, s, wr2, wt2).TaskCanceled, "an UpdateTask without a reason cancels nothing")
}

func storedReservationSeesOwnTask(t *testing.T, s taskrouter.Store) {
	put(t, s, reservation(wr1, wt2, taskrouter.StateRinging))
	_, err := s.UpdateTask(t.Context(), wt1, "hangup", "", noop)
	require.NoError(t, err)
	assert.Empty(t, snapshotOf(t, s, wr1, wt1).TaskCanceled, "the stored task wins over the argument")

	_, err = s.UpdateTask(t.Context(), wt2, "timeout", "", noop)
	require.NoError(t, err)
	snap := snapshotOf(t, s, wr1, "")
	assert.True(t, snap.Found)
	assert.Equal(t, "timeout", snap.TaskCanceled)
}
