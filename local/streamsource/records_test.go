package streamsource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// testdata/getrecords.json is DynamoDB Local's raw GetRecords response for
// an INSERT (every attribute type), a MODIFY and a REMOVE of one item.
const sampleARN = "arn:aws:dynamodb:ddblocal:000000000000:table/test-events-ce91dfbeecd3/stream/2026-11-22T10:34:23.992"

func sample(t testing.TB) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/getrecords.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// parseBody splits a GetRecords body as the capture does, then parses it.
func parseBody(body []byte, arn, region string, filters []*Filter) ([]record, error) {
	page, err := splitPage(body)
	if err != nil {
		return nil, err
	}
	return parseRecords(page.Records, arn, region, filters)
}

func TestParseRecordsBuildsLambdaRecords(t *testing.T) {
	body := sample(t)
	insertOnly, err := ParseFilter(InsertOnly)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		region     string
		filters    []*Filter
		wantRegion string
		wantKeep   []bool
	}{
		{"no filter, stream region", "ddblocal", nil, "ddblocal", []bool{true, true, true}},
		{"insert only", "ddblocal", []*Filter{insertOnly}, "ddblocal", []bool{true, false, false}},
		{"region set by the source", "eu-west-1", nil, "eu-west-1", []bool{true, true, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recs, err := parseBody(body, sampleARN, c.region, c.filters)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 3 {
				t.Fatalf("%d records, want 3", len(recs))
			}
			// The payload goes through the same decoding as in Lambda.
			var ev events.DynamoDBEvent
			if err := json.Unmarshal(buildPayload(recs), &ev); err != nil {
				t.Fatalf("payload does not decode as events.DynamoDBEvent: %v", err)
			}
			for i, r := range ev.Records {
				if r.EventSourceArn != sampleARN || r.AWSRegion != c.wantRegion {
					t.Errorf("record %d: eventSourceARN %q awsRegion %q", i, r.EventSourceArn, r.AWSRegion)
				}
				if r.Change.SequenceNumber != recs[i].seq {
					t.Errorf("record %d: seq %s, parsed %s", i, r.Change.SequenceNumber, recs[i].seq)
				}
				if recs[i].keep != c.wantKeep[i] {
					t.Errorf("record %d (%s): keep = %v", i, r.EventName, recs[i].keep)
				}
				if recs[i].created.IsZero() {
					t.Errorf("record %d: no creation time", i)
				}
			}
			img := ev.Records[0].Change.NewImage
			checks := map[string]events.DynamoDBDataType{
				"user_id": events.DataTypeString, "expires_at": events.DataTypeNumber, "attributes": events.DataTypeMap,
				"flags": events.DataTypeStringSet, "ok": events.DataTypeBoolean, "nothing": events.DataTypeNull,
				"blob": events.DataTypeBinary, "list": events.DataTypeList,
			}
			for k, want := range checks {
				if got := img[k].DataType(); got != want {
					t.Errorf("NewImage[%s] type %v, want %v", k, got, want)
				}
			}
			if ev.Records[2].EventName != "REMOVE" || ev.Records[2].Change.Keys["user_id"].String() != "42" {
				t.Errorf("REMOVE record = %+v", ev.Records[2])
			}
		})
	}
}

func TestParseRecordsKeepsDynamoDBBytes(t *testing.T) {
	body := sample(t)
	recs, err := parseBody(body, sampleARN, "ddblocal", nil)
	if err != nil {
		t.Fatal(err)
	}
	var page struct{ Records []json.RawMessage }
	if err := json.Unmarshal(body, &page); err != nil {
		t.Fatal(err)
	}
	for i, r := range recs {
		orig := page.Records[i]
		if !bytes.HasPrefix(r.json, orig[:len(orig)-1]) {
			t.Errorf("record %d was rewritten, want DynamoDB's bytes with eventSourceARN appended", i)
		}
	}
}

func TestParseRecordsRejectsMalformed(t *testing.T) {
	cases := map[string]string{
		"not json":          `{"Records":[`,
		"record not object": `{"Records":[1]}`,
		"no sequence":       `{"Records":[{"eventName":"INSERT","dynamodb":{}}]}`,
		"bad sequence":      `{"Records":[{"eventName":"INSERT","dynamodb":{"SequenceNumber":"12a"}}]}`,
		"records not array": `{"Records":{}}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := parseBody([]byte(body), sampleARN, "", nil); !errors.Is(err, errMalformedRecords) {
				t.Errorf("err = %v, want errMalformedRecords", err)
			}
		})
	}
	recs, err := parseBody([]byte(`{"Records":[]}`), sampleARN, "", nil)
	if err != nil || len(recs) != 0 {
		t.Errorf("empty page: %v %v", recs, err)
	}
}

func FuzzParseRecords(f *testing.F) {
	f.Add(sample(f))
	f.Add([]byte(`{"Records":[{"dynamodb":{"SequenceNumber":"1"}}]}`))
	f.Add([]byte(`{"Records":[{"eventSourceARN":"x","awsRegion":7,"dynamodb":{"SequenceNumber":"1","ApproximateCreationDateTime":1e300}}]}`))
	f.Add([]byte(`{"Records":[{ }]}`))
	filter, err := ParseFilter(`{"eventName":["INSERT"],"dynamodb":{"NewImage":{"event_type":{"S":[{"prefix":"log"}]}}}}`)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := parseBody(body, sampleARN, "us-east-1", []*Filter{filter})
		if err != nil {
			return
		}
		for i, r := range recs {
			// Read as the Lambda service and the function's JSON reader
			// do: keys match exactly ("eventSourCeARn" is another key).
			var got map[string]json.RawMessage
			if err := json.Unmarshal(r.json, &got); err != nil {
				t.Fatalf("record %d is not a JSON object: %v: %s", i, err, r.json)
			}
			if !isJSONString(got["eventSourceARN"], sampleARN) || !isJSONString(got["awsRegion"], "us-east-1") {
				t.Fatalf("record %d: eventSourceARN %s awsRegion %s", i, got["eventSourceARN"], got["awsRegion"])
			}
		}
		if !json.Valid(buildPayload(recs)) {
			t.Fatal("payload is not JSON")
		}
	})
}

// TestParseRecordsMatchesKeysExactly: keys are read as the Lambda service
// reads them, exactly; a key that differs in case is another key, passed
// on untouched (encoding/json took "EVENTNAME" for "eventName").
func TestParseRecordsMatchesKeysExactly(t *testing.T) {
	insertOnly, err := ParseFilter(InsertOnly)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, body string
		seqs       []string // nil: an error
		keep       []bool
	}{
		{"page key in another case", `{"ReCords":[{"dynamodb":{"SequenceNumber":"1"}}]}`, []string{}, nil},
		{"sequence number key in another case", `{"Records":[{"dynamodb":{"sequencenumber":"5"}}]}`, nil, nil},
		{"dynamodb key in another case", `{"Records":[{"DynamoDB":{"SequenceNumber":"5"}}]}`, nil, nil},
		{"the issue's input, with the page key right", `{"Records":[{"eventSourCeARn":0,"dYnAmodB":{"SequenCeNumBer":"0"}}]}`, nil, nil},
		{"filter key in another case", `{"Records":[{"EVENTNAME":"INSERT","dynamodb":{"SequenceNumber":"2"}},{"eventName":"INSERT","dynamodb":{"SequenceNumber":"3"}}]}`,
			[]string{"2", "3"}, []bool{false, true}},
		{"escaped key", `{"Records":[{"eventName":"INSERT","dynamodb":{"\u0053equenceNumber":"7"}}]}`, []string{"7"}, []bool{true}},
		{"duplicate key, the last wins", `{"Records":[{"eventName":"MODIFY","eventName":"INSERT","dynamodb":{"SequenceNumber":"8"}}]}`, []string{"8"}, []bool{true}},
		{"creation time of the wrong type", `{"Records":[{"dynamodb":{"SequenceNumber":"9","ApproximateCreationDateTime":"x"}}]}`, nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := parseBody([]byte(tt.body), sampleARN, "us-east-1", []*Filter{insertOnly})
			if tt.seqs == nil {
				if err == nil {
					t.Fatalf("parsed %d records, want an error", len(recs))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != len(tt.seqs) {
				t.Fatalf("%d records, want %d", len(recs), len(tt.seqs))
			}
			for i, r := range recs {
				if r.seq != tt.seqs[i] || r.keep != tt.keep[i] {
					t.Errorf("record %d: seq %s keep %t, want %s %t", i, r.seq, r.keep, tt.seqs[i], tt.keep[i])
				}
				var m map[string]json.RawMessage
				if err := json.Unmarshal(r.json, &m); err != nil || !isJSONString(m["eventSourceARN"], sampleARN) {
					t.Errorf("record %d: %s", i, r.json)
				}
			}
		})
	}
}

func TestCompareSeq(t *testing.T) {
	cases := []struct {
		a, b string
		want int
	}{
		{"1", "2", -1},
		{"000000000000000000010", "9", 1},
		{"000000000000000000003", "3", 0},
		{"49668042512330000000000000000000000000001", "49668042512330000000000000000000000000002", -1},
		{"100000000000000000000000000000000000000", "99999999999999999999999999999999999999", 1},
	}
	for _, c := range cases {
		if got := compareSeq(c.a, c.b); got != c.want {
			t.Errorf("compareSeq(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestReadyShards(t *testing.T) {
	// A rolled-over stream: a (trimmed away) -> b -> c, and b -> d (split).
	shards := []shardInfo{
		{id: "b", parent: "a", closed: true},
		{id: "c", parent: "b"},
		{id: "d", parent: "b"},
		{id: "e"},
	}
	cases := []struct {
		name           string
		ended, running []string
		want           []string
	}{
		{"start: parent gone from the stream, roots", nil, nil, []string{"b", "e"}},
		{"children wait for a running parent", nil, []string{"b", "e"}, nil},
		{"children start once the parent ended", []string{"b"}, []string{"e"}, []string{"c", "d"}},
		{"nothing twice", []string{"b", "e"}, []string{"c"}, []string{"d"}},
		{"all ended", []string{"b", "c", "d", "e"}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			set := func(ids []string) map[string]bool {
				m := map[string]bool{}
				for _, id := range ids {
					m[id] = true
				}
				return m
			}
			var got []string
			for _, sh := range readyShards(shards, set(c.ended), set(c.running)) {
				got = append(got, sh.id)
			}
			if len(got) != len(c.want) {
				t.Fatalf("ready = %v, want %v", got, c.want)
			}
			for i := range got {
				if got[i] != c.want[i] {
					t.Fatalf("ready = %v, want %v", got, c.want)
				}
			}
		})
	}
}

func TestBatchLen(t *testing.T) {
	rec := func(n int) record { return record{json: bytes.Repeat([]byte("x"), n)} }
	pending := []record{rec(100), rec(100), rec(100), rec(100)}
	cases := []struct {
		limit, maxBytes, want int
	}{
		{10, 1 << 20, 4},
		{2, 1 << 20, 2},
		{10, payloadOverhead + 101*2, 2},
		{10, 10, 1}, // one record always goes, however big
	}
	for _, c := range cases {
		if got := batchLen(pending, c.limit, c.maxBytes); got != c.want {
			t.Errorf("batchLen(limit %d, bytes %d) = %d, want %d", c.limit, c.maxBytes, got, c.want)
		}
	}
}

// BenchmarkParseRecords measures turning a raw GetRecords page of 1,000
// INSERTs (of the sample item, about 1.4 KB each) into Lambda records, with
// the INSERT-only filter.
func BenchmarkParseRecords(b *testing.B) {
	var page struct{ Records []json.RawMessage }
	if err := json.Unmarshal(sample(b), &page); err != nil {
		b.Fatal(err)
	}
	insert := string(page.Records[0])
	var body bytes.Buffer
	body.WriteString(`{"Records":[`)
	for i := range 1000 {
		if i > 0 {
			body.WriteByte(',')
		}
		body.WriteString(strings.Replace(insert, `"SequenceNumber":"000000000000000000001"`, fmt.Sprintf(`"SequenceNumber":"%021d"`, i+1), 1))
	}
	body.WriteString(`],"NextShardIterator":"x"}`)
	filter, err := ParseFilter(InsertOnly)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(body.Len()))
	for b.Loop() {
		recs, err := parseBody(body.Bytes(), sampleARN, "ddblocal", []*Filter{filter})
		if err != nil || len(recs) != 1000 || !recs[999].keep {
			b.Fatalf("%d records, %v", len(recs), err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/record")
}
