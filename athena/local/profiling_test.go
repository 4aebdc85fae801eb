package local_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/eventlake/eventlake/athena/local"
)

// TestCountFromMetadata: DuckDB answers count(*) of a lake of one Parquet
// object from its footer, without profiling information; Query used to fail
// with "no profiling information available for this connection".
func TestCountFromMetadata(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	part := filepath.Join(root, "events", "dt=2026-11-20")
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(src, []byte(`{"user_id":"u1","event_at":"2026-11-20T10:00:00.000Z","event_id":"e1","event_type":"login","is_bot":false}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w, err := local.NewParquetWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Convert(ctx, filepath.Join(part, "one.parquet"), src); err != nil {
		t.Fatal(err)
	}
	db, err := local.Open(ctx, local.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Query(ctx, "SELECT count(*) FROM events")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Rows[0][0].String != "1" {
		t.Errorf("count = %v", res.Rows)
	}
}
