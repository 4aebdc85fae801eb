package local_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
)

// testLake is the known dataset of the query tests, written once per test
// binary in three lakes: gzip NDJSON only, Parquet only (each NDJSON object
// converted with ParquetWriter), and mixed (days before the midpoint as
// Parquet, the rest as NDJSON, as after switching the Firehose format).
type testLake struct {
	ds                   *lakegen.Dataset
	json, parquet, mixed string
	objects              map[string][]string // NDJSON objects per dt
}

var (
	lakeOnce sync.Once
	lake     *testLake
	lakeErr  error
	lakeDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if lakeDir != "" {
		os.RemoveAll(lakeDir)
	}
	os.Exit(code)
}

// testLakeConfig is the history of the query tests: the demo's journeys
// with 40 accounts (every role of fakedata's identity edge cases, about a
// dozen signups) over 90 days ending today (UTC), so that logins_per_day,
// which reads current_date, sees it.
func testLakeConfig() lakegen.Config {
	return lakegen.Config{End: time.Now().UTC(), Users: 40, Events: 8000}
}

// getLake builds the lakes on first use.
func getLake(t testing.TB) *testLake {
	t.Helper()
	lakeOnce.Do(func() {
		lakeDir, lakeErr = os.MkdirTemp("", "eventlake-athena-test-")
		if lakeErr != nil {
			return
		}
		lake, lakeErr = buildLake(lakeDir, testLakeConfig())
	})
	if lakeErr != nil {
		t.Fatalf("build test lake: %v", lakeErr)
	}
	return lake
}

func buildLake(dir string, cfg lakegen.Config) (*testLake, error) {
	ds := lakegen.Generate(cfg)
	l := &testLake{
		ds:      ds,
		json:    filepath.Join(dir, "json"),
		parquet: filepath.Join(dir, "parquet"),
		mixed:   filepath.Join(dir, "mixed"),
		objects: map[string][]string{},
	}
	paths, err := ds.WriteNDJSON(l.json, lakegen.Layout{PerObject: 80})
	if err != nil {
		return nil, err
	}
	w, err := local.NewParquetWriter()
	if err != nil {
		return nil, err
	}
	defer w.Close()
	mid := ds.Events[len(ds.Events)/2].Dt
	for _, p := range paths {
		rel, err := filepath.Rel(l.json, p)
		if err != nil {
			return nil, err
		}
		dt := strings.TrimPrefix(filepath.Base(filepath.Dir(p)), "dt=")
		l.objects[dt] = append(l.objects[dt], p)
		pq := filepath.Join(l.parquet, strings.TrimSuffix(rel, ".gz")+".parquet")
		if err := os.MkdirAll(filepath.Dir(pq), 0o755); err != nil {
			return nil, err
		}
		if err := w.Convert(context.Background(), pq, p); err != nil {
			return nil, err
		}
		// The mixed lake: Parquet before the midpoint, NDJSON after.
		src, dst := p, filepath.Join(l.mixed, rel)
		if dt < mid {
			src, dst = pq, filepath.Join(l.mixed, strings.TrimSuffix(rel, ".gz")+".parquet")
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		if err := os.Link(src, dst); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// lakes lists the three lakes with the format to open each with.
func (l *testLake) lakes() []struct {
	name   string
	root   string
	format athena.Format
} {
	return []struct {
		name   string
		root   string
		format athena.Format
	}{
		{"json", l.json, athena.FormatJSON},
		{"parquet", l.parquet, athena.FormatParquet},
		{"mixed", l.mixed, ""},
	}
}

func openLake(t testing.TB, root string, format athena.Format) *local.DB {
	t.Helper()
	db, err := local.Open(context.Background(), local.Config{Root: root, Format: format})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
