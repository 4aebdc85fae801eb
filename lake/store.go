package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"strings"
	"time"
)

// Object is one current object of a Store.
type Object struct {
	// Key is the object's key, "events/dt=2026-11-01/file.parquet".
	Key string `json:"key"`
	// Size is its length in bytes.
	Size int64 `json:"size"`
	// ETag identifies its content (without quotes). Two objects with equal
	// ETags in one store hold the same bytes.
	ETag string `json:"etag,omitempty"`
	// VersionID is the S3 version, empty in an unversioned store.
	VersionID string `json:"version_id,omitempty"`
	// LastModified is when it was written.
	LastModified time.Time `json:"last_modified"`
}

// Version is one version of an object, or a delete marker, in a versioned
// store.
type Version struct {
	Object
	// IsLatest is true for the current version (or the current delete
	// marker) of its key.
	IsLatest bool
	// DeleteMarker is true for a delete marker (Size 0, no content).
	DeleteMarker bool
}

// Condition makes Store.Put conditional. The zero value writes
// unconditionally.
type Condition struct {
	// IfNoneMatch writes only when no object has the key (S3's
	// If-None-Match: *).
	IfNoneMatch bool
	// IfMatch, when set, writes only when the current object has this
	// ETag.
	IfMatch string
}

// Errors a Store reports; match them with errors.Is.
var (
	// ErrNotFound: no current object has the key.
	ErrNotFound = errors.New("lake: no such object")
	// ErrPrecondition: a conditional Put found the key taken (IfNoneMatch)
	// or another ETag (IfMatch). Read again and retry.
	ErrPrecondition = errors.New("lake: precondition failed")
)

// MaxGetBytes bounds Store.Get: it reads the lake's own small documents
// (manifests, locks, audit records, the suppression list), never events.
// Store.Open reads objects of any size.
const MaxGetBytes = 64 << 20

// Store is the object storage the lake lives in: an S3 bucket (S3Store) or
// a folder laid out like one (FolderStore). It is the one object store of
// the project: the lake's maintenance (compaction, forget, expire, the
// suppression list), the relay's kept-aside records (through Writer) and
// the recovery tools (lake/recovery) all use it. Keys are slash-separated,
// relative (no leading slash, no "." or ".." segments; see CheckKey).
// Implementations are safe for concurrent use; every method honours ctx.
// The conformance suite in store_test.go runs against both.
type Store interface {
	// List returns the current objects whose keys start with prefix,
	// sorted by key. Nothing under the prefix is an empty list.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Get returns the content of a current object of at most MaxGetBytes,
	// or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, Object, error)
	// Open returns a reader of the content of a current object of any size
	// (Firehose's error output, event objects) and the object, or
	// ErrNotFound. The caller closes the reader; reading stops with ctx.
	Open(ctx context.Context, key string) (io.ReadCloser, Object, error)
	// Put writes body under key, honouring cond (ErrPrecondition when it
	// does not hold), and returns the new object.
	Put(ctx context.Context, key string, body []byte, cond Condition) (Object, error)
	// Copy copies the current object src to dst (inside the store, without
	// reading it through the caller) and returns the new object.
	Copy(ctx context.Context, src, dst string) (Object, error)
	// Delete removes the current objects of keys. In a versioned store
	// each becomes a noncurrent version behind a delete marker, so it can
	// be recovered until the bucket's lifecycle expires it. A key without
	// an object is not an error.
	Delete(ctx context.Context, keys []string) error
	// Versions lists every version and delete marker under prefix, sorted
	// by key, newest first within a key. An unversioned store lists its
	// current objects, each IsLatest.
	Versions(ctx context.Context, prefix string) ([]Version, error)
	// DeleteVersions removes versions for good (no delete marker, no
	// recovery). In an unversioned store it deletes the objects.
	DeleteVersions(ctx context.Context, versions []Version) error
	// Versioned reports whether Delete keeps what it deletes as
	// noncurrent versions.
	Versioned() bool
	// URI is how a query engine names the object: "s3://bucket/key" for
	// S3 (Athena's "$path"), the absolute file path for a folder (DuckDB's
	// filename).
	URI(key string) string
}

// CheckKey reports whether key is a valid store key: not empty, relative,
// slash-separated, without empty, "." or ".." segments, backslashes or
// control characters, at most 1,024 bytes (S3's limit). A backslash is
// refused because a folder store on Windows would read it as a separator.
func CheckKey(key string) error {
	switch {
	case key == "":
		return errors.New("lake: empty key")
	case len(key) > 1024:
		return fmt.Errorf("lake: key of %d bytes (at most 1024)", len(key))
	case strings.HasPrefix(key, "/"), strings.HasSuffix(key, "/"):
		return fmt.Errorf("lake: key %q starts or ends with /", key)
	case path.Clean(key) != key:
		return fmt.Errorf("lake: key %q is not clean (empty, . or .. segments)", key)
	case key == ".." || strings.HasPrefix(key, "../"):
		return fmt.Errorf("lake: key %q leaves the store", key)
	case strings.ContainsRune(key, '\\'):
		return fmt.Errorf("lake: key %q contains a backslash", key)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("lake: key %q contains a control character", key)
		}
	}
	return nil
}

// Writer writes whole objects to a Store, each Put replacing what its key
// held: the narrow interface of code that only adds objects, such as the
// relay's keep-aside store (relay.KeepAsideStore, where a retried
// invocation writes the same key again):
//
//	relayCfg.KeepAside = lake.Writer{Store: store, Suppression: cache}
//
// It is safe for concurrent use when its Store is.
type Writer struct {
	Store Store
	// Suppression, when set, keeps what belongs to forgotten actors out of
	// what Put writes: body, NDJSON of the lake's error output (kept-aside
	// records, Firehose error records) or of events, is written without
	// their records (ScrubLines), and not at all when none is left; each
	// Put that removes some logs LogMessageSuppressed with their number
	// (no IDs). The list is refreshed when stale; while it was never
	// loaded, Put fails with ErrSuppressionNotLoaded (the relay retries
	// the batch) and writes nothing.
	Suppression *SuppressionCache
}

// Put writes body under key unconditionally (see Writer.Suppression).
func (w Writer) Put(ctx context.Context, key string, body []byte) error {
	if w.Store == nil {
		return errors.New("lake: Writer without a Store")
	}
	if c := w.Suppression; c != nil {
		_ = c.MaybeRefresh(ctx) // logged; the last list stays in use
		if !c.Loaded() {
			return ErrSuppressionNotLoaded
		}
		var n int
		if body, n = ScrubLines(body, c.List()); n > 0 {
			c.cfg.Logger.LogAttrs(ctx, slog.LevelInfo, LogMessageSuppressed,
				slog.Int(LogFieldSuppressedEvents, n), slog.String("source", "kept-aside"))
			if len(body) == 0 {
				return CheckKey(key)
			}
		}
	}
	_, err := w.Store.Put(ctx, key, body, Condition{})
	return err
}

// checkPrefix accepts "" or a prefix that would be a valid key once an
// object name follows it ("events/", "events/dt=2026-").
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	return CheckKey(strings.TrimSuffix(prefix, "/") + "/x")
}

// sumSize adds up the sizes of objects.
func sumSize(objs []Object) int64 {
	var n int64
	for _, o := range objs {
		n += o.Size
	}
	return n
}

// keysOf returns the keys of objs.
func keysOf(objs []Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.Key
	}
	return out
}
