package streamsource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Tumbling windows (Config.TumblingWindow), as the ESM runs them for
// DynamoDB streams:
//
//   - A record belongs to the window that holds its ApproximateCreationDateTime
//     (when it was written to the stream); windows are TumblingWindow long and
//     aligned to multiples of it since the Unix epoch (a 60 s window starts
//     on the minute). DynamoDB rounds the creation time down to the second;
//     DynamoDB Local rounds it down to the minute, so against DynamoDB Local
//     (Config.CreationTimePrecision of a minute) the time the source received
//     a record stands for its creation within that minute.
//   - A batch never spans two windows. Each invocation gets the window, the
//     state the previous invocation of the window returned ({} at first),
//     the shard ID and the stream ARN (events.DynamoDBTimeWindowEvent), and
//     must answer with a "state" (events.DynamoDBTimeWindowEventResponse):
//     without one the invocation counts as a function error, as in Lambda.
//   - When the window is over, the function is invoked once more with no
//     records, the window's state and isFinalInvokeForWindow; only after it
//     succeeds are the window's records checkpointed. A window is over when
//     a record of another window comes next, when the shard ends, or when
//     the reader has caught up with the shard's head after the window's end
//     (plus windowCloseDelay), so that a quiet stream still closes its last
//     window. A record of a window already closed (creation times are
//     approximate) opens that window again with a fresh state.
//   - A state over MaxWindowStateBytes terminates the window early: a final
//     invocation with isWindowTerminatedEarly, then the same window goes on
//     with a fresh state.
//   - Failures: a function error retries the batch with the state it had;
//     a partial batch failure keeps the state the response returned (it
//     covers the records before the one reported) and retries from the
//     reported record. A final invocation that fails is retried like a
//     batch; after MaxRetries the window goes to OnFailure and its records
//     are checkpointed past.
//
// What Lambda's documentation leaves open, the source settles this way:
// whether the final invocation carries records (here never), how a partial
// batch failure combines with the returned state (here as above), and what
// an early termination looks like (here as above).

// MaxWindowStateBytes is Lambda's limit of a window's state per shard (1 MB).
const MaxWindowStateBytes = 1_000_000

// MaxTumblingWindow bounds Config.TumblingWindow (900 s, as the ESM).
const MaxTumblingWindow = 15 * time.Minute

// windowCloseDelay is how long after a window's end the reader must have
// caught up with the shard before the window is closed on a quiet stream:
// creation times are whole seconds, and a record written just before the end
// is read a poll later.
const windowCloseDelay = time.Second

// openWindow is the tumbling window a shard worker is aggregating.
type openWindow struct {
	start, end time.Time
	state      json.RawMessage // returned by the last successful invocation
	records    int             // records processed into the state
	first      record          // the first and last of them (for OnFailure)
	last       record
	base       string // the checkpoint when the window opened
}

// windowOf returns the start of the window a record belongs to: the window
// of its creation time, known to precision (the creation time is rounded
// down to it). Within that uncertainty the time the source received the
// record stands for it, bounded to the rounding interval; with AWS's 1 s
// precision and whole-second windows that is exactly the creation second's
// window.
func windowOf(r *record, size, precision time.Duration) time.Time {
	t := r.created
	switch {
	case t.IsZero():
		t = r.recvAt
	case r.recvAt.After(t):
		if latest := t.Add(precision - time.Nanosecond); r.recvAt.Before(latest) {
			t = r.recvAt
		} else {
			t = latest
		}
	}
	sec, n := t.Unix(), int64(size/time.Second)
	start := sec - sec%n
	if sec%n < 0 {
		start -= n
	}
	return time.Unix(start, 0).UTC()
}

// sameWindow returns how many records at the head of recs are in window
// start.
func sameWindow(recs []record, start time.Time, size, precision time.Duration) int {
	for i := range recs {
		if !windowOf(&recs[i], size, precision).Equal(start) {
			return i
		}
	}
	return len(recs)
}

// windowFields is the JSON of the tumbling window properties after the
// records: `"window":...,"state":...,"shardId":...,...`.
func windowFields(win *openWindow, shardID, arn string, final, early bool) []byte {
	state := win.state
	if len(state) == 0 {
		state = json.RawMessage("{}")
	}
	b, _ := json.Marshal(struct {
		Window  events.Window   `json:"window"`
		State   json.RawMessage `json:"state"`
		ShardID string          `json:"shardId"`
		ARN     string          `json:"eventSourceARN"`
		Final   bool            `json:"isFinalInvokeForWindow"`
		Early   bool            `json:"isWindowTerminatedEarly"`
	}{events.Window{Start: events.RFC3339EpochTime{Time: win.start}, End: events.RFC3339EpochTime{Time: win.end}},
		state, shardID, arn, final, early})
	return b[1 : len(b)-1]
}

// buildWindowPayload returns a DynamoDBTimeWindowEvent's JSON.
func buildWindowPayload(recs []record, fields []byte) []byte {
	p := buildPayload(recs)
	out := make([]byte, 0, len(p)+len(fields)+1)
	out = append(out, p[:len(p)-1]...)
	out = append(out, ',')
	out = append(out, fields...)
	return append(out, '}')
}

// windowResponse is a DynamoDBTimeWindowEventResponse with the state kept
// as it came.
type windowResponse struct {
	State             json.RawMessage                   `json:"state"`
	BatchItemFailures []events.DynamoDBBatchItemFailure `json:"batchItemFailures"`
}

// parseWindowResponse reads a windowed invocation's answer: its state (an
// object, required) and batch item failures.
func parseWindowResponse(resp []byte) (windowResponse, error) {
	var r windowResponse
	resp = bytes.TrimSpace(resp)
	if err := json.Unmarshal(resp, &r); err != nil {
		return r, &functionError{fmt.Sprintf("invalid function response %.200q: %v", resp, err)}
	}
	if s := bytes.TrimSpace(r.State); len(s) == 0 || s[0] != '{' {
		return r, &functionError{fmt.Sprintf("function response without a state object (a tumbling window needs one): %.200q", resp)}
	}
	return r, nil
}
