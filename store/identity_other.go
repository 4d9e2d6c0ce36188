//go:build !unix

package store

import "os"

// identify returns the identity of the file at path where no inode is available: only whether
// it exists (a removed database is still detected; a replaced one is not).
func identify(path string) (fileID, error) {
	_, err := os.Stat(path)
	return fileID{}, err
}
