//go:build linux

package storetest

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// Storage faults for tests of a store on a real file system. Tests run as root here, and root
// writes through file modes, so a read-only database is made with the immutable attribute
// (chattr +i), which binds root too, and a full disk with a small tmpfs. Where the test may
// not do either (not root, no chattr, a file system without attributes), it is skipped with
// a message that says why.

// Immutable makes the files immutable (chattr +i): every write to them fails, through file
// descriptors already open too, while reads go on. It returns the function that makes them
// writable again, which cleanup also runs.
func Immutable(t testing.TB, paths ...string) (restore func()) {
	t.Helper()
	chattr, err := exec.LookPath("chattr")
	if err != nil {
		t.Skip("read-only database: chattr is not installed (it makes a file read-only for root too)")
	}
	out, err := exec.Command(chattr, append([]string{"+i"}, paths...)...).CombinedOutput()
	if err != nil {
		t.Skipf("read-only database: chattr +i is not permitted here (%v: %s); it needs root and a file system with attributes",
			err, strings.TrimSpace(string(out)))
	}
	done := false
	restore = func() {
		if done {
			return
		}
		done = true
		if out, err := exec.Command(chattr, append([]string{"-i"}, paths...)...).CombinedOutput(); err != nil {
			t.Errorf("chattr -i %v: %v: %s", paths, err, out)
		}
	}
	t.Cleanup(restore)
	return restore
}

// Tmpfs mounts a tmpfs of the size given (mount(8) syntax: "8m") on a new directory and
// returns it. It is unmounted at cleanup: call it before opening a store on it, so that the
// store's cleanup, registered later, runs first. It skips the test where mounting is not
// permitted (not root, or no CAP_SYS_ADMIN).
func Tmpfs(t testing.TB, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Skipf("disk full: mounting a %s tmpfs is not permitted here (%v); it needs root (CAP_SYS_ADMIN)", size, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	return dir
}

// Fill writes a file in dir until its file system is full (ENOSPC) and returns the function
// that removes it, freeing the space.
func Fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 4096)
	for {
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling %s: %v, want ENOSPC", dir, err)
	}
	return func() {
		if err := os.Remove(path); err != nil {
			t.Errorf("freeing %s: %v", dir, err)
		}
	}
}
