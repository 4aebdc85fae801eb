package local

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestParquetWriterThreads checks that Threads reaches DuckDB at the first
// Convert.
func TestParquetWriterThreads(t *testing.T) {
	w, err := NewParquetWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	w.Threads = 1
	src := filepath.Join(t.TempDir(), "a.json")
	line := `{"user_id":"u","event_at":"2026-11-20T10:00:00.000Z","event_id":"e","event_type":"login"}` + "\n"
	if err := os.WriteFile(src, []byte(line), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := w.Convert(context.Background(), src+".parquet", src); err != nil {
		t.Fatal(err)
	}
	var threads int
	if err := w.db.QueryRow(`SELECT current_setting('threads')`).Scan(&threads); err != nil {
		t.Fatal(err)
	}
	if threads != 1 {
		t.Errorf("DuckDB runs %d threads, want 1", threads)
	}
}
