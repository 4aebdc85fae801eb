package streamsource

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
	seqOf := map[string]string{"a": "11", "b": "12", "c": "13"}
	for name, c := range impls {
		t.Run(name, func(t *testing.T) {
			if _, ok, err := c.Checkpoint(ctx, "s", "a"); ok || err != nil {
				t.Fatalf("empty store: ok %v err %v", ok, err)
			}
			var wg sync.WaitGroup
			for _, shard := range []string{"a", "b", "c"} {
				wg.Go(func() {
					if err := c.SetCheckpoint(ctx, "s", shard, Checkpoint{SequenceNumber: seqOf[shard]}); err != nil {
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
			if cp, _, _ := c.Checkpoint(ctx, "s", "b"); cp.SequenceNumber != "12" {
				t.Errorf("shard b = %+v", cp)
			}
		})
	}
	reopened, err := OpenFileCheckpoints(path)
	if err != nil {
		t.Fatal(err)
	}
	if cp, ok, _ := reopened.Checkpoint(ctx, "s", "c"); !ok || cp.SequenceNumber != "13" {
		t.Errorf("after reopening: %+v %v", cp, ok)
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenFileCheckpoints(path); err == nil {
		t.Error("a corrupt checkpoint file was accepted: the stream would be delivered again from the start")
	}
}

// TestFileCheckpointsRefuseBadSequenceNumbers: a checkpoint file is outside
// input; a sequence number that is not one is refused when the file is
// opened, naming the shard, not sent to GetShardIterator later.
func TestFileCheckpointsRefuseBadSequenceNumbers(t *testing.T) {
	for _, content := range []string{
		`{"arn":{"shardId-1":{"sequenceNumber":"12a"}}}`,
		`{"arn":{"shardId-1":{"sequenceNumber":"-1"}}}`,
		`{"arn":{"shardId-1":{"sequenceNumber":"` + strings.Repeat("9", 41) + `"}}}`,
	} {
		path := filepath.Join(t.TempDir(), "cp.json")
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := OpenFileCheckpoints(path)
		if err == nil || !strings.Contains(err.Error(), "shardId-1") || !strings.Contains(err.Error(), path) {
			t.Errorf("OpenFileCheckpoints(%s) = %v, want an error naming the file and the shard", content, err)
		}
	}
}

// FuzzOpenFileCheckpoints: any file either fails to open, or opens with
// valid checkpoints that survive a rewrite: what was loaded is what is
// read back after SetCheckpoint rewrites the file.
func FuzzOpenFileCheckpoints(f *testing.F) {
	for _, s := range []string{
		`{"arn":{"shardId-1":{"sequenceNumber":"42","shardEnded":true}}}`,
		`{"arn":{"shardId-1":{"sequenceNumber":"12a"}}}`,
		`{"arn":null}`, `null`, `{}`, `[]`, `{"a":{"b":{"SEQUENCENUMBER":"7"}}}`,
	} {
		f.Add([]byte(s))
	}
	dir := f.TempDir()
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "cp.json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := OpenFileCheckpoints(path)
		if err != nil {
			return
		}
		loaded := map[string]map[string]Checkpoint{}
		for arn, shards := range c.m {
			for shard, cp := range shards {
				if cp.SequenceNumber != "" && (!isDigits(cp.SequenceNumber) || len(cp.SequenceNumber) > maxSeqDigits) {
					t.Fatalf("loaded sequence number %q", cp.SequenceNumber)
				}
				if loaded[arn] == nil {
					loaded[arn] = map[string]Checkpoint{}
				}
				loaded[arn][shard] = cp
			}
		}
		if err := c.SetCheckpoint(ctx, "fuzz-arn", "fuzz-shard", Checkpoint{SequenceNumber: "1"}); err != nil {
			t.Fatal(err)
		}
		again, err := OpenFileCheckpoints(path)
		if err != nil {
			t.Fatalf("the rewritten file does not open: %v", err)
		}
		for arn, shards := range loaded {
			for shard, cp := range shards {
				if got, ok, _ := again.Checkpoint(ctx, arn, shard); !ok || got != cp {
					t.Fatalf("%s/%s: %+v after the rewrite, %+v before", arn, shard, got, cp)
				}
			}
		}
	})
}
