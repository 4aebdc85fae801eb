//go:build unix

package collector_test

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user and system) this process has used:
// on a shared machine it measures work where wall time measures waiting.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
