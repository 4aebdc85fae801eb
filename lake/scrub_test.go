package lake_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/firehoselocal"
)

// eventLine is a lake line of an event (the relay's encoding).
func eventLine(user, anon, id string) []byte {
	m := map[string]any{"event_at": "2026-11-20T10:00:00.000Z", "event_id": id, "event_type": "login", "ip_address": "203.0.113.9", "is_bot": false}
	if user != "" {
		m["user_id"] = user
	}
	if anon != "" {
		m["anonymous_id"] = anon
	}
	b, _ := json.Marshal(m)
	return b
}

// errorRecord is a Firehose error record of data.
func errorRecord(data []byte, code string) []byte {
	b, _ := json.Marshal(firehoselocal.ErrorRecord{AttemptsMade: 1, ArrivalTimestamp: 1795000000000, LastErrorCode: code, RawData: data})
	return append(b, '\n')
}

// keptAside is a kept-aside record of an image (DynamoDB JSON), or of text
// when image is not JSON.
func keptAside(image string) []byte {
	r := relay.KeptAsideRecord{Reason: "malformed", Field: "event_at", Problem: "not " + "a time", SequenceNumber: "100", StreamEventID: "ev-1",
		KeptAt: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
	if json.Valid([]byte(image)) {
		r.NewImage = json.RawMessage(image)
	} else {
		r.NewImageText = image
	}
	b, _ := json.Marshal(r)
	return append(b, '\n')
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func gunzipped(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The error output forgetCase seeds: what the world's users left in
// errors/ (their IDs: forgotten u0002, s0001 and the visitor hot-cookie
// linked to u0002; kept u0003, u0004, and v-shared, u0004's visitor).
var (
	fhKeep1   = errorRecord(eventLine("u0003", "", "fh-k1"), firehoselocal.ErrorCodeMalformedData)
	fhKeep2   = errorRecord(eventLine("u0003", "v-0001", "fh-k2"), firehoselocal.ErrorCodeMalformedData) // u0003's, on s0001's browser
	fhGone1   = errorRecord(eventLine("u0002", "", "fh-g1"), firehoselocal.ErrorCodeMalformedData)
	fhGone2   = errorRecord(eventLine("", "hot-cookie", "fh-g2"), firehoselocal.ErrorCodeMalformedData)
	fhPacked  = errorRecord(append(append(eventLine("u0002", "", "fh-g3"), '\n'), append(eventLine("u0004", "", "fh-k3"), '\n')...), firehoselocal.ErrorCodeDeaggregationFailed)
	fhBroken  = errorRecord([]byte(`{"user_id":"s0001","event_at":`), firehoselocal.ErrorCodeDeaggregationFailed) // not JSON: read as text
	fhVisitor = errorRecord(eventLine("", "v-shared", "fh-k4"), firehoselocal.ErrorCodeMalformedData)
	poison    = keptAside(`{"actor":{"S":"u#u0002"},"event_key":{"S":"x#1"},"user_id":{"S":"u0002"},"event_at":{"S":"yesterday"},"event_id":{"S":"p-1"}}`)
	noUserID  = keptAside(`{"actor":{"S":"u#s0001"},"event_key":{"S":"x#2"},"user_id":{"N":"1"},"event_at":{"S":"2026-11-20T10:00:00.000Z"}}`)
	textImage = keptAside(`{"user_id": {"S": "u0002"}, "event_at": {"S": "2026-11-20T10:` + "\x00")
	keptOther = keptAside(`{"actor":{"S":"u#u0004"},"user_id":{"S":"u0004"},"event_at":{"S":"later"},"event_id":{"S":"p-2"}}`)
)

const (
	keyConversion = "errors/format-conversion-failed/dt=2026-11-20/stream-1-2026-11-20-10-00-00-a"
	keyProcessing = "errors/processing-failed/dt=2026-11-20/stream-1-2026-11-20-10-00-00-b.gz"
	keyPoison     = "errors/relay/dt=2026-11-20/ev-1.ndjson"
	keyKept       = "errors/relay/dt=2026-11-21/ev-2.ndjson"
)

// seedErrors writes the error output of the forgotten and the kept users.
func seedErrors(t *testing.T, st lake.Store) {
	t.Helper()
	ctx := context.Background()
	for key, body := range map[string][]byte{
		keyConversion: bytes.Join([][]byte{fhKeep1, fhGone1, fhKeep2, fhGone2, fhVisitor}, nil),
		keyProcessing: gzipped(bytes.Join([][]byte{fhPacked, fhBroken}, nil)),
		keyPoison:     bytes.Join([][]byte{poison, noUserID, textImage}, nil),
		keyKept:       keptOther,
	} {
		// Twice, so that a versioned store holds a noncurrent version.
		for range 2 {
			if _, err := st.Put(ctx, key, body, lake.Condition{}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

const seededForgotten = 7 // fhGone1, fhGone2, fhPacked's u0002, fhBroken, poison, noUserID, textImage

// checkErrors checks that the forgotten users' error records are gone, and
// every other one is there, byte for byte where its line was not changed.
func checkErrors(t *testing.T, st lake.Store, res lake.ErrorsScrub) {
	t.Helper()
	ctx := context.Background()
	if res.Events != seededForgotten || res.Rewritten != 2 || res.Deleted != 1 || res.Objects != 4 {
		t.Errorf("error output scrub %+v, want %d events removed, 2 objects rewritten, 1 deleted of 4", res, seededForgotten)
	}
	body, _, err := st.Get(ctx, keyConversion)
	if want := bytes.Join([][]byte{fhKeep1, fhKeep2, fhVisitor}, nil); err != nil || !bytes.Equal(body, want) {
		t.Errorf("%s after the erasure:\n%s\nwant\n%s (%v)", keyConversion, body, want, err)
	}
	body, _, err = st.Get(ctx, keyProcessing)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := firehoselocal.DecodeErrorRecords(gunzipped(t, body))
	if err != nil || len(recs) != 1 || string(recs[0].RawData) != string(eventLine("u0004", "", "fh-k3"))+"\n" ||
		recs[0].LastErrorCode != firehoselocal.ErrorCodeDeaggregationFailed {
		t.Errorf("%s after the erasure: %+v %v", keyProcessing, recs, err)
	}
	if _, _, err := st.Get(ctx, keyPoison); !errors.Is(err, lake.ErrNotFound) {
		t.Errorf("%s, all of the forgotten users', is still there: %v", keyPoison, err)
	}
	if body, _, err := st.Get(ctx, keyKept); err != nil || !bytes.Equal(body, keptOther) {
		t.Errorf("%s changed: %s %v", keyKept, body, err)
	}
	if st.Versioned() {
		vs, err := st.Versions(ctx, lake.ErrorsPrefix)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range vs {
			if v.Key != keyKept && (!v.IsLatest || v.DeleteMarker) {
				t.Errorf("a noncurrent version of a scrubbed object is left: %+v", v)
			}
		}
	}
	objs, err := st.List(ctx, lake.ErrorsPrefix)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		body, _, err := st.Get(ctx, o.Key)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(o.Key, ".gz") {
			body = gunzipped(t, body)
		}
		text := string(body)
		for _, r := range bytes.Split(body, []byte("\n")) {
			var rec firehoselocal.ErrorRecord
			if json.Unmarshal(r, &rec) == nil {
				text += string(rec.RawData)
			}
		}
		for _, id := range []string{`"u0002"`, `"s0001"`, `"hot-cookie"`, "u#u0002", "u#s0001"} {
			if strings.Contains(text, id) {
				t.Errorf("%s still names %s", o.Key, id)
			}
		}
	}
}

func TestScrubLines(t *testing.T) {
	list, err := lake.NewSuppression([]lake.SuppressionEntry{{Hash: lake.UserHash("u0002")}, {Hash: lake.UserHash("s0001")}, {Hash: lake.AnonymousHash("hot-cookie")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		in      [][]byte
		want    [][]byte
		removed int
	}{
		{"nothing to remove keeps the bytes", [][]byte{fhKeep1, keptOther}, [][]byte{fhKeep1, keptOther}, 0},
		{"firehose records", [][]byte{fhKeep1, fhGone1, fhGone2, fhKeep2}, [][]byte{fhKeep1, fhKeep2}, 2},
		{"a packed record keeps the others", [][]byte{fhPacked}, nil, 1},
		{"data that is not JSON", [][]byte{fhBroken, fhKeep1}, [][]byte{fhKeep1}, 1},
		{"kept-aside images", [][]byte{poison, keptOther, noUserID, textImage}, [][]byte{keptOther}, 3},
		{"event lines", [][]byte{append(eventLine("u0002", "", "e1"), '\n'), append(eventLine("u0003", "hot-cookie", "e2"), '\n')},
			[][]byte{append(eventLine("u0003", "hot-cookie", "e2"), '\n')}, 1},
		{"a line that is no JSON at all", [][]byte{[]byte(`garbage "user_id":"s0001" more` + "\n"), []byte("garbage\n")}, [][]byte{[]byte("garbage\n")}, 1},
		{"everything", [][]byte{fhGone1, poison}, [][]byte{}, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, n := lake.ScrubLines(bytes.Join(c.in, nil), list)
			if n != c.removed {
				t.Errorf("removed %d, want %d", n, c.removed)
			}
			if c.want != nil && !bytes.Equal(out, bytes.Join(c.want, nil)) {
				t.Errorf("got\n%s\nwant\n%s", out, bytes.Join(c.want, nil))
			}
		})
	}
	// The packed record's rawData is rewritten with the kept event only;
	// its other fields stay.
	out, _ := lake.ScrubLines(fhPacked, list)
	recs, err := firehoselocal.DecodeErrorRecords(out)
	if err != nil || len(recs) != 1 || string(recs[0].RawData) != string(eventLine("u0004", "", "fh-k3"))+"\n" ||
		recs[0].LastErrorCode != firehoselocal.ErrorCodeDeaggregationFailed || recs[0].ArrivalTimestamp != 1795000000000 {
		t.Errorf("packed record after the scrub: %+v %v (%s)", recs, err, out)
	}
	if raw := base64.StdEncoding.EncodeToString(recs[0].RawData); !strings.Contains(string(out), raw) {
		t.Errorf("rawData is not base64 in %s", out)
	}
	// An empty list changes nothing.
	empty, _ := lake.NewSuppression(nil)
	if out, n := lake.ScrubLines(fhGone1, empty); n != 0 || !bytes.Equal(out, fhGone1) {
		t.Error("an empty list removed something")
	}
}

// TestWriterKeepsForgottenActorsOut: a Writer with the suppression list (the
// relay's keep-aside store, as deployed) writes kept-aside records without
// forgotten actors' images, nothing when none is left, and nothing while the
// list never loaded.
func TestWriterKeepsForgottenActorsOut(t *testing.T) {
	ctx := context.Background()
	folder, err := lake.NewFolderStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st := &faultyStore{Store: folder}
	st.fail(true)
	var logs bytes.Buffer
	cache, err := lake.NewSuppressionCache(ctx, st, lake.SuppressionCacheConfig{Refresh: time.Nanosecond, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err == nil {
		t.Fatal("a cache on a failing store loaded")
	}
	w := lake.Writer{Store: folder, Suppression: cache}
	if err := w.Put(ctx, keyPoison, poison); !errors.Is(err, lake.ErrSuppressionNotLoaded) {
		t.Errorf("Put while the list never loaded: %v", err)
	}
	st.fail(false)
	if _, err := lake.AddSuppression(ctx, folder, []lake.SuppressionEntry{{Hash: lake.UserHash("u0002")}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Put(ctx, keyPoison, poison); err != nil {
		t.Fatal(err)
	}
	if _, _, err := folder.Get(ctx, keyPoison); !errors.Is(err, lake.ErrNotFound) {
		t.Errorf("a forgotten user's only kept-aside record was written: %v", err)
	}
	if err := w.Put(ctx, keyKept, bytes.Join([][]byte{poison, keptOther}, nil)); err != nil {
		t.Fatal(err)
	}
	if body, _, err := folder.Get(ctx, keyKept); err != nil || !bytes.Equal(body, keptOther) {
		t.Errorf("kept aside %s, %v; want the other user's record only", body, err)
	}
	if n := strings.Count(logs.String(), lake.LogMessageSuppressed); n != 2 || strings.Contains(logs.String(), "u0002") {
		t.Errorf("%d drops logged, want 2, without the ID: %s", n, logs.String())
	}
}
