package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/taskrouter"
)

// RunShared runs the promises several processes on one database rely on, each subtest on two
// stores of its own: open returns two new stores on one new, empty database (two connection
// pools, as two replicas have) and closes them when t ends. Only a store that several processes
// may share runs it (the SQLite store forbids a second process).
func RunShared(t *testing.T, open func(t *testing.T) (s, o taskrouter.Store)) {
	tests := []struct {
		name string
		run  raceTest
	}{
		{"one of concurrent compare-and-sets on two stores wins", compareAndSetOneWins},
		{"one of concurrent creations on two stores wins", createOneWins},
		{"a duplicate event delivered to two stores is applied once", concurrentDuplicateEvent},
		{"concurrent updates on two stores are each all or nothing", concurrentAllOrNothing},
		{"UpdateTask on one store and UpdateReservation on the other serialize", taskAndReservationSerialize},
		{"a task canceled on one store while its reservation is created on the other ends canceled", canceledWhileCreated},
		{"claimers on two stores claim each job once", concurrentClaimers},
		{"a lease extended on one store keeps the job from the other", leaseExtendedAcross},
		{"ResumeJobs takes back only jobs whose lease ended", resumeOnlyEndedLeases},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, o := open(t)
			tc.run(t, s, o)
		})
	}
}

// canceledWhileCreated races reservation.created's transition (on s) against task.canceled's
// (on o) for the same task: whichever goes first, the reservation must end canceled, with no
// dial job. Interleaved, the cancel would miss the reservation being stored, and the
// reservation miss the cancel being recorded: it would stay pending, and its agent be rung for
// a caller who left.
func canceledWhileCreated(t *testing.T, s, o taskrouter.Store) {
	const rounds = 30
	created := func(r taskrouter.Reservation) taskrouter.UpdateFunc {
		return func(snap taskrouter.Snapshot) (taskrouter.Change, error) {
			if snap.Found {
				return taskrouter.Change{}, nil
			}
			if snap.TaskCanceled != "" {
				r.State = taskrouter.StateCanceled
				return taskrouter.Change{Reservation: &r}, nil
			}
			return taskrouter.Change{Reservation: &r, Jobs: []taskrouter.Job{job(taskrouter.JobDial, "", r.SID, at(0))}}, nil
		}
	}
	canceled := func(snap taskrouter.Snapshot) (taskrouter.Change, error) {
		r := snap.Reservation
		if r.State != taskrouter.StatePending {
			return taskrouter.Change{}, nil
		}
		r.State = taskrouter.StateCanceled
		return taskrouter.Change{Reservation: &r, Jobs: []taskrouter.Job{job(taskrouter.JobHangup, "", "hangup "+r.SID, at(0))}}, nil
	}
	errs := make([][2]error, rounds)
	for n := range rounds {
		r := reservation(sid("WR", n), sid("WT", n), taskrouter.StatePending)
		r.CallSID, r.CallStatus = "", ""
		together(2, func(i int) {
			if i == 0 {
				_, _, errs[n][0] = s.UpdateReservation(t.Context(), r.SID, r.TaskSID, sid("EV", 2*n), created(r))
			} else {
				_, errs[n][1] = o.UpdateTask(t.Context(), r.TaskSID, "hangup", sid("EV", 2*n+1), canceled)
			}
		})
	}
	jobs := map[string]string{}
	for _, j := range claim(t, s, at(time.Hour)) {
		jobs[j.ReservationSID] = string(j.Kind)
	}
	for n := range rounds {
		require.NoError(t, errs[n][0], "round %d: created", n)
		require.NoError(t, errs[n][1], "round %d: canceled", n)
		r := get(t, s, sid("WR", n))
		assert.Equal(t, taskrouter.StateCanceled, r.State, "round %d: a reservation of a canceled task", n)
		if kind, ok := jobs[r.SID]; ok {
			// Created first: its dial job was queued, and the cancel queued a hang-up after it.
			assert.Equal(t, string(taskrouter.JobHangup), kind, "round %d: the last job is the cancel's", n)
		}
	}
}

// leaseExtendedAcross: a job claimed on s, its lease extended there, is not claimed by o until
// the extended lease ends; then o claims it, one attempt more.
func leaseExtendedAcross(t *testing.T, s, o taskrouter.Store) {
	queue(t, s, job(taskrouter.JobDial, wr1, "a", at(0)))
	first := claim(t, s, at(0))
	require.Len(t, first, 1)
	require.NoError(t, s.ExtendLeases(t.Context(), []int64{first[0].ID}, at(3*lease)))
	assert.Empty(t, claim(t, o, at(lease)), "the first lease ended, but it was extended")
	assert.Empty(t, claim(t, o, at(3*lease-time.Millisecond)), "the extended lease holds")
	again := claim(t, o, at(3*lease))
	require.Len(t, again, 1, "the extended lease ended: the other store claims the job")
	assert.Equal(t, first[0].ID, again[0].ID)
	assert.Equal(t, first[0].Attempts+1, again[0].Attempts)
}

// resumeOnlyEndedLeases: ResumeJobs (a process starting) puts back a job whose lease ended, and
// leaves alone one another process holds a lease on now.
func resumeOnlyEndedLeases(t *testing.T, s, o taskrouter.Store) {
	queue(t, s, job(taskrouter.JobDial, wr1, "stranded", at(0)), job(taskrouter.JobDial, wr1, "live", at(0)))
	claimed, err := s.ClaimJobs(t.Context(), at(0), time.Second, 10) // both leases ended long ago
	require.NoError(t, err)
	require.Equal(t, []string{"stranded", "live"}, labels(claimed))
	stranded, live := claimed[0], claimed[1]
	require.NoError(t, s.ExtendLeases(t.Context(), []int64{live.ID}, time.Now().Add(time.Hour)), "s still runs live")

	n, err := o.ResumeJobs(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 1, n, "only the job whose lease ended")
	resumed, err := o.ClaimJobs(t.Context(), time.Now(), time.Hour, 10)
	require.NoError(t, err)
	assert.Equal(t, []string{"stranded"}, labels(resumed), "the live job's lease holds")
	require.Len(t, resumed, 1)
	assert.Equal(t, stranded.Attempts, resumed[0].Attempts, "resumed, not claimed after its lease: no attempt counted")
}
