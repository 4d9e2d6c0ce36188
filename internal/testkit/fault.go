package testkit

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"
)

// Fault is how the fake Twilio misbehaves on one request. The zero Fault answers normally.
// Fields combine: Slow(d) delays a normal answer, Applied(Status(503)) carries the operation
// out and then answers 503.
type Fault struct {
	Status  int    // answer this status with a Twilio error body instead of the resource
	Code    int    // the body's Twilio error code (default: by status, e.g. 20503)
	Message string // the body's message (default: by code)
	// NoStatusField leaves "status" out of the JSON error body, as gateways do.
	NoStatusField bool
	// HTML answers a non-JSON page (a proxy's 502) instead of a JSON body.
	HTML bool
	// Delay waits before answering; Wait waits until the channel is closed (a gate the test
	// opens). Both end early if the client gives up.
	Delay time.Duration
	Wait  <-chan struct{}
	// Reset drops the connection mid-request (a TCP reset): the client gets no answer.
	Reset bool
	// Hang never answers: the client times out (or the fake is closed).
	Hang bool
	// Applied carries the operation out before misbehaving: a call is created (and listed)
	// although the client sees an error, a reset or a timeout.
	Applied bool
}

// Status answers status with a Twilio error body (code and message by status).
func Status(status int) Fault { return Fault{Status: status} }

// Code answers status with a Twilio error body of that code, e.g. Code(400, 21211).
func Code(status, code int) Fault { return Fault{Status: status, Code: code} }

// GatewayJSON answers status with a JSON error body without "status".
func GatewayJSON(status int) Fault { return Fault{Status: status, NoStatusField: true} }

// GatewayPage answers status with an HTML page, not JSON.
func GatewayPage(status int) Fault { return Fault{Status: status, HTML: true} }

// Slow answers normally after d.
func Slow(d time.Duration) Fault { return Fault{Delay: d} }

// Held answers normally once gate is closed.
func Held(gate <-chan struct{}) Fault { return Fault{Wait: gate} }

// ConnReset drops the connection without answering.
func ConnReset() Fault { return Fault{Reset: true} }

// Timeout never answers: the client gives up.
func Timeout() Fault { return Fault{Hang: true} }

// Applied carries the operation out, then misbehaves as f: Applied(Status(500)) on create_call
// is "the call exists, yet the answer is an error".
func Applied(f Fault) Fault { f.Applied = true; return f }

// WithMessage sets the error body's message.
func (f Fault) WithMessage(msg string) Fault { f.Message = msg; return f }

// IsZero tells a normal answer.
func (f Fault) IsZero() bool { return f == Fault{} }

// String describes the fault for failure messages, e.g. "applied+503".
func (f Fault) String() string {
	var parts []string
	add := func(ok bool, s string) {
		if ok {
			parts = append(parts, s)
		}
	}
	add(f.Applied, "applied")
	add(f.Delay > 0, "slow "+f.Delay.String())
	add(f.Wait != nil, "held")
	add(f.Reset, "reset")
	add(f.Hang, "timeout")
	add(f.Status != 0, fmt.Sprint(f.Status))
	add(f.Code != 0, fmt.Sprint("code ", f.Code))
	add(f.NoStatusField, "no status field")
	add(f.HTML, "html")
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "+")
}

// faults is the fake's fault script: queued faults per operation, a hook, a seeded random mode.
type faults struct {
	mu     sync.Mutex
	queued map[string][]scripted
	hook   func(Request) Fault
	rnd    *rand.Rand
	frac   float64
	pool   []Fault
	ops    map[string]bool
}

type scripted struct {
	f Fault
	n int // requests left; < 0: every one
}

// next decides the fault for a request: queued ones for its operation first, then the hook,
// then the random mode.
func (s *faults) next(req Request) Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.queued[req.Op]; len(q) > 0 {
		f := q[0].f
		if q[0].n > 0 {
			q[0].n--
		}
		if q[0].n == 0 {
			s.queued[req.Op] = q[1:]
		}
		return f
	}
	if s.hook != nil {
		if f := s.hook(req); !f.IsZero() {
			return f
		}
	}
	if s.rnd != nil && (len(s.ops) == 0 || s.ops[req.Op]) && s.rnd.Float64() < s.frac {
		return s.pool[s.rnd.IntN(len(s.pool))]
	}
	return Fault{}
}

// Fail makes the next n requests of the operation (e.g. "create_call") misbehave as f; n < 0
// makes every one until Clear. Calls queue: Fail(op, Status(429), 2) then Fail(op, Timeout(), 1)
// answers 429 twice, then times out once, then answers normally.
func (tw *Twilio) Fail(op string, f Fault, n int) {
	tw.faults.mu.Lock()
	defer tw.faults.mu.Unlock()
	if n == 0 {
		return
	}
	if tw.faults.queued == nil {
		tw.faults.queued = map[string][]scripted{}
	}
	tw.faults.queued[op] = append(tw.faults.queued[op], scripted{f, n})
}

// FailWith sets a hook deciding each request's fault (a zero Fault: answer normally); queued
// faults (Fail) come first. It runs on the server's goroutines.
func (tw *Twilio) FailWith(hook func(Request) Fault) {
	tw.faults.mu.Lock()
	defer tw.faults.mu.Unlock()
	tw.faults.hook = hook
}

// FailRandom makes a fraction of the requests of the operations (all when none are named)
// misbehave as one of pool, drawn from a generator seeded with seed: the same seed and the same
// order of requests give the same faults.
func (tw *Twilio) FailRandom(seed uint64, fraction float64, pool []Fault, ops ...string) {
	tw.faults.mu.Lock()
	defer tw.faults.mu.Unlock()
	tw.faults.rnd, tw.faults.frac, tw.faults.pool = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), fraction, pool
	tw.faults.ops = map[string]bool{}
	for _, op := range ops {
		tw.faults.ops[op] = true
	}
	if len(pool) == 0 {
		tw.faults.rnd = nil
	}
}

// Clear ends every fault: queued, hook and random.
func (tw *Twilio) Clear() {
	tw.faults.mu.Lock()
	defer tw.faults.mu.Unlock()
	tw.faults.queued, tw.faults.hook, tw.faults.rnd = nil, nil, nil
}
