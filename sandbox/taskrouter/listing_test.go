package taskrouter

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTasksAndWorkersListOldestFirst(t *testing.T) {
	h := newHarness(t)
	h.workspace("")
	q := h.queue("q", "")
	ann := h.worker("ann", map[string]any{"contact_uri": "+15550000001"}, h.available)
	ben := h.worker("ben", nil, h.offline)
	wf := h.simpleWorkflow(q)
	first := h.task(wf, map[string]any{"n": 1})
	second := h.task(wf, map[string]any{"n": 2})

	tasks := h.engine.Tasks()
	require.Len(t, tasks, 2)
	assert.Equal(t, first, tasks[0].Sid)
	assert.Equal(t, "reserved", tasks[0].AssignmentStatus, "ann, the only available worker, holds the first task")
	assert.Equal(t, second, tasks[1].Sid)
	assert.Equal(t, "pending", tasks[1].AssignmentStatus)

	workers := h.engine.Workers()
	require.Len(t, workers, 2)
	assert.Equal(t, ann, workers[0].Sid)
	assert.Equal(t, "+15550000001", workers[0].Attributes["contact_uri"])
	assert.Equal(t, ben, workers[1].Sid)
	assert.Equal(t, "Offline", workers[1].ActivityName)
	assert.False(t, workers[1].Available)
}
