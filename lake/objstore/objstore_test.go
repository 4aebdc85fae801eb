package objstore_test

import (
	"context"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/eventlake/eventlake/lake/objstore"
	"github.com/eventlake/eventlake/lake/objstore/s3test"
)

// TestConformance runs one contract against both stores.
func TestConformance(t *testing.T) {
	for name, mk := range map[string]func(t *testing.T) objstore.Store{
		"folder": func(t *testing.T) objstore.Store { return objstore.Folder{Root: t.TempDir()} },
		"s3":     func(t *testing.T) objstore.Store { return s3test.New(t, "lake").Store },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			st := mk(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if got, err := st.List(ctx, "errors/"); err != nil || len(got) != 0 {
				t.Fatalf("empty store lists %v, %v", got, err)
			}
			for _, k := range []string{"errors/relay/dt=2026-11-22/b.ndjson", "errors/relay/dt=2026-11-21/a.ndjson", "events/dt=2026-11-22/x.gz", "errors/relayed.txt"} {
				if err := st.Put(ctx, k, []byte("body of "+k)); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Put(ctx, "errors/relay/dt=2026-11-22/b.ndjson", []byte("second")); err != nil {
				t.Fatal(err)
			}
			got, err := st.List(ctx, "errors/relay/")
			if err != nil {
				t.Fatal(err)
			}
			want := []objstore.Object{{Key: "errors/relay/dt=2026-11-21/a.ndjson", Size: 43}, {Key: "errors/relay/dt=2026-11-22/b.ndjson", Size: 6}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("List = %+v, want %+v", got, want)
			}
			if got, _ := st.List(ctx, "errors/rel"); len(got) != 3 {
				t.Errorf("a prefix inside a name lists %d objects, want 3", len(got))
			}
			rc, err := st.Open(ctx, "errors/relay/dt=2026-11-22/b.ndjson")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(rc)
			rc.Close()
			if string(body) != "second" {
				t.Errorf("Open read %q", body)
			}
			if _, err := st.Open(ctx, "errors/none"); !errors.Is(err, objstore.ErrNotFound) {
				t.Errorf("Open of a missing key: %v, want ErrNotFound", err)
			}
			for _, bad := range []string{"", "/abs", "a//b", "../x", "a/./b", "a\\b", "a/"} {
				if err := st.Put(ctx, bad, nil); err == nil {
					t.Errorf("Put(%q) succeeded", bad)
				}
			}
		})
	}
}
