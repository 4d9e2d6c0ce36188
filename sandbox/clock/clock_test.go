package clock

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestManualRunsTimersInOrderAndStopCancels(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewManual(start)
	var got []string
	c.AfterFunc(2*time.Second, func() { got = append(got, "b") })
	c.AfterFunc(time.Second, func() {
		got = append(got, "a")
		c.AfterFunc(500*time.Millisecond, func() { got = append(got, "a2") })
	})
	stopped := c.AfterFunc(1500*time.Millisecond, func() { got = append(got, "never") })
	assert.True(t, stopped.Stop())
	assert.False(t, stopped.Stop())

	c.Advance(1600 * time.Millisecond)
	assert.Equal(t, []string{"a", "a2"}, got)
	c.Advance(time.Second)
	assert.Equal(t, []string{"a", "a2", "b"}, got)
	assert.Equal(t, start.Add(2600*time.Millisecond), c.Now())
	assert.Zero(t, c.Pending())
}

func TestScaledRunsFaster(t *testing.T) {
	c := NewScaled(1000)
	done := make(chan time.Time, 1)
	c.AfterFunc(10*time.Second, func() { done <- c.Now() })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a 10 s timer at 1000x did not fire within 5 s of real time")
	}
}

func TestManualStepRunsOneTimerAtATime(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewManual(start)
	_, ok := c.NextAt()
	assert.False(t, ok, "no timer yet")
	assert.False(t, c.Step(), "nothing to run")
	assert.Equal(t, start, c.Now())

	var got []string
	c.AfterFunc(2*time.Second, func() { got = append(got, "late") })
	c.AfterFunc(time.Second, func() {
		got = append(got, "first")
		c.AfterFunc(0, func() { got = append(got, "same instant, scheduled later") })
	})
	c.AfterFunc(time.Second, func() { got = append(got, "second") })
	stopped := c.AfterFunc(500*time.Millisecond, func() { got = append(got, "never") })
	stopped.Stop()

	at, ok := c.NextAt()
	assert.True(t, ok)
	assert.Equal(t, start.Add(time.Second), at, "the stopped timer is not due")

	assert.True(t, c.Step())
	assert.Equal(t, []string{"first"}, got, "one timer per step")
	assert.Equal(t, start.Add(time.Second), c.Now())
	assert.True(t, c.Step())
	assert.Equal(t, []string{"first", "second"}, got, "same instant: the order they were scheduled in")
	assert.True(t, c.Step())
	assert.Equal(t, []string{"first", "second", "same instant, scheduled later"}, got)
	assert.Equal(t, start.Add(time.Second), c.Now())
	assert.True(t, c.Step())
	assert.Equal(t, start.Add(2*time.Second), c.Now())
	assert.False(t, c.Step())
	assert.Equal(t, []string{"first", "second", "same instant, scheduled later", "late"}, got)
}

func TestManualStepNeverMovesBackwards(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := NewManual(start)
	c.AfterFunc(time.Second, func() {})
	c.Advance(500 * time.Millisecond)
	c.AfterFunc(-time.Second, func() {}) // due in the past: runs at the current time
	assert.True(t, c.Step())
	assert.Equal(t, start.Add(500*time.Millisecond), c.Now())
	assert.True(t, c.Step())
	assert.Equal(t, start.Add(time.Second), c.Now())
}
