package firehoselocal

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Object is one delivered object, as Firehose would write it to S3.
type Object struct {
	// Stream is the delivery stream the records came through.
	Stream string
	// Key is the S3-style key: the evaluated prefix, then
	// <stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid> and the encoder's
	// extension, for example
	// events/dt=2026-11-22/events-1-2026-11-22-10-04-05-<uuid>.gz.
	Key string
	// Time is the arrival time the prefix and name were evaluated with: that
	// of the oldest record in the object (with ArrivalFromEventAt, the
	// earliest event_at of its lines).
	Time time.Time
	// Data is the concatenated data of the object's records, before encoding
	// (NDJSON for eventlake).
	Data []byte
	// Body is Data encoded by the server's Encoder: the object's bytes.
	Body []byte
	// Records is the number of Firehose records in the object, or, with
	// ArrivalFromEventAt (which files lines, not records), zero.
	Records int
	// Lines is the number of newline-terminated lines in Data (a last line
	// without a newline counts too).
	Lines int
}

// KeyChecker is implemented by a Sink that cannot store every key S3 can
// (FolderSink). The server asks it about a stream's prefix when the stream
// is created (and about Options.Prefix in New), and refuses a prefix whose
// keys the sink would refuse, with InvalidArgumentException, rather than
// accept records it can never deliver.
type KeyChecker interface {
	CheckKey(key string) error
}

// Sink stores delivered objects. The server calls Deliver from several
// goroutines at once; an implementation must be safe for concurrent use.
// When Deliver fails the server keeps the object and tries again on its next
// flush, so an implementation must accept the same key twice (overwrite).
type Sink interface {
	Deliver(ctx context.Context, obj Object) error
}

// Encoder turns the data of one object into the object's bytes. An encoder
// for another format (Parquet) implements this interface and is set in
// Options.Encoder. Implementations must be safe for concurrent use.
type Encoder interface {
	// Extension is the object name's suffix, including the dot (".gz"), or
	// empty.
	Extension() string
	// Encode writes the object's bytes for data, the concatenated payloads
	// of the object's records, to w.
	Encode(w io.Writer, data []byte) error
}

// GzipEncoder writes data gzip-compressed, as Firehose's GZIP compression
// format does. Objects get the extension ".gz".
type GzipEncoder struct {
	// Level is the compression level; zero means gzip.DefaultCompression.
	Level int
}

// Extension returns ".gz".
func (GzipEncoder) Extension() string { return ".gz" }

// Encode compresses data to w.
func (e GzipEncoder) Encode(w io.Writer, data []byte) error {
	level := e.Level
	if level == 0 {
		level = gzip.DefaultCompression
	}
	zw, err := gzip.NewWriterLevel(w, level)
	if err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	if _, err := zw.Write(data); err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	return nil
}

// Uncompressed writes data as it is, as Firehose's UNCOMPRESSED format does;
// objects have no extension.
type Uncompressed struct{}

// Extension returns "".
func (Uncompressed) Extension() string { return "" }

// Encode copies data to w.
func (Uncompressed) Encode(w io.Writer, data []byte) error {
	_, err := w.Write(data)
	return err
}

// MemorySink keeps delivered objects in memory, for tests. It is safe for
// concurrent use.
type MemorySink struct {
	mu      sync.Mutex
	objects []Object
}

// NewMemorySink returns an empty MemorySink.
func NewMemorySink() *MemorySink { return &MemorySink{} }

// Deliver stores obj, replacing an object with the same key.
func (m *MemorySink) Deliver(_ context.Context, obj Object) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range m.objects {
		if m.objects[i].Key == obj.Key {
			m.objects[i] = obj
			return nil
		}
	}
	m.objects = append(m.objects, obj)
	return nil
}

// Objects returns the delivered objects in delivery order.
func (m *MemorySink) Objects() []Object {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Object(nil), m.objects...)
}

// Lines returns every delivered line, without its newline, in delivery
// order (within an object, in the order the records arrived).
func (m *MemorySink) Lines() [][]byte {
	var lines [][]byte
	for _, o := range m.Objects() {
		lines = append(lines, SplitLines(o.Data)...)
	}
	return lines
}

// Reset forgets every delivered object.
func (m *MemorySink) Reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects = nil
}

// SplitLines splits NDJSON data into lines without their newlines. A last
// line without a newline is returned too; empty lines are not.
func SplitLines(data []byte) [][]byte {
	var lines [][]byte
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			lines = append(lines, data)
			break
		}
		if i > 0 {
			lines = append(lines, data[:i])
		}
		data = data[i+1:]
	}
	return lines
}

// countLines counts the lines SplitLines would return.
func countLines(data []byte) int {
	n := 0
	start := 0
	for {
		i := bytes.IndexByte(data[start:], '\n')
		if i < 0 {
			if start < len(data) {
				n++
			}
			return n
		}
		if i > 0 {
			n++
		}
		start += i + 1
	}
}

// FolderSink writes each object's Body to Root/Key, so Root looks like the
// S3 bucket (Root/events/dt=2026-11-22/...gz). A file appears atomically: it
// is written under a hidden temporary name in the same folder and renamed,
// so a reader globbing *.gz never sees a partial object. It is safe for
// concurrent use.
type FolderSink struct {
	// Root is the folder standing in for the bucket. It is created if needed.
	Root string
}

// CheckKey reports whether Deliver can write key under Root: a relative,
// slash-separated path that path cleaning leaves unchanged (no "." or ".."
// element, no empty element, no trailing slash), naming a file inside Root,
// without backslashes (which Windows reads as separators). Dots inside a
// name ("a..b") are fine.
func (FolderSink) CheckKey(key string) error {
	if key == "" || key == "." || strings.ContainsRune(key, '\\') || path.Clean(key) != key || !filepath.IsLocal(filepath.FromSlash(key)) {
		return fmt.Errorf("folder sink: unsafe key %q: want a relative path that cleaning leaves unchanged, inside the folder", key)
	}
	return nil
}

// Deliver writes obj.Body to Root/obj.Key.
func (f FolderSink) Deliver(ctx context.Context, obj Object) error {
	if f.Root == "" {
		return errors.New("folder sink: empty Root")
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := f.CheckKey(obj.Key); err != nil {
		return err
	}
	dst := filepath.Join(f.Root, filepath.FromSlash(obj.Key))
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("folder sink: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return fmt.Errorf("folder sink: %w", err)
	}
	_, werr := tmp.Write(obj.Body)
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("folder sink: write %s: %w", obj.Key, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("folder sink: %w", err)
	}
	return nil
}
