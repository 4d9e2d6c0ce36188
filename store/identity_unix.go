//go:build unix

package store

import (
	"fmt"
	"os"
	"syscall"
)

// identify returns the identity (device and inode) of the file at path now.
func identify(path string) (fileID, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, fmt.Errorf("stat %s: no device and inode on this system", path)
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, nil //nolint:unconvert // int32 on some systems
}
