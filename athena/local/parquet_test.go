package local_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
)

func writeObject(t *testing.T, path string, lines ...string) {
	t.Helper()
	data := []byte(strings.Join(lines, "\n") + "\n")
	if strings.HasSuffix(path, ".gz") {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(data)
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		data = buf.Bytes()
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestParquetWriterSources converts a gzip object and a plain one (as
// local/lakeparquet hands it over) into one Parquet object in each codec,
// with the writer's DuckDB limited to one thread, and reads every row back
// through the events view.
func TestParquetWriterSources(t *testing.T) {
	src := t.TempDir()
	gz, plain := filepath.Join(src, "a.gz"), filepath.Join(src, "b.json")
	writeObject(t, gz,
		`{"user_id":"u1","event_at":"2026-11-20T10:00:00.000Z","event_id":"e1","event_type":"login","attributes":{"method":"sso"}}`,
		`{"user_id":"u2","event_at":"2026-11-20T11:00:00.000Z","event_id":"e2","event_type":"page_view","ip_address":"203.0.113.0"}`)
	writeObject(t, plain,
		`{"user_id":"u3","event_at":"2026-11-20T12:00:00.000Z","event_id":"e3","event_type":"signup","not_a_column":"ignored"}`)

	w, err := local.NewParquetWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Threads = 1
	for _, codec := range []string{"", "SNAPPY", "ZSTD", "UNCOMPRESSED"} {
		t.Run("codec "+codec, func(t *testing.T) {
			root := t.TempDir()
			dir := filepath.Join(root, "events", "dt=2026-11-20")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			w.Compression = codec
			dst := filepath.Join(dir, "x.parquet")
			if err := w.Convert(context.Background(), dst, gz, plain); err != nil {
				t.Fatal(err)
			}
			db, err := local.Open(context.Background(), local.Config{Root: root, Format: athena.FormatParquet})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			res, err := db.Query(context.Background(), `SELECT event_id, user_id, event_type, coalesce(ip_address, '-'),
				coalesce(attributes['method'], '-'), dt FROM events ORDER BY event_id`)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range res.Rows {
				var cells []string
				for _, v := range r {
					cells = append(cells, v.String)
				}
				got = append(got, strings.Join(cells, " "))
			}
			want := []string{"e1 u1 login - sso 2026-11-20", "e2 u2 page_view 203.0.113.0 - 2026-11-20", "e3 u3 signup - - 2026-11-20"}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("rows %q, want %q", got, want)
			}
			wantCodec := codec
			if wantCodec == "" {
				wantCodec = "GZIP"
			}
			meta, err := db.Query(context.Background(), fmt.Sprintf(`SELECT DISTINCT compression FROM parquet_metadata('%s')`, filepath.ToSlash(dst)))
			if err != nil {
				t.Fatal(err)
			}
			if len(meta.Rows) != 1 || meta.Rows[0][0].String != wantCodec {
				t.Errorf("compression %v, want %s", meta.Rows, wantCodec)
			}
			if _, err := os.Stat(dst + ".tmp"); !os.IsNotExist(err) {
				t.Errorf("temporary file left behind: %v", err)
			}
		})
	}
}

func TestParquetWriterFailures(t *testing.T) {
	src := t.TempDir()
	good, bad := filepath.Join(src, "good.json"), filepath.Join(src, "bad.json")
	writeObject(t, good, `{"user_id":"u1","event_at":"2026-11-20T10:00:00.000Z","event_id":"e1","event_type":"login"}`)
	writeObject(t, bad, `{"user_id":"u1","event_at":"2026-11-20T10:00:00.000Z","event_id":"e2","event_type":"login"}`, `{not json`)
	w, err := local.NewParquetWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, tc := range []struct {
		name  string
		codec string
		srcs  []string
		want  string
	}{
		{"no sources", "", nil, "no source objects"},
		{"unknown codec", "LZ4", []string{good}, `compression "LZ4"`},
		{"malformed line", "", []string{good, bad}, "convert " + good},
		{"missing source", "", []string{filepath.Join(src, "absent.gz")}, "absent.gz"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.Compression = tc.codec
			dst := filepath.Join(t.TempDir(), "x.parquet")
			err := w.Convert(context.Background(), dst, tc.srcs...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Convert = %v, want an error with %q", err, tc.want)
			}
			for _, p := range []string{dst, dst + ".tmp"} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s exists after a failed conversion", p)
				}
			}
		})
	}
}

// TestParquetWriterConvertTree converts a lake folder of gzip objects in
// two partitions on two workers: every object becomes a Parquet object of
// the same name under dst, and the events view reads every row; a
// malformed object fails the tree with its name.
func TestParquetWriterConvertTree(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	var objects []string
	for i, day := range []string{"2026-11-20", "2026-11-20", "2026-11-21"} {
		dir := filepath.Join(src, "events", "dt="+day)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		o := filepath.Join(dir, fmt.Sprintf("obj-%d.gz", i))
		writeObject(t, o, fmt.Sprintf(`{"user_id":"u%d","event_at":"%sT10:00:00.000Z","event_id":"e%d","event_type":"login"}`, i, day, i))
		objects = append(objects, o)
	}
	w, err := local.NewParquetWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.ConvertTree(context.Background(), src, dst, objects, 2); err != nil {
		t.Fatal(err)
	}
	for i, day := range []string{"2026-11-20", "2026-11-20", "2026-11-21"} {
		if _, err := os.Stat(filepath.Join(dst, "events", "dt="+day, fmt.Sprintf("obj-%d.parquet", i))); err != nil {
			t.Error(err)
		}
	}
	db, err := local.Open(context.Background(), local.Config{Root: dst, Format: athena.FormatParquet})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Query(context.Background(), `SELECT string_agg(event_id || '@' || dt, ' ' ORDER BY event_id) FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Rows[0][0].String; got != "e0@2026-11-20 e1@2026-11-20 e2@2026-11-21" {
		t.Errorf("rows %q", got)
	}

	bad := filepath.Join(src, "events", "dt=2026-11-21", "bad.gz")
	writeObject(t, bad, `{"user_id": not json`)
	if err := w.ConvertTree(context.Background(), src, t.TempDir(), append(objects, bad), 3); err == nil || !strings.Contains(err.Error(), "bad.gz") {
		t.Errorf("a malformed object: %v", err)
	}
}
