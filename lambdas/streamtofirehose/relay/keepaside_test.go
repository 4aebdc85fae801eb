package relay_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/tracker"
)

func TestValidTime(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"2026-11-22T10:04:05.123Z", true},
		{"2024-02-29T23:59:59.999Z", true},
		{"2000-02-29T00:00:00.000Z", true},
		{"1970-01-01T00:00:00.000Z", true},
		{"2026-11-22T10:04:05Z", false}, // no milliseconds
		{"2026-11-22T10:04:05.123+00:00", false},
		{"2026-11-22 10:04:05.123Z", false},
		{"2026/11/22T10:04:05.123Z", false},
		{"2026-11-22T10:04:05.123z", false},
		{"2026-13-22T10:04:05.123Z", false},
		{"2026-00-22T10:04:05.123Z", false},
		{"2026-02-29T10:04:05.123Z", false}, // not a leap year
		{"1900-02-29T10:04:05.123Z", false},
		{"2026-04-31T10:04:05.123Z", false},
		{"2026-11-00T10:04:05.123Z", false},
		{"2026-11-22T24:00:00.000Z", false},
		{"2026-11-22T10:60:05.123Z", false},
		{"2026-11-22T10:04:60.123Z", false},
		{"２026-11-22T10:04:05.123Z", false},
		{"", false},
		{"1795341845", false},
	} {
		if got := relay.ValidTime(tc.s); got != tc.want {
			t.Errorf("ValidTime(%q) = %v, want %v", tc.s, got, tc.want)
		}
		if tc.want {
			if _, err := time.Parse(tracker.TimeLayout, tc.s); err != nil {
				t.Errorf("%q is valid here but not for time.Parse: %v", tc.s, err)
			}
		}
	}
}

// memStore is a KeepAsideStore in memory that can be made to fail.
type memStore struct {
	mu   sync.Mutex
	objs map[string][]byte
	fail error
	puts int
}

func (m *memStore) Put(_ context.Context, key string, body []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.puts++
	if m.fail != nil {
		return m.fail
	}
	if m.objs == nil {
		m.objs = map[string][]byte{}
	}
	m.objs[key] = append([]byte(nil), body...)
	return nil
}

// records returns every kept-aside record, by key.
func (m *memStore) records(t *testing.T) map[string][]relay.KeptAsideRecord {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string][]relay.KeptAsideRecord{}
	for k, body := range m.objs {
		sc := bufio.NewScanner(strings.NewReader(string(body)))
		sc.Buffer(nil, 8<<20)
		for sc.Scan() {
			var r relay.KeptAsideRecord
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			out[k] = append(out[k], r)
		}
	}
	return out
}

// TestKeptAside sends a batch with every kind of image that breaks the
// schema among good events through both entry points: the good events are
// delivered, each bad one is counted, logged without values and kept
// aside with its image, which decodes back to the image sent.
func TestKeptAside(t *testing.T) {
	bad := map[string]func(img map[string]events.DynamoDBAttributeValue){
		"event_at without milliseconds": func(img map[string]events.DynamoDBAttributeValue) {
			img[tracker.FieldEventAt] = events.NewStringAttribute("2026-11-22T10:04:05Z")
		},
		"event_at with slashes": func(img map[string]events.DynamoDBAttributeValue) {
			img[tracker.FieldEventAt] = events.NewStringAttribute("2026/11/22 10:04:05")
		},
		"event_at a number": func(img map[string]events.DynamoDBAttributeValue) {
			img[tracker.FieldEventAt] = events.NewNumberAttribute("1795341845")
		},
		"event_at on February 30": func(img map[string]events.DynamoDBAttributeValue) {
			img[tracker.FieldEventAt] = events.NewStringAttribute("2026-02-30T10:04:05.123Z")
		},
		"no identity": func(img map[string]events.DynamoDBAttributeValue) { delete(img, tracker.FieldUserID) },
		"no event_id": func(img map[string]events.DynamoDBAttributeValue) { delete(img, tracker.FieldEventID) },
		"oversize": func(img map[string]events.DynamoDBAttributeValue) {
			// Control characters escape to six bytes each.
			img[tracker.FieldUserAgent] = events.NewStringAttribute(strings.Repeat("\x01", 180_000))
		},
	}
	for _, entry := range []string{"Invoke", "Handle"} {
		t.Run(entry, func(t *testing.T) {
			store := &memStore{}
			cfg := testConfig()
			cfg.KeepAside = store
			cfg.Now = func() time.Time { return time.Date(2026, 11, 23, 0, 0, 1, 0, time.UTC) }
			hs := newHarness(t, cfg, firehoselocal.Options{})
			if entry == "Handle" {
				hs.typed()
			}
			recs := typicalRecords(0, 3+len(bad))
			want := map[string]string{} // stream event ID -> case
			i := 3
			for name, spoil := range bad {
				spoil(recs[i].Change.NewImage)
				want[recs[i].EventID] = name
				i++
			}
			if resp := hs.invokeRecords(t, context.Background(), recs); len(resp.BatchItemFailures) != 0 {
				t.Fatalf("failures %v", resp.BatchItemFailures)
			}
			if lines := hs.delivered(t); len(lines) != 3 {
				t.Fatalf("delivered %d lines, want the 3 good events", len(lines))
			}
			s := hs.lastSummary(t)
			if num(s, relay.LogFieldRejected) != len(bad) || num(s, relay.LogFieldKeptAside) != len(bad) || num(s, relay.LogFieldOversize) != 1 ||
				num(s, relay.LogFieldMalformed) != len(bad)-1 || num(s, relay.LogFieldRecordsSize) != 3 || s["level"] != "WARN" {
				t.Errorf("summary %v", s)
			}
			objs := store.records(t)
			key := relay.KeepAsidePrefix + "dt=2026-11-23/" + recs[3].EventID + ".ndjson"
			got := objs[key]
			if len(objs) != 1 || len(got) != len(bad) {
				t.Fatalf("kept aside %v, want %d records under %s", objs, len(bad), key)
			}
			for j, r := range got {
				rec := recs[3+j]
				if r.StreamEventID != rec.EventID || r.SequenceNumber != rec.Change.SequenceNumber || r.Problem == "" {
					t.Errorf("record %d (%s): %+v", j, want[rec.EventID], r)
				}
				wantReason := relay.ReasonMalformed
				if want[rec.EventID] == "oversize" {
					wantReason = relay.ReasonOversize
				}
				if r.Reason != wantReason {
					t.Errorf("%s: reason %q, want %q", want[rec.EventID], r.Reason, wantReason)
				}
				if strings.HasPrefix(want[rec.EventID], "event_at") && r.Field != tracker.FieldEventAt {
					t.Errorf("%s: field %q, want event_at", want[rec.EventID], r.Field)
				}
				var img map[string]events.DynamoDBAttributeValue
				if err := json.Unmarshal(r.NewImage, &img); err != nil {
					t.Fatalf("%s: the kept image does not decode: %v", want[rec.EventID], err)
				}
				wantImg, _ := json.Marshal(rec.Change.NewImage)
				gotImg, _ := json.Marshal(img)
				if string(gotImg) != string(wantImg) {
					t.Errorf("%s: the kept image differs from the stream's", want[rec.EventID])
				}
			}
			// No value of a bad event in the logs: not the user, not the IP,
			// not the bad times.
			logs := hs.logs.String()
			for _, v := range []string{"user-00003", "2026/11/22", "1795341845", "2026-02-30"} {
				if strings.Contains(logs, v) {
					t.Errorf("the logs hold the value %q", v)
				}
			}
			checkNoIPs(t, logs)
		})
	}
}

// TestKeepAsideFailureIsRetried: when the store fails, the batch is
// reported from the first record to keep aside, and the retry, with the
// store back, keeps it aside under the same key.
func TestKeepAsideFailureIsRetried(t *testing.T) {
	store := &memStore{fail: errors.New("injected: access denied")}
	cfg := testConfig()
	cfg.KeepAside = store
	hs := newHarness(t, cfg, firehoselocal.Options{})
	recs := typicalRecords(0, 6)
	recs[2].Change.NewImage[tracker.FieldEventAt] = events.NewStringAttribute("yesterday")
	resp := hs.invokeRecords(t, context.Background(), recs)
	if len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != recs[2].Change.SequenceNumber {
		t.Fatalf("failures %v, want the bad record's sequence number", resp.BatchItemFailures)
	}
	if s := hs.lastSummary(t); num(s, relay.LogFieldKeptAside) != 0 || num(s, relay.LogFieldRejected) != 1 || s[relay.LogFieldFailedSequenceNumber] != recs[2].Change.SequenceNumber {
		t.Errorf("summary %v", s)
	}
	store.mu.Lock()
	store.fail = nil
	store.mu.Unlock()
	if resp := hs.invokeRecords(t, context.Background(), recs[2:]); len(resp.BatchItemFailures) != 0 {
		t.Fatalf("retry: failures %v", resp.BatchItemFailures)
	}
	if got := store.records(t); len(got) != 1 {
		t.Errorf("kept aside %v, want one object", got)
	}
	if ids := eventIDs(t, hs.delivered(t)); len(ids) != 5+3 {
		t.Errorf("delivered %d lines, want the 5 good events plus the 3 sent again", len(ids))
	}
}

// TestKeepAsideInFolder keeps records aside in the lake's folder store
// (through lake.Writer, as the deployed function does on its S3 store), and
// reads them back.
func TestKeepAsideInFolder(t *testing.T) {
	store, err := lake.NewFolderStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.KeepAside = lake.Writer{Store: store}
	hs := newHarness(t, cfg, firehoselocal.Options{})
	recs := typicalRecords(0, 2)
	delete(recs[1].Change.NewImage, tracker.FieldEventType)
	hs.invokeRecords(t, context.Background(), recs)
	objs, err := store.List(context.Background(), relay.KeepAsidePrefix)
	if err != nil || len(objs) != 1 {
		t.Fatalf("List = %v, %v", objs, err)
	}
	rc, _, err := store.Open(context.Background(), objs[0].Key)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	body, _ := io.ReadAll(rc)
	var r relay.KeptAsideRecord
	if err := json.Unmarshal(body, &r); err != nil || r.Field != tracker.FieldEventType || r.StreamEventID != recs[1].EventID {
		t.Errorf("kept %s: %+v, %v", body, r, err)
	}
}
