//go:build !linux

package storetest

import "testing"

// Immutable skips: making a file read-only for root is done with Linux's chattr +i.
func Immutable(t testing.TB, _ ...string) func() {
	t.Skip("read-only database: only on Linux (chattr +i)")
	return nil
}

// Tmpfs skips: a size-limited tmpfs is mounted on Linux only.
func Tmpfs(t testing.TB, _ string) string {
	t.Skip("disk full: only on Linux (a size-limited tmpfs)")
	return ""
}

// Fill skips (see Tmpfs).
func Fill(t testing.TB, _ string) func() {
	t.Skip("disk full: only on Linux")
	return nil
}
