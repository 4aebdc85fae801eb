package firehoselocal_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/eventlake/eventlake/local/firehoselocal"
)

var fuzzOps = []string{"PutRecordBatch", "PutRecord", "CreateDeliveryStream", "DescribeDeliveryStream", "ListDeliveryStreams"}

// FuzzRequests sends any body to any operation, then a batch to whatever
// stream exists, and checks the answers and what was stored: every answer
// is the service's JSON, a bad request is never an internal failure, the
// counts of a batch answer add up, and everything accepted reaches the
// folder (no stream is created whose objects the sink would refuse).
func FuzzRequests(f *testing.F) {
	for _, seed := range []struct {
		op   byte
		body string
	}{
		{0, `{"DeliveryStreamName":"events","Records":[{"Data":"YQo="},{"Data":"Ygo="}]}`},
		{1, `{"DeliveryStreamName":"events","Record":{"Data":"YQo="}}`},
		{2, `{"DeliveryStreamName":"x..y","ExtendedS3DestinationConfiguration":{"Prefix":"raw/!{timestamp:yyyy/MM}/","BufferingHints":{"SizeInMBs":1,"IntervalInSeconds":0}}}`},
		{2, `{"DeliveryStreamName":"esc","ExtendedS3DestinationConfiguration":{"Prefix":"../../x/"}}`},
		{2, `{"DeliveryStreamName":"q","ExtendedS3DestinationConfiguration":{"Prefix":"a/!{timestamp:'..'}/"}}`},
		{3, `{"DeliveryStreamName":"events"}`},
		{4, `{"Limit":1,"ExclusiveStartDeliveryStreamName":""}`},
		{0, `{"DeliveryStreamName":null,"Records":[null]}`},
		{0, `{"Records":[{"Data":"!!"}]}`},
		{1, `[]`},
	} {
		f.Add(seed.op, []byte(seed.body))
	}
	root := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, op byte, body []byte) {
		n++
		dir := filepath.Join(root, "lake", string(rune('a'+n%26)))
		defer os.RemoveAll(dir)
		srv, err := firehoselocal.New(firehoselocal.Options{Sink: firehoselocal.FolderSink{Root: dir}, Logger: discardLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		call := func(op string, body []byte) (int, map[string]any) {
			req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
			req.Header.Set("X-Amz-Target", "Firehose_20150804."+op)
			req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x")
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			var out map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("%s answered %d with a body that is not a JSON object: %v: %q", op, rec.Code, err, rec.Body.Bytes())
			}
			if rec.Code != http.StatusOK {
				if rec.Code >= 500 {
					t.Fatalf("%s answered %d %v to %q", op, rec.Code, out, body)
				}
				if _, ok := out["__type"].(string); !ok {
					t.Fatalf("%s error without __type: %v", op, out)
				}
			}
			return rec.Code, out
		}
		name := fuzzOps[int(op)%len(fuzzOps)]
		code, out := call(name, body)
		if name == "PutRecordBatch" && code == http.StatusOK {
			failed, _ := out["FailedPutCount"].(float64)
			resps, _ := out["RequestResponses"].([]any)
			var in struct{ Records []json.RawMessage }
			json.Unmarshal(body, &in)
			if len(resps) != len(in.Records) || int64(len(resps))-int64(failed) != srv.Stats().RecordsReceived {
				t.Fatalf("answer %v for %d records, %d received", out, len(in.Records), srv.Stats().RecordsReceived)
			}
		}
		// Whatever streams exist take a record, and it reaches the folder.
		_, list := call("ListDeliveryStreams", []byte(`{"Limit":10000}`))
		names, _ := list["DeliveryStreamNames"].([]any)
		for _, nm := range names {
			b, _ := json.Marshal(map[string]any{"DeliveryStreamName": nm, "Records": []any{map[string]any{"Data": []byte("x\n")}}})
			if code, out := call("PutRecordBatch", b); code != http.StatusOK {
				t.Fatalf("stream %v refuses a record: %v", nm, out)
			}
		}
		if err := srv.Flush(context.Background()); err != nil {
			t.Fatalf("accepted records cannot be delivered: %v", err)
		}
		if st := srv.Stats(); st.DeliveryErrors != 0 || st.BytesDelivered != st.BytesReceived {
			t.Fatalf("not everything received was delivered: %+v", st)
		}
	})
}
