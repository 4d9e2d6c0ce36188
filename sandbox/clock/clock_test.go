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
