package streamsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// Checkpoint is how far a shard has been processed.
type Checkpoint struct {
	// SequenceNumber is the last record processed: delivered, filtered out,
	// or handed to OnFailure. Reading resumes after it.
	SequenceNumber string `json:"sequenceNumber,omitempty"`
	// ShardEnded reports that the shard is closed and every record of it
	// was processed; its children may be read.
	ShardEnded bool `json:"shardEnded,omitempty"`
}

// Checkpointer stores checkpoints per stream and shard. Implementations must
// be safe for concurrent use: shards are processed in parallel.
type Checkpointer interface {
	// Checkpoint returns the shard's checkpoint; ok is false when there is none.
	Checkpoint(ctx context.Context, streamARN, shardID string) (cp Checkpoint, ok bool, err error)
	// SetCheckpoint stores the shard's checkpoint.
	SetCheckpoint(ctx context.Context, streamARN, shardID string, cp Checkpoint) error
}

type shardKey struct{ stream, shard string }

// MemoryCheckpoints keeps checkpoints in memory: a Source restarted in the
// same process resumes. The zero value is ready to use; it is safe for
// concurrent use.
type MemoryCheckpoints struct {
	mu sync.Mutex
	m  map[shardKey]Checkpoint
}

// Checkpoint implements Checkpointer.
func (c *MemoryCheckpoints) Checkpoint(_ context.Context, streamARN, shardID string) (Checkpoint, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp, ok := c.m[shardKey{streamARN, shardID}]
	return cp, ok, nil
}

// SetCheckpoint implements Checkpointer.
func (c *MemoryCheckpoints) SetCheckpoint(_ context.Context, streamARN, shardID string, cp Checkpoint) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[shardKey]Checkpoint)
	}
	c.m[shardKey{streamARN, shardID}] = cp
	return nil
}

// FileCheckpoints keeps checkpoints in a JSON file, rewritten atomically
// (temporary file and rename) on every change, so a Source started again in
// another process resumes. It is safe for concurrent use within one process;
// two processes must not share a file.
type FileCheckpoints struct {
	path string
	mu   sync.Mutex
	m    map[string]map[string]Checkpoint // stream ARN -> shard ID -> checkpoint
}

// OpenFileCheckpoints loads the checkpoints in path, or starts empty when the
// file does not exist. A file that exists but does not parse, or holds a
// sequence number that is not one (digits, at most 40), is an error naming
// the shard: silently starting over would deliver the whole stream again.
func OpenFileCheckpoints(path string) (*FileCheckpoints, error) {
	c := &FileCheckpoints{path: path, m: map[string]map[string]Checkpoint{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoints: %w", err)
	}
	if err := json.Unmarshal(b, &c.m); err != nil {
		return nil, fmt.Errorf("parse checkpoints %s: %w", path, err)
	}
	if c.m == nil {
		c.m = map[string]map[string]Checkpoint{}
	}
	for arn, shards := range c.m {
		for shard, cp := range shards {
			if s := cp.SequenceNumber; s != "" && (!isDigits(s) || len(s) > maxSeqDigits) {
				return nil, fmt.Errorf("parse checkpoints %s: stream %s shard %s: %q is not a sequence number (up to %d digits)", path, arn, shard, s, maxSeqDigits)
			}
		}
	}
	return c, nil
}

// maxSeqDigits is the length of DynamoDB Streams' longest sequence numbers.
const maxSeqDigits = 40

// Checkpoint implements Checkpointer.
func (c *FileCheckpoints) Checkpoint(_ context.Context, streamARN, shardID string) (Checkpoint, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cp, ok := c.m[streamARN][shardID]
	return cp, ok, nil
}

// SetCheckpoint implements Checkpointer.
func (c *FileCheckpoints) SetCheckpoint(_ context.Context, streamARN, shardID string, cp Checkpoint) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[streamARN] == nil {
		c.m[streamARN] = map[string]Checkpoint{}
	}
	c.m[streamARN][shardID] = cp
	b, err := json.MarshalIndent(c.m, "", "  ")
	if err != nil {
		return fmt.Errorf("encode checkpoints: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".checkpoints-*")
	if err != nil {
		return fmt.Errorf("write checkpoints: %w", err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write checkpoints: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write checkpoints: %w", err)
	}
	return nil
}
