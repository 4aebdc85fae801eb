package streamsource

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

func TestWindowOf(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		name            string
		created, recvAt string
		size, precision time.Duration
		want            string
	}{
		{"AWS: the creation second", "2026-03-01T09:00:59Z", "2026-03-01T09:01:30Z", time.Minute, time.Second, "2026-03-01T09:00:00Z"},
		{"aligned to the epoch, not the first record", "2026-03-01T09:00:07Z", "2026-03-01T09:00:07.2Z", 5 * time.Second, time.Second, "2026-03-01T09:00:05Z"},
		{"DynamoDB Local: received within the minute", "2026-03-01T09:00:00Z", "2026-03-01T09:00:31.5Z", 2 * time.Second, time.Minute, "2026-03-01T09:00:30Z"},
		{"DynamoDB Local: received later, the minute's last window", "2026-03-01T09:00:00Z", "2026-03-01T09:05:00Z", 2 * time.Second, time.Minute, "2026-03-01T09:00:58Z"},
		{"received before the creation time (clock skew)", "2026-03-01T09:00:00Z", "2026-03-01T08:59:00Z", time.Minute, time.Minute, "2026-03-01T09:00:00Z"},
		{"no creation time: the arrival", "", "2026-03-01T09:00:42Z", 15 * time.Minute, time.Second, "2026-03-01T09:00:00Z"},
		{"before 1970", "1969-12-31T23:59:59Z", "", 10 * time.Second, time.Second, "1969-12-31T23:59:50Z"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := record{}
			if c.created != "" {
				r.created = at(c.created)
			}
			if c.recvAt != "" {
				r.recvAt = at(c.recvAt)
			}
			if got := windowOf(&r, c.size, c.precision); !got.Equal(at(c.want)) {
				t.Errorf("windowOf = %s, want %s", got, c.want)
			}
		})
	}
}

func TestWindowPayloadAndResponse(t *testing.T) {
	win := &openWindow{start: time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC), end: time.Date(2026, 3, 1, 9, 1, 0, 0, time.UTC),
		state: json.RawMessage(`{"n":"2"}`)}
	recs := []record{{seq: "1", json: []byte(`{"eventName":"INSERT","dynamodb":{"SequenceNumber":"1"}}`)}}
	for _, final := range []bool{false, true} {
		p := buildWindowPayload(recs, windowFields(win, "shard-1", "arn:x", final, final))
		var e events.DynamoDBTimeWindowEvent
		if err := json.Unmarshal(p, &e); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if len(e.Records) != 1 || e.Records[0].Change.SequenceNumber != "1" || !e.Window.Start.Equal(win.start) ||
			!e.Window.End.Equal(win.end) || e.State["n"] != "2" || e.ShardID != "shard-1" || e.EventSourceARN != "arn:x" ||
			e.IsFinalInvokeForWindow != final || e.IsWindowTerminatedEarly != final {
			t.Errorf("payload %s decodes to %+v", p, e)
		}
		if !strings.Contains(string(p), `"start":"2026-03-01T09:00:00Z"`) {
			t.Errorf("window start not in RFC 3339: %s", p)
		}
	}
	// A new window's state is {}, and no records is [].
	p := buildWindowPayload(nil, windowFields(&openWindow{start: win.start, end: win.end}, "s", "a", true, false))
	if !strings.Contains(string(p), `"Records":[]`) || !strings.Contains(string(p), `"state":{}`) {
		t.Errorf("empty payload %s", p)
	}
	for resp, ok := range map[string]bool{
		`{"state":{"n":"1"},"batchItemFailures":[]}`: true,
		`{"state":{}}`:             true,
		`{"batchItemFailures":[]}`: false,
		`{"state":null}`:           false,
		`{"state":"x"}`:            false,
		`null`:                     false,
		`not json`:                 false,
		`{"state":{"n":"1"},"batchItemFailures":[{"itemIdentifier":"7"}]}`: true,
	} {
		_, err := parseWindowResponse([]byte(resp))
		if (err == nil) != ok {
			t.Errorf("parseWindowResponse(%s) = %v, want ok=%v", resp, err, ok)
		}
	}
}
