package streamsource

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestCheckpointers(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cp.json")
	file, err := OpenFileCheckpoints(path)
	if err != nil {
		t.Fatal(err)
	}
	impls := map[string]Checkpointer{"memory": &MemoryCheckpoints{}, "file": file}
	for name, c := range impls {
		t.Run(name, func(t *testing.T) {
			if _, ok, err := c.Checkpoint(ctx, "s", "a"); ok || err != nil {
				t.Fatalf("empty store: ok %v err %v", ok, err)
			}
			var wg sync.WaitGroup
			for _, shard := range []string{"a", "b", "c"} {
				wg.Go(func() {
					if err := c.SetCheckpoint(ctx, "s", shard, Checkpoint{SequenceNumber: "1" + shard}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if err := c.SetCheckpoint(ctx, "s", "a", Checkpoint{SequenceNumber: "9", ShardEnded: true}); err != nil {
				t.Fatal(err)
			}
			cp, ok, err := c.Checkpoint(ctx, "s", "a")
			if !ok || err != nil || cp != (Checkpoint{SequenceNumber: "9", ShardEnded: true}) {
				t.Errorf("checkpoint = %+v %v %v", cp, ok, err)
			}
			if cp, _, _ := c.Checkpoint(ctx, "s", "b"); cp.SequenceNumber != "1b" {
				t.Errorf("shard b = %+v", cp)
			}
		})
	}
	reopened, err := OpenFileCheckpoints(path)
	if err != nil {
		t.Fatal(err)
	}
	if cp, ok, _ := reopened.Checkpoint(ctx, "s", "c"); !ok || cp.SequenceNumber != "1c" {
		t.Errorf("after reopening: %+v %v", cp, ok)
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileCheckpoints(path); err == nil {
		t.Error("a corrupt checkpoint file was accepted: the stream would be delivered again from the start")
	}
}
