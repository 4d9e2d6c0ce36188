package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/taskrouter"
)

// JobsQueued ticks once a commit that queued jobs is durable, and only then: not for a write
// that queued nothing, nor for one that failed after queueing.
func TestJobsQueuedTicksOnlyForACommitThatQueuedJobs(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "q.db"))
	ch := db.JobsQueued()
	task := testkit.SID("WT")
	first, second := testkit.SID("WR"), testkit.SID("WR")
	for _, sid := range []string{first, second} {
		_, _, err := db.UpdateReservation(ctx, sid, task, "", create1(sid, task))
		require.NoError(t, err)
	}
	assert.Empty(t, ch, "no job queued")

	refused := errors.New("refused by the test")
	n := 0
	_, err := db.UpdateTask(ctx, task, "", "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		n++
		if n == 2 {
			return taskrouter.Change{}, refused
		}
		return taskrouter.Change{Jobs: []taskrouter.Job{{Kind: taskrouter.JobReject}}}, nil
	})
	require.ErrorIs(t, err, refused)
	assert.Empty(t, ch, "the job was rolled back with its write")

	_, _, err = db.UpdateReservation(ctx, first, "", "", func(s taskrouter.Snapshot) (taskrouter.Change, error) {
		return taskrouter.Change{Jobs: []taskrouter.Job{{Kind: taskrouter.JobReject}}}, nil
	})
	require.NoError(t, err)
	assert.Len(t, ch, 1, "the commit ticked before the write returned")
}
