// Package clock gives the sandbox a time source that tests can drive: real time for demos,
// accelerated time so a two-minute reservation timeout passes in a second, or a manual clock
// that moves only when a test advances it.
package clock

import (
	"container/heap"
	"sync"
	"time"
)

// Clock is the sandbox's only source of time. Every timer in the sandbox (ringing, AMD,
// reservation timeouts, persona behaviour) is scheduled through it.
type Clock interface {
	Now() time.Time
	// AfterFunc runs f in its own goroutine once d of this clock's time has passed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a scheduled function that can be stopped before it runs.
type Timer interface {
	// Stop prevents the function from running; it reports whether it did.
	Stop() bool
}

// Real is wall-clock time.
type Real struct{}

// Now returns the current wall-clock time.
func (Real) Now() time.Time { return time.Now() }

// AfterFunc schedules f after d of wall-clock time.
func (Real) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// Scaled runs Factor times faster than wall-clock time: with Factor 100, a 120 s reservation
// timeout passes in 1.2 s. Now starts at the wall-clock time of creation.
type Scaled struct {
	factor float64
	start  time.Time
}

// NewScaled returns a clock that runs factor times faster than real time (factor >= 1).
func NewScaled(factor float64) *Scaled {
	if factor < 1 {
		factor = 1
	}
	return &Scaled{factor: factor, start: time.Now()}
}

// Now returns the scaled time.
func (s *Scaled) Now() time.Time {
	elapsed := time.Since(s.start)
	return s.start.Add(time.Duration(float64(elapsed) * s.factor))
}

// AfterFunc schedules f after d of scaled time.
func (s *Scaled) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(time.Duration(float64(d)/s.factor), f)
}

// Manual moves only when Advance is called; due timers then run in time order.
type Manual struct {
	mu     sync.Mutex
	now    time.Time
	timers timerHeap
	seq    uint64
}

// NewManual returns a manual clock set to start.
func NewManual(start time.Time) *Manual { return &Manual{now: start} }

// Now returns the clock's current time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// AfterFunc schedules f at Now()+d; it runs during the Advance that passes that instant.
func (m *Manual) AfterFunc(d time.Duration, f func()) Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.seq++
	t := &manualTimer{clock: m, at: m.now.Add(d), seq: m.seq, f: f, index: -1}
	heap.Push(&m.timers, t)
	return t
}

// Advance moves the clock forward by d, running every timer that falls due, in order, each
// synchronously (so a test sees its effects when Advance returns). Timers scheduled by those
// functions that fall within the window run too.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	target := m.now.Add(d)
	for len(m.timers) > 0 && !m.timers[0].at.After(target) {
		t := heap.Pop(&m.timers).(*manualTimer)
		if t.at.After(m.now) {
			m.now = t.at
		}
		m.mu.Unlock()
		t.f()
		m.mu.Lock()
	}
	m.now = target
	m.mu.Unlock()
}

// NextAt reports when the earliest scheduled timer is due, and whether there is one.
func (m *Manual) NextAt() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.timers) == 0 {
		return time.Time{}, false
	}
	return m.timers[0].at, true
}

// Step runs exactly one timer: the earliest due, and of timers due at the same instant the one
// scheduled first. The clock moves to its instant first (never backwards). It reports whether
// there was a timer to run. A driver that waits for the system to settle between steps (a
// discrete-event simulation) sees each timer's consequences apart, in a fixed order.
func (m *Manual) Step() bool {
	m.mu.Lock()
	if len(m.timers) == 0 {
		m.mu.Unlock()
		return false
	}
	t := heap.Pop(&m.timers).(*manualTimer)
	if t.at.After(m.now) {
		m.now = t.at
	}
	m.mu.Unlock()
	t.f()
	return true
}

// Pending reports how many timers are scheduled and not yet run.
func (m *Manual) Pending() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.timers)
}

type manualTimer struct {
	clock *Manual
	at    time.Time
	seq   uint64
	f     func()
	index int
}

func (t *manualTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	if t.index < 0 {
		return false
	}
	heap.Remove(&t.clock.timers, t.index)
	return true
}

type timerHeap []*manualTimer

func (h timerHeap) Len() int { return len(h) }
func (h timerHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h timerHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index = i
	h[j].index = j
}
func (h *timerHeap) Push(x any) {
	t := x.(*manualTimer)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *timerHeap) Pop() any {
	old := *h
	n := len(old)
	t := old[n-1]
	old[n-1] = nil
	t.index = -1
	*h = old[:n-1]
	return t
}
