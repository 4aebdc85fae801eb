package lakeparquet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	ftypes "github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/local/lakeparquet"
	"github.com/eventlake/eventlake/tracker"
)

// lines are NDJSON lines as the stream Lambda writes them: optional fields
// and empty attributes omitted.
var lines = []string{
	`{"user_id":"u1","event_at":"2026-11-20T10:04:05.123Z","event_id":"e1","event_type":"page_view","user_agent":"Mozilla/5.0 (X11; Linux x86_64)","ip_address":"203.0.113.0","attributes":{"url":"/pricing","referrer":"https://news.example/ü"}}`,
	`{"user_id":"u2","event_at":"2026-11-20T23:59:59.999Z","event_id":"e2","event_type":"login"}`,
	`{"user_id":"42","event_at":"2026-11-20T00:00:00.000Z","event_id":"e3","event_type":"signup","ip_address":"2001:db8::","attributes":{"campaign":"black-friday"},"unknown_key":"ignored, as the OpenX SerDe does"}`,
}

func newEncoder(t *testing.T) *lakeparquet.Encoder {
	t.Helper()
	enc, err := lakeparquet.NewEncoder(lakeparquet.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := enc.Close(); err != nil {
			t.Error(err)
		}
	})
	return enc
}

func openLake(t *testing.T, root string) *local.DB {
	t.Helper()
	db, err := local.Open(context.Background(), local.Config{Root: root, Format: athena.FormatParquet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func query(t *testing.T, db *local.DB, sql string) [][]string {
	t.Helper()
	res, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	for _, r := range res.Rows {
		var row []string
		for _, v := range r {
			if v.Valid {
				row = append(row, v.String)
			} else {
				row = append(row, "NULL")
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func TestEncoderWritesTheGlueSchemaReadByTheLocalRunner(t *testing.T) {
	enc := newEncoder(t)
	var buf bytes.Buffer
	if err := enc.Encode(&buf, []byte(strings.Join(lines, "\n")+"\n")); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte("PAR1")) || !bytes.HasSuffix(buf.Bytes(), []byte("PAR1")) {
		t.Fatal("not a Parquet file")
	}
	root := t.TempDir()
	dir := filepath.Join(root, "events", "dt=2026-11-20")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "events-1-2026-11-20-10-04-05-x"+enc.Extension())
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	db := openLake(t, root)

	// Every field of every line, through the same events view the Athena
	// queries read.
	got := query(t, db, `SELECT user_id, event_at, event_id, event_type, user_agent, ip_address,
		cardinality(attributes), attributes['url'], attributes['referrer'], attributes['campaign'], dt
		FROM events ORDER BY event_id`)
	want := [][]string{
		{"u1", "2026-11-20T10:04:05.123Z", "e1", "page_view", "Mozilla/5.0 (X11; Linux x86_64)", "203.0.113.0", "2", "/pricing", "https://news.example/ü", "NULL", "2026-11-20"},
		{"u2", "2026-11-20T23:59:59.999Z", "e2", "login", "NULL", "NULL", "NULL", "NULL", "NULL", "NULL", "2026-11-20"},
		{"42", "2026-11-20T00:00:00.000Z", "e3", "signup", "NULL", "2001:db8::", "1", "NULL", "NULL", "black-friday", "2026-11-20"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows =\n%v\nwant\n%v", got, want)
	}

	// The file's own schema: the columns of tracker.EventFields() in order,
	// strings as UTF8 byte arrays, attributes a MAP of UTF8 keys and values
	// (the converted types Firehose's Hive Parquet serializer writes).
	schema := query(t, db, fmt.Sprintf(`SELECT name, coalesce(type, ''), coalesce(converted_type, ''), repetition_type
		FROM parquet_schema('%s') WHERE name <> 'duckdb_schema'`, filepath.ToSlash(file)))
	var wantSchema [][]string
	for _, f := range tracker.EventFields() {
		if f.AthenaType == "map<string,string>" {
			wantSchema = append(wantSchema, []string{f.Name, "", "MAP", "OPTIONAL"}, []string{"key_value", "", "", "REPEATED"},
				[]string{"key", "BYTE_ARRAY", "UTF8", "REQUIRED"}, []string{"value", "BYTE_ARRAY", "UTF8", "OPTIONAL"})
			continue
		}
		if f.AthenaType == "boolean" {
			wantSchema = append(wantSchema, []string{f.Name, "BOOLEAN", "", "OPTIONAL"})
			continue
		}
		wantSchema = append(wantSchema, []string{f.Name, "BYTE_ARRAY", "UTF8", "OPTIONAL"})
	}
	if fmt.Sprint(schema) != fmt.Sprint(wantSchema) {
		t.Errorf("Parquet schema =\n%v\nwant\n%v", schema, wantSchema)
	}
	cols := query(t, db, fmt.Sprintf(`SELECT DISTINCT compression FROM parquet_metadata('%s')`, filepath.ToSlash(file)))
	if len(cols) != 1 || cols[0][0] != "GZIP" {
		t.Errorf("compression = %v, want GZIP", cols)
	}
}

func TestEncoderRejectsMalformedLines(t *testing.T) {
	enc := newEncoder(t)
	cases := map[string]string{
		"not json":           lines[0] + "\n{not json\n",
		"attributes not map": `{"user_id":"u","event_at":"2026-11-20T00:00:00.000Z","event_id":"e","event_type":"login","attributes":"x"}` + "\n",
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := enc.Encode(&buf, []byte(data)); err == nil {
				t.Error("Encode accepted a malformed object")
			} else if buf.Len() != 0 {
				t.Errorf("Encode wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

// TestFirehoseEndpointWritesParquetLake sends packed lines through the real
// Firehose client to the local endpoint with the Parquet encoder and a
// folder sink, and reads the lake with the local Athena runner.
func TestFirehoseEndpointWritesParquetLake(t *testing.T) {
	enc := newEncoder(t)
	root := t.TempDir()
	srv, err := firehoselocal.Start(firehoselocal.Options{
		Streams:            []string{"events"},
		Encoder:            enc,
		Sink:               firehoselocal.FolderSink{Root: root},
		ArrivalFromEventAt: true,
		BufferInterval:     time.Hour, // only Flush delivers
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	const days, perDay = 3, 200
	start := time.Date(2026, 11, 18, 12, 0, 0, 0, time.UTC)
	var recs []ftypes.Record
	var packed []byte
	for d := range days {
		for i := range perDay {
			line, _ := json.Marshal(map[string]any{
				"user_id": fmt.Sprintf("u%d", i%7), "event_at": start.AddDate(0, 0, d).Add(time.Duration(i) * time.Second).Format(tracker.TimeLayout),
				"event_id": fmt.Sprintf("d%d-%04d", d, i), "event_type": "page_view", "attributes": map[string]string{"url": "/"},
			})
			packed = append(append(packed, line...), '\n')
			if len(packed) > 4000 {
				recs = append(recs, ftypes.Record{Data: packed})
				packed = nil
			}
		}
	}
	recs = append(recs, ftypes.Record{Data: packed})
	out, err := srv.Client().PutRecordBatch(ctx, &firehose.PutRecordBatchInput{DeliveryStreamName: aws.String("events"), Records: recs})
	if err != nil || aws.ToInt32(out.FailedPutCount) != 0 {
		t.Fatalf("put: %v, failed %d", err, aws.ToInt32(out.FailedPutCount))
	}
	if err := srv.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "events", "dt=*", "*.parquet"))
	if len(files) != days {
		t.Errorf("%d Parquet objects, want one per day (%d): %v", len(files), days, files)
	}
	db := openLake(t, root)
	got := query(t, db, `SELECT dt, count(*), count(DISTINCT event_id), min(substr(event_at, 1, 10)) = dt FROM events_dedup GROUP BY dt ORDER BY dt`)
	want := [][]string{{"2026-11-18", "200", "200", "true"}, {"2026-11-19", "200", "200", "true"}, {"2026-11-20", "200", "200", "true"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("per partition = %v, want %v", got, want)
	}
}

func BenchmarkEncode(b *testing.B) {
	enc, err := lakeparquet.NewEncoder(lakeparquet.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	var data []byte
	for i := range 1000 {
		data = append(data, strings.Replace(lines[0], `"e1"`, fmt.Sprintf(`"e%d"`, i), 1)...)
		data = append(data, '\n')
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var buf bytes.Buffer
		if err := enc.Encode(&buf, data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "lines/s")
}
