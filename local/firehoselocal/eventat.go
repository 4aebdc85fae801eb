package firehoselocal

import (
	"encoding/json"
	"time"
)

// eventAtLine is the part of an NDJSON event line ArrivalFromEventAt reads.
// The tag must equal tracker.FieldEventAt (a test checks).
type eventAtLine struct {
	EventAt string `json:"event_at"`
}

// eventAt returns the time in a line's event_at field (ISO 8601, as
// tracker.TimeLayout writes it), and whether there was a valid one.
func eventAt(line []byte) (time.Time, bool) {
	var v eventAtLine
	if json.Unmarshal(line, &v) != nil || v.EventAt == "" {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, v.EventAt)
	if err != nil {
		return time.Time{}, false
	}
	return t.UTC(), true
}
