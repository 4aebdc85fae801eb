package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// rawLine encodes img (DynamoDB JSON) the way Invoke does.
func rawLine(img []byte) ([]byte, error) {
	var sc scratch
	return appendRawLine(nil, img, &sc)
}

// typedLine encodes img the way Handle does after the runtime's decoding;
// ok is false when the runtime cannot decode it.
func typedLine(img []byte) (line []byte, err error, ok bool) {
	var m map[string]events.DynamoDBAttributeValue
	if !decodeLikeTheRuntime(img, &m) {
		return nil, nil, false
	}
	line, err = AppendLine(nil, m)
	return line, err, true
}

// imageSeeds are the NewImages of testdata plus shapes that take each
// branch between the fast and the slow path.
func imageSeeds(tb testing.TB) [][]byte {
	var seeds [][]byte
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		payload, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			tb.Fatal(err)
		}
		for _, r := range ev.Records {
			if r.Change.NewImage != nil {
				img, err := json.Marshal(r.Change.NewImage)
				if err != nil {
					tb.Fatal(err)
				}
				seeds = append(seeds, img)
			}
		}
	}
	base := `"user_id":{"S":"u1"},"event_at":{"S":"2026-11-22T10:00:00.000Z"},"event_id":{"S":"e1"},"event_type":{"S":"login"}`
	for _, s := range []string{
		`{` + base + `}`,
		`{` + base + `,"attributes":{"M":{"b":{"S":"2"},"a":{"S":"1"},"c":{"S":""}}},"expires_at":{"N":"1"},"event_key":{"S":"k"}}`,
		` { ` + strings.ReplaceAll(base, ",", " , ") + ` , "attributes" : { "M" : { "k" : { "S" : "v" } } } } `,
		`{` + base + `,"attributes":{"M":{}}}`,
		`{` + base + `,"attributes":{"M":{"a":{"S":"1"},"a":{"S":"2"}}}}`,
		`{` + base + `,"attributes":{"M":{"a":{"N":"1"},"b":{"BOOL":true},"c":{"NULL":true},"d":{"L":[{"S":"x"}]}}}}`,
		`{` + base + `,"attributes":{"NULL":true}}`,
		`{` + base + `,"attributes":{"S":"x"}}`,
		`{` + base + `,"user_agent":{"S":""}}`,
		`{` + base + `,"user_agent":{"S":"caf\u00e9 \"q\" \\ /"}}`,
		`{` + base + `,"user_agent":{"S":"é"},"ip_address":{"NULL":true}}`,
		`{` + base + `,"user_agent":{"N":"12"},"ip_address":{"BOOL":false}}`,
		`{` + base + `,"user_agent":{"B":"AAE="}}`,
		`{` + base + `,"user_agent":{"S":"a","N":"1"}}`,
		`{` + base + `,"user_id":{"S":"again"}}`,
		`{` + base + `,"user_agent":{"SS":["a"]}}`,
		`{"user_id":{"S":"u1"},"event_at":{"S":"t"}}`,
		`{"user_id":{"S":"u1"},"event_at":{"S":"t"},"event_id":{"S":"e"},"event_type":{"S":""}}`,
		`{"user\u005fid":{"S":"u1"},"event_at":{"S":"t"},"event_id":{"S":"e"},"event_type":{"S":"x"}}`,
		`{}`, `null`, `[]`, `{"user_id":`, `{"user_id":{"S":"u"}`,
	} {
		seeds = append(seeds, []byte(s))
	}
	return seeds
}

// checkSamePaths holds Invoke's image encoding to Handle's: whenever the
// runtime decodes an image, both give the same line or the same error.
func checkSamePaths(t *testing.T, img []byte) {
	t.Helper()
	got, gotErr := rawLine(img)
	if gotErr != nil {
		var ie *ImageError
		if !errors.As(gotErr, &ie) || len(got) != 0 {
			t.Fatalf("raw path on %s: error %v (%T) with %q written", img, gotErr, gotErr, got)
		}
	}
	want, wantErr, ok := typedLine(img)
	if !ok {
		return // the runtime would fail the whole invocation
	}
	if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) ||
		(gotErr != nil && gotErr.Error() != wantErr.Error()) {
		t.Fatalf("image %s:\nraw path:   %q, %v\ntyped path: %q, %v", img, got, gotErr, want, wantErr)
	}
}

func TestRawPathMatchesTypedPath(t *testing.T) {
	fast := 0
	for _, img := range imageSeeds(t) {
		checkSamePaths(t, img)
		var sc scratch
		if _, ok := appendFastLine(nil, img, &sc); ok {
			fast++
		}
	}
	if fast < 4 {
		t.Errorf("only %d seed images took the fast path", fast)
	}
}

// FuzzRawPath: the raw path never panics, and gives what the typed path
// gives for every image the runtime can decode.
func FuzzRawPath(f *testing.F) {
	for _, img := range imageSeeds(f) {
		f.Add(img)
	}
	f.Fuzz(func(t *testing.T, img []byte) {
		checkSamePaths(t, img)
	})
}

// FuzzParseEvent: parseEvent never panics, and for every event the
// runtime decodes it finds the same records, names, sequence numbers and
// images.
func FuzzParseEvent(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		payload, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(payload)
	}
	f.Add([]byte(`{"Records":null}`))
	f.Add([]byte(`{"Records":[{"eventName":"INS\u0045RT","dynamodb":{"SequenceNumber":"1","NewImage":null}}]}`))
	f.Add([]byte(`{"Records":[]} x`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		parseEvent(payload, nil) // must not panic
		// The runtime matches field names case-insensitively; Lambda sends
		// them as AWS documents them, so compare on the runtime's own
		// rendering of what it decoded.
		var ev events.DynamoDBEvent
		if !decodeLikeTheRuntime(payload, &ev) {
			return
		}
		canonical, err := json.Marshal(ev)
		if err != nil {
			return
		}
		recs, err := parseEvent(canonical, nil)
		if err != nil {
			t.Fatalf("parseEvent(%s): %v", canonical, err)
		}
		if len(recs) != len(ev.Records) {
			t.Fatalf("%d records, the runtime finds %d", len(recs), len(ev.Records))
		}
		for i, r := range ev.Records {
			if jsonText(recs[i].eventName) != r.EventName || jsonText(recs[i].seq) != r.Change.SequenceNumber ||
				jsonText(recs[i].eventID) != r.EventID || (recs[i].image == nil) != (r.Change.NewImage == nil) {
				t.Fatalf("record %d: %+v, the runtime reads %+v", i, recs[i], r)
			}
		}
	})
}

func TestParseEventErrors(t *testing.T) {
	for _, p := range []string{``, `[]`, `"x"`, `{"Records":{}}`, `{"Records":[{}`, `{"Records":[]} x`, `{"Records":[{"dynamodb":{"NewImage":{"a":}}}]}`} {
		if _, err := parseEvent([]byte(p), nil); err == nil {
			t.Errorf("parseEvent(%q) succeeded", p)
		}
	}
	recs, err := parseEvent([]byte(` {"Records":null,"other":[1,{"a":"\"}"}]} `), nil)
	if err != nil || len(recs) != 0 {
		t.Errorf("null Records: %v, %v", recs, err)
	}
}

// benchPayload is a stream event of n typical records, as Lambda sends it.
func benchPayload(b *testing.B, n int) []byte {
	img := `{"attributes":{"M":{"url":{"S":"https://app.example.com/p/0"}}},"event_at":{"S":"2026-11-22T10:00:00.000Z"},"event_id":{"S":"01936c2e-0000-7c1d-9e4f-000000000000"},"event_key":{"S":"2026-11-22T10:00:00.000Z#01936c2e-0000-7c1d-9e4f-000000000000"},"event_type":{"S":"page_view"},"expires_at":{"N":"1803723845"},"ip_address":{"S":"203.0.113.0"},"user_agent":{"S":"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},"user_id":{"S":"user-00000"}}`
	rec := `{"awsRegion":"eu-west-1","dynamodb":{"ApproximateCreationDateTime":1795341845,"Keys":{"event_key":{"S":"2026-11-22T10:00:00.000Z#01936c2e-0000-7c1d-9e4f-000000000000"},"user_id":{"S":"user-00000"}},"NewImage":` + img +
		`,"SequenceNumber":"111100000000018523413300","SizeBytes":360,"StreamViewType":"NEW_IMAGE"},"eventID":"00000000000000000000000000000001","eventName":"INSERT","eventSource":"aws:dynamodb","eventVersion":"1.1","eventSourceARN":"arn:aws:dynamodb:eu-west-1:123456789012:table/eventlake-events/stream/2026-11-01T08:15:30.123"}`
	recs := make([]string, n)
	for i := range recs {
		recs[i] = rec
	}
	return []byte(`{"Records":[` + strings.Join(recs, ",") + `]}`)
}

// BenchmarkParseEvent measures reading a 100-record stream event (about
// 1 KB of JSON per record), without encoding the images.
func BenchmarkParseEvent(b *testing.B) {
	payload := benchPayload(b, 100)
	b.SetBytes(int64(len(payload)))
	var recs []rawRecord
	for b.Loop() {
		var err error
		if recs, err = parseEvent(payload, recs[:0]); err != nil || len(recs) != 100 {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendRawLine measures encoding one typical image from its
// JSON (the fast path).
func BenchmarkAppendRawLine(b *testing.B) {
	recs, err := parseEvent(benchPayload(b, 1), nil)
	if err != nil {
		b.Fatal(err)
	}
	var sc scratch
	buf, err := appendRawLine(nil, recs[0].image, &sc)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = appendRawLine(buf[:0], recs[0].image, &sc)
	}
}
