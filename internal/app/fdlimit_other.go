//go:build !unix

package app

// openFileLimit is unknown here: the connection limit is maxConnsCap.
func openFileLimit() uint64 { return 0 }
