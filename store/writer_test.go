package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/taskrouter"
)

// Writes that arrive together share one commit; one that fails must leave the others intact
// and must itself leave nothing behind.
func TestGroupCommitKeepsEachWriteAllOrNothing(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "q.db")
	db := open(t, path)
	refused := errors.New("refused by the test")
	const n = 200
	var wg sync.WaitGroup
	errs := make([]error, n)
	// Each write's reservation, task and event SIDs.
	sids := make([][3]string, n)
	for i := range sids {
		sids[i] = [3]string{testkit.SID("WR"), testkit.SID("WT"), testkit.SID("EV")}
	}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sid, task := sids[i][0], sids[i][1]
			_, _, errs[i] = db.UpdateReservation(ctx, sid, task, sids[i][2], func(s taskrouter.Snapshot) (taskrouter.Change, error) {
				r := taskrouter.Reservation{SID: sid, TaskSID: task, WorkspaceSID: "WS1", State: taskrouter.StatePending,
					CreatedAt: time.UnixMilli(1000), UpdatedAt: time.UnixMilli(1000)}
				if i%3 == 0 {
					return taskrouter.Change{}, refused
				}
				return taskrouter.Change{Reservation: &r, Jobs: []taskrouter.Job{{Kind: taskrouter.JobDial}}}, nil
			})
		}()
	}
	wg.Wait()
	require.NoError(t, db.Close())

	db = open(t, path)
	jobs, err := db.PendingJobs(ctx)
	require.NoError(t, err)
	assert.Equal(t, n-(n+2)/3, jobs, "one job per write that succeeded, none for those that failed")
	for i := range n {
		_, err := db.Reservation(ctx, sids[i][0])
		if i%3 == 0 {
			assert.ErrorIs(t, errs[i], refused)
			assert.ErrorIs(t, err, taskrouter.ErrNotFound, "write %d failed: nothing of it is stored", i)
			// Its event was not recorded either: a retry is applied.
			_, dup, err := db.UpdateReservation(ctx, "WRx", "", sids[i][2], func(taskrouter.Snapshot) (taskrouter.Change, error) {
				return taskrouter.Change{}, nil
			})
			require.NoError(t, err)
			assert.False(t, dup)
		} else {
			assert.NoError(t, errs[i])
			assert.NoError(t, err, "write %d succeeded: it survives a reopen", i)
		}
	}
}

func TestWritesAfterCloseFail(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "q.db"), nil)
	require.NoError(t, err)
	require.NoError(t, db.Close())
	_, err = db.ClaimJobs(context.Background(), time.Now(), time.Minute, 1)
	assert.Error(t, err)
}
