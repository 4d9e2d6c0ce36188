package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/taskrouter"
)

var jobTests = []test{
	{"ClaimJobs returns due jobs only, at most limit, earliest first", claimDueJobs},
	{"ClaimJobs does not claim a running job again", claimOnce},
	{"FinishJob removes the job", finishJob},
	{"RetryJob queues the job again, counting the attempt", retryJob},
	{"ResumeJobs queues running jobs again", resumeJobs},
	{"a running job whose lease ended is claimed again, one attempt more", leaseEnds},
	{"ExtendLeases moves a running job's lease later, never earlier", extendLeases},
	{"NextJobAt reports the earliest queued job", nextJobAt},
	{"PendingJobs counts queued and running jobs", pendingJobs},
}

// queue stores a reservation wr1 with jobs.
func queue(t *testing.T, s taskrouter.Store, jobs ...taskrouter.Job) {
	t.Helper()
	put(t, s, reservation(wr1, wt1, taskrouter.StatePending), jobs...)
}

func claimDueJobs(t *testing.T, s taskrouter.Store) {
	queue(t, s,
		job(taskrouter.JobDial, wr1, "c", at(3*time.Second)),
		job(taskrouter.JobReject, wr1, "a", at(time.Second)),
		job(taskrouter.JobHangup, wr2, "later", at(3*time.Second+time.Millisecond)),
		job(taskrouter.JobCompleteTask, wr3, "b", at(2*time.Second)),
	)
	assert.Empty(t, claim(t, s, at(time.Second-time.Millisecond)), "none is due yet")

	jobs, err := s.ClaimJobs(t.Context(), at(3*time.Second), lease, 2)
	require.NoError(t, err)
	require.Len(t, jobs, 2, "at most limit")
	assert.Equal(t, []string{"a", "b"}, labels(jobs), "earliest first")
	b := jobs[1]
	assert.Equal(t, taskrouter.JobCompleteTask, b.Kind)
	assert.Equal(t, wr3, b.ReservationSID)
	assert.True(t, at(2*time.Second).Equal(b.NotBefore), "not before %v", b.NotBefore)
	assert.True(t, at(2*time.Second+time.Minute).Equal(b.Deadline), "deadline %v", b.Deadline)
	assert.Zero(t, b.Attempts)
	assert.Empty(t, b.LastErr)

	assert.Equal(t, []string{"c"}, labels(claim(t, s, at(3*time.Second))), "a job due exactly now is due")
	assert.Empty(t, claim(t, s, at(3*time.Second)), "the later job is not due yet")
	assert.Equal(t, []string{"later"}, labels(claim(t, s, at(time.Hour))))
}

func claimOnce(t *testing.T, s taskrouter.Store) {
	queue(t, s, job(taskrouter.JobDial, wr1, "a", at(0)), job(taskrouter.JobDial, wr1, "b", at(0)))
	first := claim(t, s, at(time.Hour))
	assert.ElementsMatch(t, []string{"a", "b"}, labels(first))
	assert.Empty(t, claim(t, s, at(time.Hour)), "running jobs are not claimed again")
	assert.Equal(t, 2, pending(t, s))
}

func finishJob(t *testing.T, s taskrouter.Store) {
	queue(t, s, job(taskrouter.JobDial, wr1, "a", at(0)), job(taskrouter.JobDial, wr1, "b", at(time.Second)))
	jobs := claim(t, s, at(0))
	require.Len(t, jobs, 1)
	require.NoError(t, s.FinishJob(t.Context(), jobs[0].ID, "done"))
	assert.Equal(t, 1, pending(t, s))
	n, err := s.ResumeJobs(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n, "a finished job is not running")
	assert.Equal(t, []string{"b"}, labels(claim(t, s, at(time.Hour))), "a finished job is gone")
}

func retryJob(t *testing.T, s taskrouter.Store) {
	queue(t, s, job(taskrouter.JobDial, wr1, "a", at(0)))
	jobs := claim(t, s, at(0))
	require.Len(t, jobs, 1)
	first := jobs[0]

	require.NoError(t, s.RetryJob(t.Context(), first.ID, at(time.Minute), "503 from Twilio"))
	assert.Equal(t, 1, pending(t, s))
	next, ok, err := s.NextJobAt(t.Context())
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, at(time.Minute).Equal(next), "next job at %v", next)
	assert.Empty(t, claim(t, s, at(time.Minute-time.Millisecond)), "not due before its new time")

	jobs = claim(t, s, at(time.Minute))
	require.Len(t, jobs, 1)
	want := first
	want.Attempts, want.NotBefore, want.LastErr = 1, at(time.Minute), "503 from Twilio"
	assertSameJob(t, want, jobs[0])

	require.NoError(t, s.RetryJob(t.Context(), first.ID, at(2*time.Minute), "timeout"))
	jobs = claim(t, s, at(2*time.Minute))
	require.Len(t, jobs, 1)
	want.Attempts, want.NotBefore, want.LastErr = 2, at(2*time.Minute), "timeout"
	assertSameJob(t, want, jobs[0])
}

// assertSameJob compares jobs, times as instants.
func assertSameJob(t *testing.T, want, got taskrouter.Job) {
	t.Helper()
	assert.Equal(t, inUTC(want), inUTC(got))
}

func resumeJobs(t *testing.T, s taskrouter.Store) {
	queue(t, s, job(taskrouter.JobDial, wr1, "a", at(0)), job(taskrouter.JobDial, wr1, "b", at(time.Second)),
		job(taskrouter.JobDial, wr1, "c", at(time.Hour)))
	running := claim(t, s, at(time.Second))
	require.Len(t, running, 2)

	n, err := s.ResumeJobs(t.Context())
	require.NoError(t, err)
	assert.Equal(t, 2, n, "the running jobs, not the queued one")
	n, err = s.ResumeJobs(t.Context())
	require.NoError(t, err)
	assert.Zero(t, n)
	resumed := claim(t, s, at(time.Second))
	require.Equal(t, []string{"a", "b"}, labels(resumed))
	for i := range resumed {
		assertSameJob(t, running[i], resumed[i])
	}
	assert.Equal(t, 3, pending(t, s))
}

func nextJobAt(t *testing.T, s taskrouter.Store) {
	_, ok, err := s.NextJobAt(t.Context())
	require.NoError(t, err)
	assert.False(t, ok, "no job")

	queue(t, s, job(taskrouter.JobDial, wr1, "a", at(5*time.Second)), job(taskrouter.JobDial, wr1, "b", at(2*time.Second)))
	next, ok, err := s.NextJobAt(t.Context())
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, at(2*time.Second).Equal(next), "next at %v", next)

	require.Len(t, claim(t, s, at(2*time.Second)), 1)
	next, ok, err = s.NextJobAt(t.Context())
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, at(5*time.Second).Equal(next), "a running job is not next: next at %v", next)

	require.Len(t, claim(t, s, at(time.Hour)), 1)
	next, ok, err = s.NextJobAt(t.Context())
	require.NoError(t, err)
	require.True(t, ok, "every job is running: the next is the first lease to end")
	assert.True(t, at(2*time.Second+lease).Equal(next), "next at %v", next)
}

func leaseEnds(t *testing.T, s taskrouter.Store) {
	queue(t, s, job(taskrouter.JobDial, wr1, "a", at(0)), job(taskrouter.JobReject, wr1, "b", at(time.Second)))
	first := claim(t, s, at(time.Second))
	require.Equal(t, []string{"a", "b"}, labels(first))
	assert.Empty(t, claim(t, s, at(time.Second+lease-time.Millisecond)), "both leases still hold")

	again := claim(t, s, at(time.Second+lease))
	require.Equal(t, []string{"a", "b"}, labels(again), "stranded jobs come back at the end of their lease")
	for i := range again {
		assert.Equal(t, first[i].ID, again[i].ID)
		assert.Equal(t, first[i].Attempts+1, again[i].Attempts, "the stranded run counts as an attempt")
	}
	assert.Empty(t, claim(t, s, at(time.Second+lease)), "claiming renews the lease")
	assert.Equal(t, []string{"a", "b"}, labels(claim(t, s, at(time.Second+2*lease))))

	require.NoError(t, s.RetryJob(t.Context(), again[0].ID, at(3*lease), "later"))
	require.NoError(t, s.FinishJob(t.Context(), again[1].ID, "done"))
	assert.Empty(t, claim(t, s, at(3*lease-time.Millisecond)), "a rescheduled job waits for its time, not its old lease")
	assert.Equal(t, []string{"a"}, labels(claim(t, s, at(3*lease))))
	assert.Equal(t, 1, pending(t, s))
}

func pendingJobs(t *testing.T, s taskrouter.Store) {
	assert.Zero(t, pending(t, s))
	queue(t, s, job(taskrouter.JobDial, wr1, "a", at(0)), job(taskrouter.JobDial, wr1, "b", at(0)),
		job(taskrouter.JobDial, wr1, "c", at(time.Hour)))
	assert.Equal(t, 3, pending(t, s))
	jobs, err := s.ClaimJobs(t.Context(), at(0), lease, 1)
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	assert.Equal(t, 3, pending(t, s), "a running job is pending")
	require.NoError(t, s.FinishJob(t.Context(), jobs[0].ID, "done"))
	assert.Equal(t, 2, pending(t, s))
}

func extendLeases(t *testing.T, s taskrouter.Store) {
	require.NoError(t, s.ExtendLeases(t.Context(), nil, at(time.Hour)), "nothing to extend")
	queue(t, s, job(taskrouter.JobDial, wr1, "a", at(0)), job(taskrouter.JobReject, wr1, "b", at(0)))
	first := claim(t, s, at(0))
	require.Equal(t, []string{"a", "b"}, labels(first))
	a, b := first[0], first[1]

	require.NoError(t, s.ExtendLeases(t.Context(), []int64{a.ID}, at(2*lease)))
	again := claim(t, s, at(lease))
	assert.Equal(t, []string{"b"}, labels(again), "a's lease was extended; b's ended")
	require.NoError(t, s.ExtendLeases(t.Context(), []int64{a.ID, b.ID}, at(lease)), "earlier than both leases")
	assert.Empty(t, claim(t, s, at(2*lease-time.Millisecond)), "a lease is never moved back")
	assert.Equal(t, []string{"a", "b"}, labels(claim(t, s, at(2*lease))))

	// A job no longer running is left alone: a queued job keeps its time, a finished one is gone.
	require.NoError(t, s.RetryJob(t.Context(), a.ID, at(5*lease), "later"))
	require.NoError(t, s.FinishJob(t.Context(), b.ID, "done"))
	require.NoError(t, s.ExtendLeases(t.Context(), []int64{a.ID, b.ID}, at(10*lease)))
	next, ok, err := s.NextJobAt(t.Context())
	require.NoError(t, err)
	require.True(t, ok)
	assert.True(t, at(5*lease).Equal(next), "the rescheduled job is due at its time: %v", next)
	assert.Equal(t, []string{"a"}, labels(claim(t, s, at(5*lease))))
	assert.Equal(t, 1, pending(t, s))
}
