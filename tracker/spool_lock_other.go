//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package tracker

import "os"

// lockFile does nothing where flock(2) is missing: two AsyncWriters must
// not share a SpoolDir there.
func lockFile(*os.File) error { return nil }
