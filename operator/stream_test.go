package operator

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/taskrouter"
)

func waiting(m *Model, i int) {
	m.Observe(taskrouter.Event{Type: taskrouter.EventTaskCreated, TaskSID: "WT" + strings.Repeat("0", 28) + string(rune('a'+i/26)) + string(rune('a'+i%26))})
}

// decode reads one framed Server-Sent Event.
func decode(t *testing.T, msg []byte, wantEvent string, v any) {
	t.Helper()
	name, data, ok := strings.Cut(strings.TrimSuffix(string(msg), "\n\n"), "\ndata: ")
	require.True(t, ok, "a framed event: %q", msg)
	assert.Equal(t, "event: "+wantEvent, name)
	require.NoError(t, json.Unmarshal([]byte(data), v))
}

// A page that stops reading never holds the model up: its queue fills, what does not fit is
// dropped, and the page is marked behind; its writer then sends a fresh snapshot of everything,
// in place of what it missed.
func TestASlowPageIsDroppedBehindAndResynchronised(t *testing.T) {
	m := NewModel(ModelOptions{MaxRows: 100 * streamBuffer, PatchRate: 1e9}) // every change a patch
	slow, first, err := m.subscribe()
	require.NoError(t, err)
	var snap Snapshot
	decode(t, first, "snapshot", &snap)
	assert.Empty(t, snap.Calls)

	start := time.Now()
	n := streamBuffer * 10
	for i := range n {
		waiting(m, i)
	}
	assert.Less(t, time.Since(start), 2*time.Second, "publishing never waits for the page")
	assert.Len(t, slow.msgs, streamBuffer, "the queue holds what fits")
	select {
	case <-slow.behind:
	default:
		t.Fatal("the page is not marked behind")
	}
	slow.behind <- struct{}{} // as the writer would find it

	again := m.resync(slow)
	decode(t, again, "snapshot", &snap)
	assert.Len(t, snap.Calls, n, "the snapshot has everything, the dropped changes included")
	assert.Empty(t, slow.msgs, "what it missed is not sent after the snapshot")
	assert.Empty(t, slow.behind)

	waiting(m, n)
	require.Len(t, slow.msgs, 1, "changes after the snapshot follow it")
	var p Patch
	decode(t, <-slow.msgs, "patch", &p)
	require.Len(t, p.Calls, 1)
}

// A page that keeps up gets the snapshot then each patch, in order; a closed model ends every
// stream and refuses new ones, and MaxStreams bounds the pages.
func TestStreamsGetEveryPatchInOrderAndEndOnClose(t *testing.T) {
	m := NewModel(ModelOptions{MaxStreams: 2, PatchRate: 1e9})
	s, _, err := m.subscribe()
	require.NoError(t, err)
	for i := range 3 {
		waiting(m, i)
	}
	for i := range 3 {
		var p Patch
		decode(t, <-s.msgs, "patch", &p)
		require.Len(t, p.Calls, 1)
		assert.True(t, strings.HasSuffix(p.Calls[0].Key, "a"+string(rune('a'+i))), p.Calls[0].Key)
	}
	_, _, err = m.subscribe()
	require.NoError(t, err)
	_, _, err = m.subscribe()
	assert.ErrorIs(t, err, ErrTooManyStreams)
	m.unsubscribe(s)
	assert.Equal(t, 1, m.Streams())

	m.Close()
	_, _, err = m.subscribe()
	assert.Error(t, err)
}

// Past the patch budget the model stops sending a patch per change: it holds the changes and
// sends every page one snapshot (encoded once) per CoalesceEvery; once the changes stop,
// patches resume. So a flood of changes costs the webhooks no encoding, and the pages a few
// snapshots a second however many changes there were.
func TestPastThePatchBudgetChangesAreCoalescedIntoSnapshots(t *testing.T) {
	m := NewModel(ModelOptions{MaxRows: 1000, PatchRate: 10, CoalesceEvery: 20 * time.Millisecond})
	t.Cleanup(m.Close)
	s, _, err := m.subscribe()
	require.NoError(t, err)
	for i := range 50 {
		waiting(m, i)
	}
	assert.Len(t, s.msgs, 20, "the burst (twice the rate) goes out as patches, the rest is held")
	for range 20 {
		var p Patch
		decode(t, <-s.msgs, "patch", &p)
	}
	var snap Snapshot
	select {
	case msg := <-s.msgs:
		decode(t, msg, "snapshot", &snap)
	case <-time.After(5 * time.Second):
		t.Fatal("no coalesced snapshot")
	}
	assert.Len(t, snap.Calls, 50, "the snapshot holds every change held back")
	require.Eventually(t, func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return !m.coalescing
	}, 5*time.Second, time.Millisecond, "coalescing ends once the changes stop")
	m.mu.Lock()
	m.tokens = 1 // the bucket refills with time: one patch's worth, without waiting for it
	m.mu.Unlock()
	waiting(m, 50)
	var p Patch
	decode(t, <-s.msgs, "patch", &p)
	assert.Len(t, p.Calls, 1)
}

// A burst queued for a page goes out in one write, and the shared messages are never written into.
func TestDrainJoinsQueuedMessagesWithoutTouchingThem(t *testing.T) {
	msgs := make(chan []byte, 4)
	first := append(make([]byte, 0, 256), sseEvent("patch", []byte(`{"a":1}`))...) // room to append in place
	second := sseEvent("patch", []byte(`{"b":2}`))
	before := string(first)
	msgs <- second
	out := drain(first, msgs)
	assert.Equal(t, before+string(second), string(out))
	spare := first[len(first):cap(first)]
	assert.Equal(t, make([]byte, len(spare)), spare, "nothing was written past the shared message (other pages read it)")
	assert.Equal(t, string(first), string(drain(first, msgs)), "nothing queued: the message alone")
}

// A coalesced snapshot goes out spreadGroup pages at a time; until the last group has it, the
// model keeps coalescing, so no page gets a patch before its snapshot, however many changes
// come in meanwhile.
func TestACoalescedSnapshotIsSpreadAndNoPatchOvertakesIt(t *testing.T) {
	m := NewModel(ModelOptions{MaxRows: 1000, PatchRate: 1, CoalesceEvery: 10 * time.Millisecond})
	t.Cleanup(m.Close)
	pages := make([]*stream, 3*spreadGroup+1)
	for i := range pages {
		s, _, err := m.subscribe()
		require.NoError(t, err)
		pages[i] = s
	}
	for i := range 5 {
		waiting(m, i) // two patches (the burst), then held
	}
	snapshotted := func(s *stream) bool {
		for _, msg := range queued(m, s) {
			if strings.HasPrefix(string(msg), "event: snapshot") {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(5 * time.Second)
	for i := 5; ; i++ {
		all := true
		for _, s := range pages {
			all = all && snapshotted(s)
		}
		if all {
			break
		}
		require.True(t, time.Now().Before(deadline), "every page gets the coalesced snapshot")
		m.mu.Lock()
		m.tokens = 10 // budget to spare: only coalescing may hold a change back
		m.mu.Unlock()
		waiting(m, i) // changes keep coming while the snapshot is spread
		time.Sleep(time.Millisecond)
	}
	for i, s := range pages {
		var kinds []string
		for _, msg := range queued(m, s) {
			kind, _, _ := strings.Cut(strings.TrimPrefix(string(msg), "event: "), "\n")
			kinds = append(kinds, kind)
		}
		require.GreaterOrEqual(t, len(kinds), 3, "page %d", i)
		assert.Equal(t, []string{"patch", "patch", "snapshot"}, kinds[:3], "page %d: the burst's patches, then the snapshot, nothing between", i)
	}
}

// queued returns the messages waiting in a stream's queue, leaving them there (under the
// model's lock, which every send holds, so none comes in between).
func queued(m *Model, s *stream) [][]byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out [][]byte
	for range len(s.msgs) {
		msg := <-s.msgs
		out = append(out, msg)
		s.msgs <- msg
	}
	return out
}
