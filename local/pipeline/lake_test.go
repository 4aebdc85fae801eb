package pipeline_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/local/pipeline"
)

// files returns the files under root, relative and slash-separated.
func files(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(out)
	return out
}

func write(t *testing.T, root, rel string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// deliver writes objects through the sink the pipeline gives its Firehose
// endpoint, as a run would.
func deliver(t *testing.T, root string, keys ...string) {
	t.Helper()
	sink, err := pipeline.OpenLakeSink(root, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := sink.Deliver(context.Background(), firehoselocal.Object{Key: k, Body: []byte("data")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestCleanLakeRemovesOnlyWhatThePipelineWrote: the objects a run wrote
// are removed, with their empty folders; everything else stays, and a lake
// holding event objects no run wrote is refused with nothing removed.
func TestCleanLakeRemovesOnlyWhatThePipelineWrote(t *testing.T) {
	t.Run("a previous run", func(t *testing.T) {
		root := t.TempDir()
		deliver(t, root, "events/dt=2026-11-21/a.parquet", "events/dt=2026-11-22/b.parquet")
		deliver(t, root, "events/dt=2026-11-22/c.parquet") // a second run appends
		write(t, root, "notes.txt")
		write(t, root, "events/dt=2026-11-22/.c.parquet.123.tmp") // a write cut short
		if err := pipeline.CleanLake(root); err != nil {
			t.Fatal(err)
		}
		if got := files(t, root); !slices.Equal(got, []string{"notes.txt"}) {
			t.Errorf("left %v, want notes.txt only", got)
		}
		if _, err := os.Stat(filepath.Join(root, "events")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the emptied events/ stays: %v", err)
		}
	})
	t.Run("foreign objects", func(t *testing.T) {
		root := t.TempDir()
		deliver(t, root, "events/dt=2026-11-22/a.gz")
		write(t, root, "events/dt=2026-11-22/theirs.gz")
		err := pipeline.CleanLake(root)
		if !errors.Is(err, pipeline.ErrForeignObjects) || !strings.Contains(err.Error(), "theirs.gz") {
			t.Errorf("CleanLake = %v, want ErrForeignObjects naming theirs.gz", err)
		}
		if got := files(t, root); len(got) != 3 {
			t.Errorf("files %v: CleanLake removed something", got)
		}
	})
	t.Run("no manifest", func(t *testing.T) {
		root := t.TempDir()
		write(t, root, "events/dt=2026-11-22/old.gz")
		if err := pipeline.CleanLake(root); !errors.Is(err, pipeline.ErrForeignObjects) {
			t.Errorf("CleanLake = %v, want ErrForeignObjects", err)
		}
		if got := files(t, root); len(got) != 1 {
			t.Errorf("files %v", got)
		}
	})
	t.Run("tampered manifest", func(t *testing.T) {
		root := t.TempDir()
		outside := filepath.Join(t.TempDir(), "precious")
		write(t, filepath.Dir(outside), "precious")
		rel, _ := filepath.Rel(root, outside)
		if err := os.WriteFile(filepath.Join(root, pipeline.ManifestName), []byte(`"`+filepath.ToSlash(rel)+`"`+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := pipeline.CleanLake(root); err == nil || !strings.Contains(err.Error(), "outside events/") {
			t.Errorf("CleanLake = %v, want an error about a key outside events/", err)
		}
		if _, err := os.Stat(outside); err != nil {
			t.Errorf("the file outside the lake is gone: %v", err)
		}
	})
	t.Run("new or missing folder", func(t *testing.T) {
		if err := pipeline.CleanLake(filepath.Join(t.TempDir(), "new")); err != nil {
			t.Errorf("CleanLake of a folder to create: %v", err)
		}
	})
}

// TestProgressFollowsThePipelinesOrder: counters read a moment apart from
// the writer and the stream never show more events relayed than in
// DynamoDB, nor more in DynamoDB than accepted.
func TestProgressFollowsThePipelinesOrder(t *testing.T) {
	for _, tt := range []struct{ in, want pipeline.Progress }{
		{pipeline.Progress{Accepted: 100, Written: 40, Relayed: 55, InLake: 20}, pipeline.Progress{Accepted: 100, Written: 55, Relayed: 55, InLake: 20}},
		{pipeline.Progress{Accepted: 50, Written: 50, Relayed: 60}, pipeline.Progress{Accepted: 60, Written: 60, Relayed: 60}},
		{pipeline.Progress{Accepted: 10, Written: 8, Failed: 2, Relayed: 8}, pipeline.Progress{Accepted: 10, Written: 8, Failed: 2, Relayed: 8}},
		{pipeline.Progress{Accepted: 5, Written: 8, Failed: 2}, pipeline.Progress{Accepted: 10, Written: 8, Failed: 2}},
	} {
		if got := pipeline.Ordered(tt.in); got != tt.want {
			t.Errorf("ordered(%+v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}
