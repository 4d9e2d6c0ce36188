package taskrouter_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"queuebridge/internal/testkit"
	"queuebridge/store"
	"queuebridge/taskrouter"
)

// writeCounter counts the updates that reach the store (each a write transaction).
type writeCounter struct {
	*store.DB
	writes atomic.Int64
}

func (w *writeCounter) UpdateReservation(ctx context.Context, sid, taskSID, eventSID string, fn taskrouter.UpdateFunc) (taskrouter.Reservation, bool, error) {
	w.writes.Add(1)
	return w.DB.UpdateReservation(ctx, sid, taskSID, eventSID, fn)
}

func (w *writeCounter) UpdateTask(ctx context.Context, taskSID, reason, eventSID string, fn taskrouter.UpdateFunc) (bool, error) {
	w.writes.Add(1)
	return w.DB.UpdateTask(ctx, taskSID, reason, eventSID, fn)
}

// A /dial-queue request that changes nothing (Twilio retrying for a reservation already
// decided, a leg that is not the reservation's, a reservation unknown) is answered from a
// read: the same instruction as the first answer, and no write.
func TestADecidedAnswerIsReadNotWritten(t *testing.T) {
	st := &writeCounter{DB: openStore(t)}
	tw := &fakeTwilio{}
	b := newBridge(t, st, tw, 1)
	ctx := context.Background()
	ringing := func() (res, call string) {
		res = testkit.SID("WR")
		require.NoError(t, b.HandleEvent(ctx, event("reservation.created", res, testkit.SID("WT"))))
		stop := run(t, b)
		require.Eventually(t, func() bool { r, err := st.Reservation(ctx, res); return err == nil && r.CallSID != "" }, 5*time.Second, time.Millisecond)
		stop()
		r, err := st.Reservation(ctx, res)
		require.NoError(t, err)
		return res, r.CallSID
	}
	answer := func(res, call string, by taskrouter.AnsweredBy) (taskrouter.Instruction, int64) {
		t.Helper()
		before := st.writes.Load()
		ins, err := b.AgentAnswered(ctx, taskrouter.Answer{ReservationSID: res, CallSID: call, AnsweredBy: by})
		require.NoError(t, err)
		return ins, st.writes.Load() - before
	}

	human, humanLeg := ringing()
	first, writes := answer(human, humanLeg, taskrouter.AnsweredHuman)
	require.Equal(t, taskrouter.Connect, first.Kind)
	assert.EqualValues(t, 1, writes, "the first answer decides: one write")
	retry, writes := answer(human, humanLeg, taskrouter.AnsweredHuman)
	assert.Equal(t, first, retry, "the retry gets the first answer's instruction")
	assert.Zero(t, writes, "a retried answer is read, not written")

	machine, machineLeg := ringing()
	first, writes = answer(machine, machineLeg, taskrouter.AnsweredMachineStart)
	require.Equal(t, taskrouter.Hangup, first.Kind)
	assert.EqualValues(t, 1, writes)
	retry, writes = answer(machine, machineLeg, taskrouter.AnsweredMachineStart)
	assert.Equal(t, first, retry)
	assert.Zero(t, writes, "a retry after a machine verdict is read")

	for name, a := range map[string]taskrouter.Answer{
		"a leg that is not the reservation's": {ReservationSID: human, CallSID: testkit.SID("CA"), AnsweredBy: taskrouter.AnsweredHuman},
		"an unknown reservation":              {ReservationSID: testkit.SID("WR"), CallSID: testkit.SID("CA"), AnsweredBy: taskrouter.AnsweredHuman},
	} {
		ins, writes := answer(a.ReservationSID, a.CallSID, a.AnsweredBy)
		assert.Equal(t, taskrouter.Instruction{Kind: taskrouter.Goodbye, Message: taskrouter.MsgNotNeeded}, ins, name)
		assert.Zero(t, writes, "%s: read, not written", name)
	}
	r, err := st.Reservation(ctx, human)
	require.NoError(t, err)
	assert.Equal(t, taskrouter.StateBridging, r.State, "the reads changed nothing")
}
