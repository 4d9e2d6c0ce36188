//go:build !unix

package store

// lock is a no-op where flock(2) is not available: run one process per database.
func lock(string) (func() error, error) { return func() error { return nil }, nil }
