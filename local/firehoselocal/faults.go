package firehoselocal

import (
	"fmt"
	"time"
)

// Faults are failures the server injects into PutRecord and PutRecordBatch
// calls, drawn from the server's seeded generator. The zero value injects
// nothing.
type Faults struct {
	// RecordFailureRate is the share of records in each PutRecordBatch call
	// answered with ErrorCode ServiceUnavailableException (so FailedPutCount
	// > 0), as Firehose does when a stream is near its throughput limit.
	// For PutRecord it is the share of calls refused with
	// ServiceUnavailableException.
	RecordFailureRate float64
	// ThrottleRate is the share of calls refused whole with
	// ServiceUnavailableException (HTTP 503): what Firehose returns when a
	// stream's throughput limits are exceeded. Nothing of the call is kept.
	ThrottleRate float64
	// ServerErrorRate is the share of calls answered HTTP 500
	// InternalFailure. Nothing of the call is kept.
	ServerErrorRate float64
	// Delay is how long a slow call waits before it is processed;
	// DelayRate is the share of calls that are slow (1 when zero and Delay
	// is set). A slow call's records are accepted even when the caller has
	// given up meanwhile, as with the real service, so the caller's retry
	// produces duplicates.
	Delay     time.Duration
	DelayRate float64
	// ClearAfter, when positive, limits the faults to the first ClearAfter
	// calls after they were set: faults that clear up.
	ClearAfter int
	// ConversionFailureRate is the share of events (with Partitioning) that
	// fail record format conversion, as when the Glue table's schema does
	// not match the data: they are written to the error prefix
	// (format-conversion-failed) instead of the lake, at delivery time, and
	// ClearAfter does not apply.
	ConversionFailureRate float64
}

func (f Faults) validate() error {
	for name, r := range map[string]float64{
		"RecordFailureRate": f.RecordFailureRate, "ThrottleRate": f.ThrottleRate,
		"ServerErrorRate": f.ServerErrorRate, "DelayRate": f.DelayRate, "ConversionFailureRate": f.ConversionFailureRate,
	} {
		if r < 0 || r > 1 {
			return fmt.Errorf("firehoselocal: Faults.%s %v is outside [0, 1]", name, r)
		}
	}
	if f.Delay < 0 || f.ClearAfter < 0 {
		return fmt.Errorf("firehoselocal: negative Faults.Delay or Faults.ClearAfter")
	}
	return nil
}

// fault is what one call suffers.
type fault struct {
	delay       time.Duration
	throttle    bool
	serverError bool
	recordRate  float64
}

// drawLocked draws the faults of one call. s.mu must be held.
func (s *Server) drawLocked() fault {
	f := s.faults
	if f.ClearAfter > 0 && s.faultCalls >= f.ClearAfter {
		return fault{}
	}
	s.faultCalls++
	var out fault
	if f.Delay > 0 {
		rate := f.DelayRate
		if rate == 0 {
			rate = 1
		}
		if s.rng.Float64() < rate {
			out.delay = f.Delay
		}
	}
	switch r := s.rng.Float64(); {
	case r < f.ThrottleRate:
		out.throttle = true
	case r < f.ThrottleRate+f.ServerErrorRate:
		out.serverError = true
	}
	out.recordRate = f.RecordFailureRate
	return out
}
