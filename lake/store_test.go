package lake_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/laketest"
)

// stores returns one fresh store of each implementation.
func stores(t *testing.T) map[string]lake.Store {
	t.Helper()
	folder, err := lake.NewFolderStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return map[string]lake.Store{
		"s3":     laketest.NewS3(t, "lake-conformance").Store,
		"folder": folder,
	}
}

// TestStoreConformance runs one contract against every Store.
func TestStoreConformance(t *testing.T) {
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			mustPut := func(key, body string, cond lake.Condition) lake.Object {
				t.Helper()
				o, err := st.Put(ctx, key, []byte(body), cond)
				if err != nil {
					t.Fatalf("put %s: %v", key, err)
				}
				if o.Key != key || o.Size != int64(len(body)) || o.ETag == "" {
					t.Fatalf("put %s returned %+v", key, o)
				}
				return o
			}
			keys := func(prefix string) string {
				t.Helper()
				objs, err := st.List(ctx, prefix)
				if err != nil {
					t.Fatalf("list %q: %v", prefix, err)
				}
				var ks []string
				for _, o := range objs {
					ks = append(ks, fmt.Sprintf("%s:%d", o.Key, o.Size))
				}
				return strings.Join(ks, " ")
			}

			t.Run("put get list", func(t *testing.T) {
				mustPut("events/dt=2026-11-02/b.parquet", "bb", lake.Condition{})
				mustPut("events/dt=2026-11-01/a.parquet", "a", lake.Condition{})
				mustPut("events/dt=2026-11-01/c.gz", "ccc", lake.Condition{})
				mustPut("maintenance/x.json", "{}", lake.Condition{})
				if got, want := keys("events/"), "events/dt=2026-11-01/a.parquet:1 events/dt=2026-11-01/c.gz:3 events/dt=2026-11-02/b.parquet:2"; got != want {
					t.Errorf("list events/ = %s, want %s", got, want)
				}
				if got, want := keys("events/dt=2026-11-01/"), "events/dt=2026-11-01/a.parquet:1 events/dt=2026-11-01/c.gz:3"; got != want {
					t.Errorf("list one day = %s, want %s", got, want)
				}
				if got, want := keys("events/dt=2026-11-0"), "events/dt=2026-11-01/a.parquet:1 events/dt=2026-11-01/c.gz:3 events/dt=2026-11-02/b.parquet:2"; got != want {
					t.Errorf("list a partial name = %s, want %s", got, want)
				}
				if got := keys("nothing/"); got != "" {
					t.Errorf("list of an empty prefix = %q", got)
				}
				body, o, err := st.Get(ctx, "events/dt=2026-11-01/c.gz")
				if err != nil || string(body) != "ccc" || o.Size != 3 {
					t.Errorf("get = %q %+v %v", body, o, err)
				}
				if _, _, err := st.Get(ctx, "events/dt=2026-11-01/none"); !errors.Is(err, lake.ErrNotFound) {
					t.Errorf("get of a missing key: %v, want ErrNotFound", err)
				}
			})

			t.Run("conditional put", func(t *testing.T) {
				first := mustPut("maintenance/locks/dt=2026-11-01", "one", lake.Condition{IfNoneMatch: true})
				if _, err := st.Put(ctx, "maintenance/locks/dt=2026-11-01", []byte("two"), lake.Condition{IfNoneMatch: true}); !errors.Is(err, lake.ErrPrecondition) {
					t.Errorf("IfNoneMatch on a taken key: %v, want ErrPrecondition", err)
				}
				if _, err := st.Put(ctx, "maintenance/locks/dt=2026-11-01", []byte("two"), lake.Condition{IfMatch: "not-the-etag"}); !errors.Is(err, lake.ErrPrecondition) {
					t.Errorf("IfMatch with another ETag: %v, want ErrPrecondition", err)
				}
				second := mustPut("maintenance/locks/dt=2026-11-01", "second", lake.Condition{IfMatch: first.ETag})
				if second.ETag == first.ETag {
					t.Errorf("the ETag did not change: %s", second.ETag)
				}
				if _, err := st.Put(ctx, "maintenance/locks/dt=2026-11-01", []byte("third"), lake.Condition{IfMatch: first.ETag}); !errors.Is(err, lake.ErrPrecondition) {
					t.Errorf("IfMatch with a stale ETag: %v, want ErrPrecondition", err)
				}
				if _, err := st.Put(ctx, "maintenance/locks/none", []byte("x"), lake.Condition{IfMatch: first.ETag}); !errors.Is(err, lake.ErrPrecondition) {
					t.Errorf("IfMatch on a missing key: %v, want ErrPrecondition", err)
				}
				body, _, _ := st.Get(ctx, "maintenance/locks/dt=2026-11-01")
				if string(body) != "second" {
					t.Errorf("content %q, want second", body)
				}
			})

			t.Run("one of many concurrent creates wins", func(t *testing.T) {
				var wg sync.WaitGroup
				var mu sync.Mutex
				won, lost := 0, 0
				for i := range 8 {
					wg.Go(func() {
						_, err := st.Put(ctx, "maintenance/locks/race", []byte(fmt.Sprint(i)), lake.Condition{IfNoneMatch: true})
						mu.Lock()
						defer mu.Unlock()
						switch {
						case err == nil:
							won++
						case errors.Is(err, lake.ErrPrecondition):
							lost++
						default:
							t.Error(err)
						}
					})
				}
				wg.Wait()
				if won != 1 || lost != 7 {
					t.Errorf("%d won, %d lost; want 1 and 7", won, lost)
				}
			})

			t.Run("copy and delete", func(t *testing.T) {
				mustPut("maintenance/staging/r1/data_0.parquet", "compacted", lake.Condition{})
				o, err := st.Copy(ctx, "maintenance/staging/r1/data_0.parquet", "events/dt=2026-11-03/compacted-r1-0.parquet")
				if err != nil || o.Key != "events/dt=2026-11-03/compacted-r1-0.parquet" {
					t.Fatalf("copy: %+v %v", o, err)
				}
				body, _, err := st.Get(ctx, "events/dt=2026-11-03/compacted-r1-0.parquet")
				if err != nil || string(body) != "compacted" {
					t.Errorf("copied content %q %v", body, err)
				}
				if _, err := st.Copy(ctx, "maintenance/staging/none", "events/x"); !errors.Is(err, lake.ErrNotFound) {
					t.Errorf("copy of a missing key: %v, want ErrNotFound", err)
				}
				if err := st.Delete(ctx, []string{"maintenance/staging/r1/data_0.parquet", "maintenance/staging/never-there"}); err != nil {
					t.Fatal(err)
				}
				if got := keys("maintenance/staging/"); got != "" {
					t.Errorf("after delete: %q", got)
				}
				// The copy is an object of its own.
				if got := keys("events/dt=2026-11-03/"); got != "events/dt=2026-11-03/compacted-r1-0.parquet:9" {
					t.Errorf("copy after its source was deleted: %q", got)
				}
			})

			t.Run("versions", func(t *testing.T) {
				key := "events/dt=2026-10-01/v.parquet"
				mustPut(key, "v1", lake.Condition{})
				mustPut(key, "v2-longer", lake.Condition{})
				if err := st.Delete(ctx, []string{key}); err != nil {
					t.Fatal(err)
				}
				vs, err := st.Versions(ctx, "events/dt=2026-10-01/")
				if err != nil {
					t.Fatal(err)
				}
				if st.Versioned() {
					// The current delete marker first, then the two
					// noncurrent versions (in one millisecond their order
					// is the server's).
					if len(vs) != 3 || !vs[0].DeleteMarker || !vs[0].IsLatest || vs[1].Size+vs[2].Size != 11 || vs[1].IsLatest || vs[2].IsLatest {
						t.Fatalf("versions after put, put, delete: %+v", vs)
					}
					for _, v := range vs {
						if v.VersionID == "" {
							t.Errorf("version without an ID: %+v", v)
						}
					}
				} else if len(vs) != 0 {
					t.Fatalf("an unversioned store keeps nothing after delete: %+v", vs)
				}
				if got := keys("events/dt=2026-10-01/"); got != "" {
					t.Errorf("deleted key still listed: %q", got)
				}
				if err := st.DeleteVersions(ctx, vs); err != nil {
					t.Fatal(err)
				}
				if vs, err := st.Versions(ctx, "events/dt=2026-10-01/"); err != nil || len(vs) != 0 {
					t.Errorf("versions after DeleteVersions: %+v %v", vs, err)
				}
				// Current versions are listed too.
				mustPut("events/dt=2026-10-02/w.parquet", "w", lake.Condition{})
				if vs, err := st.Versions(ctx, "events/dt=2026-10-02/"); err != nil || len(vs) != 1 || !vs[0].IsLatest || vs[0].DeleteMarker {
					t.Errorf("versions of a current object: %+v %v", vs, err)
				}
			})

			t.Run("open", func(t *testing.T) {
				// Kept-aside records and Firehose's error output, read as a
				// stream by the recovery tools; an object replaced by a second
				// Put reads as the second.
				for _, k := range []string{"errors/relay/dt=2026-11-22/b.ndjson", "errors/relay/dt=2026-11-21/a.ndjson", "errors/relayed.txt"} {
					mustPut(k, "body of "+k, lake.Condition{})
				}
				mustPut("errors/relay/dt=2026-11-22/b.ndjson", "second", lake.Condition{})
				if got, want := keys("errors/relay/"), "errors/relay/dt=2026-11-21/a.ndjson:43 errors/relay/dt=2026-11-22/b.ndjson:6"; got != want {
					t.Errorf("list errors/relay/ = %s, want %s", got, want)
				}
				if got := keys("errors/rel"); strings.Count(got, " ")+1 != 3 {
					t.Errorf("a prefix inside a name lists %q, want 3 objects", got)
				}
				rc, o, err := st.Open(ctx, "errors/relay/dt=2026-11-22/b.ndjson")
				if err != nil {
					t.Fatal(err)
				}
				body, err := io.ReadAll(rc)
				rc.Close()
				if err != nil || string(body) != "second" || o.Key != "errors/relay/dt=2026-11-22/b.ndjson" || o.Size != 6 || o.ETag == "" {
					t.Errorf("open read %q %+v %v", body, o, err)
				}
				if _, _, err := st.Open(ctx, "errors/none"); !errors.Is(err, lake.ErrNotFound) {
					t.Errorf("open of a missing key: %v, want ErrNotFound", err)
				}
				// Larger than Get reads: Open streams it.
				big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
				if _, err := st.Put(ctx, "errors/big.gz", big, lake.Condition{}); err != nil {
					t.Fatal(err)
				}
				rc, _, err = st.Open(ctx, "errors/big.gz")
				if err != nil {
					t.Fatal(err)
				}
				n, err := io.Copy(io.Discard, rc)
				rc.Close()
				if err != nil || n != int64(len(big)) {
					t.Errorf("open of 1 MiB read %d bytes, %v", n, err)
				}
			})

			t.Run("writer", func(t *testing.T) {
				w := lake.Writer{Store: st}
				for _, body := range []string{"first", "again"} {
					if err := w.Put(ctx, "errors/relay/dt=2026-11-23/w.ndjson", []byte(body)); err != nil {
						t.Fatal(err)
					}
				}
				if body, _, err := st.Get(ctx, "errors/relay/dt=2026-11-23/w.ndjson"); err != nil || string(body) != "again" {
					t.Errorf("after two writes: %q %v", body, err)
				}
				if err := w.Put(ctx, "../x", nil); err == nil {
					t.Error("a bad key written through Writer")
				}
			})

			t.Run("bad keys", func(t *testing.T) {
				for _, k := range []string{"", "/abs", "a//b", "a/../b", "../x", "a/./b", "dir/", "a\nb", "a\\b"} {
					if _, err := st.Put(ctx, k, nil, lake.Condition{}); err == nil {
						t.Errorf("put %q accepted", k)
					}
					if _, _, err := st.Get(ctx, k); err == nil || errors.Is(err, lake.ErrNotFound) {
						t.Errorf("get %q: %v, want a key error", k, err)
					}
					if _, _, err := st.Open(ctx, k); err == nil || errors.Is(err, lake.ErrNotFound) {
						t.Errorf("open %q: %v, want a key error", k, err)
					}
				}
				if _, err := st.List(ctx, "../"); err == nil {
					t.Error("list ../ accepted")
				}
			})

			t.Run("uri", func(t *testing.T) {
				u := st.URI("events/dt=2026-11-01/a.parquet")
				switch s := st.(type) {
				case *lake.S3Store:
					if u != "s3://lake-conformance/events/dt=2026-11-01/a.parquet" {
						t.Errorf("uri %s", u)
					}
				case *lake.FolderStore:
					if u != filepath.ToSlash(filepath.Join(s.Root(), "events", "dt=2026-11-01", "a.parquet")) {
						t.Errorf("uri %s", u)
					}
				}
			})
		})
	}
}

// TestFolderStoreFiles holds the folder store to what the local stack
// relies on: writes are atomic (a temporary file beside the key, renamed
// into place), and hidden files and folders (a write cut short, the local
// stack's own files) are not objects.
func TestFolderStoreFiles(t *testing.T) {
	root := t.TempDir()
	st, err := lake.NewFolderStore(root)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := st.Put(ctx, "errors/relay/dt=2026-11-22/a.ndjson", []byte("a"), lake.Condition{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"errors/relay/dt=2026-11-22/.b.ndjson.tmp-123", // a Put cut short
		"errors/relay/dt=2026-11-22/.c.ndjson.77.tmp",  // firehoselocal's FolderSink, cut short
		".eventlake-objects",
		".eventlake-onfailure/1.json",
	} {
		full := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, prefix := range []string{"", "errors/", "errors/relay/dt=2026-11-22/"} {
		objs, err := st.List(ctx, prefix)
		if err != nil {
			t.Fatal(err)
		}
		if len(objs) != 1 || objs[0].Key != "errors/relay/dt=2026-11-22/a.ndjson" {
			t.Errorf("list %q = %+v, want the one object", prefix, objs)
		}
	}
	// No temporary file is left beside a finished write.
	ents, err := os.ReadDir(filepath.Join(root, "errors", "relay", "dt=2026-11-22"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ents) != 3 {
		t.Errorf("the partition folder holds %d files, want a.ndjson and the two planted ones", len(ents))
	}
}
