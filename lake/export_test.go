package lake

// SetHook sets the test hook of l's rewrites (see Config.hook).
func SetHook(l *Lake, f func(step, day string) error) { l.cfg.hook = f }

// ErrCrash, returned by a hook, stops a rewrite as if its process died.
var ErrCrash = errCrash

// SetMaxInputs sets how many objects one pass of a rewrite reads.
func SetMaxInputs(l *Lake, n int) { l.cfg.maxInputs = n }
