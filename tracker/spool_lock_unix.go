//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package tracker

import (
	"os"
	"syscall"
)

// lockFile takes an exclusive lock of f without waiting. The lock ends when
// f is closed or the process dies, however it dies.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
