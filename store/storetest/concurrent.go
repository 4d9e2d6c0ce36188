package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/taskrouter"
)

// The concurrent tests collect what each goroutine saw and assert after wg.Wait: require may
// only stop the test goroutine. An update function may run more than once (a store may retry a
// serialization failure), so each goroutine keeps what its last run decided: that is what
// committed.

var concurrencyTests = []test{
	{"one of concurrent compare-and-sets wins", alone(compareAndSetOneWins)},
	{"one of concurrent creations of a reservation wins, its task given or not", alone(createOneWins)},
	{"a duplicate event delivered concurrently is applied once", alone(concurrentDuplicateEvent)},
	{"concurrent updates are each all or nothing", alone(concurrentAllOrNothing)},
	{"UpdateTask and UpdateReservation serialize", alone(taskAndReservationSerialize)},
	{"concurrent claimers claim each job once", alone(concurrentClaimers)},
}

// A concurrency test runs its writers on two stores, s and o, the even ones on s and the odd
// ones on o: one store alone passes itself as both; two stores on one database (several
// processes, see RunShared) must keep the same promises between them.
type raceTest func(t *testing.T, s, o taskrouter.Store)

func alone(f raceTest) func(t *testing.T, s taskrouter.Store) {
	return func(t *testing.T, s taskrouter.Store) { f(t, s, s) }
}

// either is writer i's store.
func either(i int, s, o taskrouter.Store) taskrouter.Store {
	if i%2 == 0 {
		return s
	}
	return o
}

const writers = 50

// together runs f(i) for i in [0, n) in goroutines released at once, and waits for them.
func together(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

func compareAndSetOneWins(t *testing.T, s, o taskrouter.Store) {
	put(t, s, reservation(wr1, wt1, taskrouter.StatePending))
	won := make([]bool, writers)
	results := make([]taskrouter.Reservation, writers)
	errs := make([]error, writers)
	together(writers, func(i int) {
		results[i], _, errs[i] = either(i, s, o).UpdateReservation(t.Context(), wr1, "", "", func(snap taskrouter.Snapshot) (taskrouter.Change, error) {
			won[i] = snap.Reservation.State == taskrouter.StatePending
			if !won[i] {
				return taskrouter.Change{}, nil
			}
			r := snap.Reservation
			r.State, r.WorkerName = taskrouter.StateDialing, fmt.Sprint("writer ", i)
			return taskrouter.Change{Reservation: &r, Jobs: []taskrouter.Job{job(taskrouter.JobDial, "", r.WorkerName, at(0))}}, nil
		})
	})
	winners := []int{}
	for i := range writers {
		require.NoError(t, errs[i], "writer %d", i)
		assert.Equal(t, taskrouter.StateDialing, results[i].State, "writer %d sees the winner's state", i)
		if won[i] {
			winners = append(winners, i)
		}
	}
	require.Len(t, winners, 1, "exactly one pending → dialing")
	name := fmt.Sprint("writer ", winners[0])
	assert.Equal(t, name, get(t, s, wr1).WorkerName, "the winner's change is stored")
	for i := range writers {
		assert.Equal(t, name, results[i].WorkerName, "writer %d returns the winner's reservation", i)
	}
	assert.Equal(t, []string{name}, labels(claim(t, s, at(time.Hour))), "one job, the winner's")
}

// createOneWins races creations of a reservation not stored yet, without an event SID, half
// of them naming its task and half not (an answer or a callback that comes first knows only the
// reservation): exactly one finds it missing and creates it.
func createOneWins(t *testing.T, s, o taskrouter.Store) {
	won := make([]bool, writers)
	errs := make([]error, writers)
	together(writers, func(i int) {
		task := ""
		if i%4 < 2 {
			task = wt1
		}
		_, _, errs[i] = either(i, s, o).UpdateReservation(t.Context(), wr1, task, "", func(snap taskrouter.Snapshot) (taskrouter.Change, error) {
			won[i] = !snap.Found
			if snap.Found {
				return taskrouter.Change{}, nil
			}
			r := reservation(wr1, wt1, taskrouter.StatePending)
			r.WorkerName = fmt.Sprint("writer ", i)
			return taskrouter.Change{Reservation: &r, Jobs: []taskrouter.Job{job(taskrouter.JobDial, "", r.WorkerName, at(0))}}, nil
		})
	})
	var winners []int
	for i := range writers {
		require.NoError(t, errs[i], "writer %d", i)
		if won[i] {
			winners = append(winners, i)
		}
	}
	require.Len(t, winners, 1, "exactly one creates the reservation")
	name := fmt.Sprint("writer ", winners[0])
	assert.Equal(t, name, get(t, s, wr1).WorkerName)
	assert.Equal(t, []string{name}, labels(claim(t, s, at(time.Hour))), "one job, the creator's")
}

func concurrentDuplicateEvent(t *testing.T, s, o taskrouter.Store) {
	ran := make([]bool, writers)
	dups := make([]bool, writers)
	errs := make([]error, writers)
	together(writers, func(i int) {
		_, dups[i], errs[i] = either(i, s, o).UpdateReservation(t.Context(), wr1, wt1, ev1, func(snap taskrouter.Snapshot) (taskrouter.Change, error) {
			ran[i] = true
			r := reservation(wr1, wt1, taskrouter.StatePending)
			r.WorkerName = fmt.Sprint("writer ", i)
			return taskrouter.Change{Reservation: &r, Jobs: []taskrouter.Job{job(taskrouter.JobDial, "", r.WorkerName, at(0))}}, nil
		})
	})
	applied := []int{}
	for i := range writers {
		require.NoError(t, errs[i], "writer %d", i)
		if !dups[i] {
			applied = append(applied, i)
		} else {
			assert.False(t, ran[i], "writer %d: a duplicate's function does not run", i)
		}
	}
	require.Len(t, applied, 1, "the event is applied once")
	name := fmt.Sprint("writer ", applied[0])
	assert.Equal(t, name, get(t, s, wr1).WorkerName)
	assert.Equal(t, []string{name}, labels(claim(t, s, at(time.Hour))), "one job")
}

// concurrentAllOrNothing runs updates of different reservations at once, every third failing: a
// store that shares work between concurrent updates (a group commit) must still keep each one
// whole.
func concurrentAllOrNothing(t *testing.T, s, o taskrouter.Store) {
	errs := make([]error, writers)
	together(writers, func(i int) {
		r := reservation(sid("WR", i), sid("WT", i), taskrouter.StatePending)
		fn := set(r, job(taskrouter.JobDial, "", r.SID, at(0)))
		if i%3 == 0 {
			fn = refuse(r)
		}
		_, _, errs[i] = either(i, s, o).UpdateReservation(t.Context(), r.SID, r.TaskSID, sid("EV", i), fn)
	})
	var stored []string
	for i := range writers {
		r := reservation(sid("WR", i), sid("WT", i), taskrouter.StatePending)
		if i%3 == 0 {
			assert.ErrorIs(t, errs[i], errRefused, "writer %d", i)
			assertNotStored(t, s, r.SID)
			continue
		}
		require.NoError(t, errs[i], "writer %d", i)
		assertSame(t, r, get(t, s, r.SID), "writer %d", i)
		stored = append(stored, r.SID)
	}
	assert.ElementsMatch(t, stored, labels(claim(t, s, at(time.Hour))), "the jobs of the updates that succeeded, only")
	for i := 0; i < writers; i += 3 {
		_, dup, err := s.UpdateReservation(t.Context(), sid("WR", i), "", sid("EV", i), noop)
		require.NoError(t, err)
		assert.False(t, dup, "writer %d failed: its event was not recorded", i)
	}
}

// taskAndReservationSerialize races a task-wide update against a reservation update, each
// appending its mark to WorkerName: a lost update or a torn read leaves a result that no serial
// order gives.
func taskAndReservationSerialize(t *testing.T, s, o taskrouter.Store) {
	const rounds = 20
	type outcome struct {
		stored, returned taskrouter.Reservation
		resErr, taskErr  error
	}
	got := make([]outcome, rounds)
	for n := range rounds {
		r := reservation(sid("WR", n), sid("WT", n), taskrouter.StateRinging)
		r.WorkerName = ""
		put(t, s, r)
		together(2, func(i int) {
			if i == 0 {
				got[n].returned, _, got[n].resErr = s.UpdateReservation(t.Context(), r.SID, "", "", markRes)
			} else {
				_, got[n].taskErr = o.UpdateTask(t.Context(), r.TaskSID, "hangup", "", markTask)
			}
		})
		got[n].stored = get(t, s, r.SID)
	}
	for n, o := range got {
		require.NoError(t, o.resErr, "round %d", n)
		require.NoError(t, o.taskErr, "round %d", n)
		switch st := [2]any{o.stored.State, o.stored.WorkerName}; st {
		case [2]any{taskrouter.StateBridging, "rt"}: // the reservation's update first
			assert.Equal(t, [2]any{taskrouter.StateBridging, "r"}, [2]any{o.returned.State, o.returned.WorkerName}, "round %d", n)
		case [2]any{taskrouter.StateCanceled, "tr"}: // the task's
			assert.Equal(t, [2]any{taskrouter.StateCanceled, "tr"}, [2]any{o.returned.State, o.returned.WorkerName}, "round %d", n)
		default:
			t.Errorf("round %d: stored %v, which no serial order gives", n, st)
		}
	}
}

// markRes bridges a ringing reservation; markTask cancels one still ringing. Both leave their mark.
func markRes(snap taskrouter.Snapshot) (taskrouter.Change, error) {
	r := snap.Reservation
	r.WorkerName += "r"
	if r.State == taskrouter.StateRinging {
		r.State = taskrouter.StateBridging
	}
	return taskrouter.Change{Reservation: &r}, nil
}

func markTask(snap taskrouter.Snapshot) (taskrouter.Change, error) {
	r := snap.Reservation
	r.WorkerName += "t"
	if r.State == taskrouter.StateRinging {
		r.State = taskrouter.StateCanceled
	}
	return taskrouter.Change{Reservation: &r}, nil
}

func concurrentClaimers(t *testing.T, s, o taskrouter.Store) {
	const jobs, claimers = 120, 8
	var queued []taskrouter.Job
	for i := range jobs {
		queued = append(queued, job(taskrouter.JobDial, wr1, fmt.Sprint(i), at(time.Duration(i%7)*time.Millisecond)))
	}
	queue(t, s, queued...)
	claimed := make([][]taskrouter.Job, claimers)
	errs := make([]error, claimers)
	together(claimers, func(i int) {
		for {
			batch, err := either(i, s, o).ClaimJobs(t.Context(), at(time.Second), lease, 5)
			if err != nil || len(batch) == 0 {
				errs[i] = err
				return
			}
			claimed[i] = append(claimed[i], batch...)
		}
	})
	times := map[string]int{}
	for i := range claimers {
		require.NoError(t, errs[i], "claimer %d", i)
		for _, j := range claimed[i] {
			times[j.CallSID]++
		}
	}
	assert.Len(t, times, jobs, "every job is claimed")
	for label, n := range times {
		assert.Equal(t, 1, n, "job %s claimed %d times", label, n)
	}
}
