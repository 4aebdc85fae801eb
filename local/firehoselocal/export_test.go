package firehoselocal

import "time"

// SetDelayClock replaces the clock of injected delays (time.After): a test
// decides when a slow call's delay is over.
func SetDelayClock(s *Server, after func(time.Duration) <-chan time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.after = after
}
