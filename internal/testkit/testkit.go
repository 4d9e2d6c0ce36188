// Package testkit is queuebridge's one test kit, for the module's tests and tools (it is
// internal: nothing outside the module uses it):
//
//   - SID mints SIDs unique in the process;
//   - Webhooks builds form POSTs signed as Twilio signs its webhooks and sends them to a
//     handler or a server;
//   - SyncBuffer is an io.Writer a test may read while a program writes to it, and Receive
//     waits for a value on a channel (a program's exit, say) for a bounded time;
//   - Twilio is a recording fake of Twilio's REST APIs (Voice calls, TaskRouter, Studio flows,
//     phone numbers) with fault modes settable per operation.
//
// The kit does not import package testing: it takes a TB, which *testing.T and *testing.B
// satisfy, so that tools (scripts/loadgen) may use it too.
package testkit

import (
	"fmt"
	"sync/atomic"
	"time"
)

// TB is what the kit needs of a test or benchmark: *testing.T and *testing.B satisfy it.
type TB interface {
	Helper()
	Cleanup(func())
	Errorf(format string, args ...any)
	FailNow()
}

// Account and Token are the credentials tests use by default: an account SID of the right
// shape and an auth token to sign webhooks with.
const (
	Account = "AC00000000000000000000000000000001"
	Token   = "0123456789abcdef0123456789abcdef"
)

var sidSeq atomic.Uint64

// SID mints a SID with the two-letter prefix ("CA", "WR", …) and 32 hex digits, unique in the
// process: tests running in parallel, and every fake Twilio, never mint the same one.
func SID(prefix string) string { return fmt.Sprintf("%s%032x", prefix, sidSeq.Add(1)) }

// Receive returns the next value on ch, failing the test (from the test's goroutine: call it
// there) if none comes within d. what names the wait in the failure.
func Receive[V any](t TB, ch <-chan V, d time.Duration, what string) V {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Errorf("timed out after %s waiting for %s", d, what)
		t.FailNow()
		var zero V
		return zero
	}
}
