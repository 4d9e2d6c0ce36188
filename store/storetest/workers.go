package storetest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/taskrouter"
)

var workerTests = []test{
	{"an unknown worker is the zero record, not found", workerUnknown},
	{"the record decided is stored, with its jobs", workerStored},
	{"a failing update function stores nothing and queues nothing", workerFailureStoresNothing},
	{"updates of one worker are serialized: none is lost", workerConcurrent},
	{"a job without a reservation is refused, and nothing stored", workerJobNeedsReservation},
}

var wk1, wk2 = sid("WK", 1), sid("WK", 2)

// readWorker reads the worker's record through a no-op update.
func readWorker(t *testing.T, s taskrouter.Store, worker string) (taskrouter.WorkerRecord, bool) {
	t.Helper()
	var found bool
	w, err := s.UpdateWorker(t.Context(), worker, func(_ taskrouter.WorkerRecord, f bool) (taskrouter.WorkerChange, error) {
		found = f
		return taskrouter.WorkerChange{}, nil
	})
	require.NoError(t, err)
	return w, found
}

func workerUnknown(t *testing.T, s taskrouter.Store) {
	w, found := readWorker(t, s, wk1)
	assert.False(t, found)
	assert.Equal(t, taskrouter.WorkerRecord{SID: wk1}, w)
	_, found = readWorker(t, s, wk1)
	assert.False(t, found, "a no-op update stores nothing")
}

func workerStored(t *testing.T, s taskrouter.Store) {
	want := taskrouter.WorkerRecord{SID: wk1, Misses: 3, LastReservation: wr1, RestedAt: at(time.Second), UpdatedAt: at(2 * time.Second)}
	checkEveryFieldSet(t, want)
	got, err := s.UpdateWorker(t.Context(), wk1, func(w taskrouter.WorkerRecord, found bool) (taskrouter.WorkerChange, error) {
		return taskrouter.WorkerChange{Worker: &want, Jobs: []taskrouter.Job{
			job(taskrouter.JobRestWorker, wr1, "rest", at(0)),
			job(taskrouter.JobReturnWorker, wr1, "return", at(time.Hour)),
		}}, nil
	})
	require.NoError(t, err)
	assert.Equal(t, inUTC(want), inUTC(got), "the record as stored is returned")
	stored, found := readWorker(t, s, wk1)
	assert.True(t, found)
	assert.Equal(t, inUTC(want), inUTC(stored), "every field round-trips at millisecond precision")
	other, found := readWorker(t, s, wk2)
	assert.False(t, found, "another worker is untouched")
	assert.Zero(t, other.Misses)

	jobs := claim(t, s, at(time.Minute))
	require.Len(t, jobs, 1, "the return job is not due yet")
	assert.Equal(t, taskrouter.JobRestWorker, jobs[0].Kind)
	assert.Equal(t, wr1, jobs[0].ReservationSID)
	next, ok, err := s.NextJobAt(t.Context())
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, next.Equal(at(time.Hour)), "the return job is the next due: %v", next)
	jobs = claim(t, s, at(time.Hour))
	require.Len(t, jobs, 1)
	assert.Equal(t, taskrouter.JobReturnWorker, jobs[0].Kind)
	assert.True(t, at(time.Hour).Equal(jobs[0].NotBefore), "not before %v", jobs[0].NotBefore)

	want.Misses, want.LastReservation, want.RestedAt, want.UpdatedAt = 0, wr2, at(2500*time.Millisecond), at(3*time.Second)
	_, err = s.UpdateWorker(t.Context(), wk1, func(w taskrouter.WorkerRecord, found bool) (taskrouter.WorkerChange, error) {
		assert.True(t, found)
		assert.Equal(t, 3, w.Misses, "the update function sees the stored record")
		return taskrouter.WorkerChange{Worker: &want}, nil
	})
	require.NoError(t, err)
	stored, _ = readWorker(t, s, wk1)
	assert.Equal(t, inUTC(want), inUTC(stored), "an existing record is overwritten")
}

func workerFailureStoresNothing(t *testing.T, s taskrouter.Store) {
	w := taskrouter.WorkerRecord{SID: wk1, Misses: 1, UpdatedAt: at(0)}
	_, err := s.UpdateWorker(t.Context(), wk1, func(taskrouter.WorkerRecord, bool) (taskrouter.WorkerChange, error) {
		return taskrouter.WorkerChange{Worker: &w, Jobs: []taskrouter.Job{job(taskrouter.JobRestWorker, wr1, "rest", at(0))}}, errRefused
	})
	assert.ErrorIs(t, err, errRefused)
	_, found := readWorker(t, s, wk1)
	assert.False(t, found)
	assert.Zero(t, pending(t, s))
}

func workerConcurrent(t *testing.T, s taskrouter.Store) {
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateWorker(t.Context(), wk1, func(w taskrouter.WorkerRecord, _ bool) (taskrouter.WorkerChange, error) {
				w.Misses++
				w.LastReservation, w.UpdatedAt = sid("WR", i), at(time.Duration(i)*time.Millisecond)
				return taskrouter.WorkerChange{Worker: &w}, nil
			})
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	w, _ := readWorker(t, s, wk1)
	assert.Equal(t, n, w.Misses, "every increment counted: each update saw the one before")
}

func workerJobNeedsReservation(t *testing.T, s taskrouter.Store) {
	w := taskrouter.WorkerRecord{SID: wk1, Misses: 1, UpdatedAt: at(0)}
	_, err := s.UpdateWorker(t.Context(), wk1, func(taskrouter.WorkerRecord, bool) (taskrouter.WorkerChange, error) {
		return taskrouter.WorkerChange{Worker: &w, Jobs: []taskrouter.Job{job(taskrouter.JobRestWorker, "", "rest", at(0))}}, nil
	})
	require.Error(t, err)
	assert.False(t, errors.Is(err, errRefused))
	_, found := readWorker(t, s, wk1)
	assert.False(t, found, "the record is not stored without its job")
	assert.Zero(t, pending(t, s))
}
