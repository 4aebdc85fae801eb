package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// FolderStore is a Store on a local folder laid out like the lake bucket
// (the folder `scripts/local` and `eventlake query -local` use). It is not
// versioned: Delete removes files, and Versions lists the current ones.
//
// Writes are atomic: a Put or Copy writes a temporary file next to its key
// (named .<name>.tmp-<random>), syncs it and renames it into place, so a
// reader sees the old content or the new, never part of it, and a crash
// leaves at worst a temporary file; IfNoneMatch links it into place, which
// fails when the key exists, even across processes. IfMatch compares and
// renames under a lock held by this process only. The ETag of a file is its
// size and modification time, so it changes whenever the file is replaced.
//
// Files and folders whose name starts with a dot are not objects: List and
// Versions skip them (the temporary files of writes, those of other
// writers such as firehoselocal's FolderSink, and the local stack's own
// files in the lake folder: .eventlake-objects, .eventlake-onfailure/).
type FolderStore struct {
	root string
	mu   sync.Mutex // serializes conditional writes of this process
}

// NewFolderStore returns a Store on the folder root, which must exist.
func NewFolderStore(root string) (*FolderStore, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("lake folder %s: %w", root, err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("lake folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("lake folder %s is not a folder", root)
	}
	return &FolderStore{root: abs}, nil
}

// Root returns the folder's absolute path.
func (s *FolderStore) Root() string { return s.root }

// URI returns the absolute file path of key (DuckDB's filename).
func (s *FolderStore) URI(key string) string { return filepath.ToSlash(s.path(key)) }

// Versioned reports false.
func (s *FolderStore) Versioned() bool { return false }

func (s *FolderStore) path(key string) string {
	return filepath.Join(s.root, filepath.FromSlash(key))
}

// hidden reports whether a file or folder name is not an object's.
func hidden(name string) bool { return strings.HasPrefix(name, ".") }

func (s *FolderStore) object(key string, fi fs.FileInfo) Object {
	return Object{
		Key:          key,
		Size:         fi.Size(),
		ETag:         strconv.FormatInt(fi.Size(), 16) + "-" + strconv.FormatInt(fi.ModTime().UnixNano(), 16),
		LastModified: fi.ModTime().UTC(),
	}
}

// List implements Store.
func (s *FolderStore) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	// Walk the deepest folder the prefix names, then filter by prefix.
	dir := prefix
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		dir = prefix[:i]
	} else {
		dir = ""
	}
	start := s.path(dir)
	var out []Object
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if hidden(d.Name()) && p != start {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(s.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted while listing
			}
			return err
		}
		out = append(out, s.object(key, fi))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", filepath.Join(s.root, prefix), err)
	}
	slices.SortFunc(out, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Get implements Store.
func (s *FolderStore) Get(ctx context.Context, key string) ([]byte, Object, error) {
	if err := CheckKey(key); err != nil {
		return nil, Object{}, err
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Object{}, fmt.Errorf("get %s: %w", s.URI(key), ErrNotFound)
		}
		return nil, Object{}, fmt.Errorf("get %s: %w", s.URI(key), err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, Object{}, err
	}
	if fi.IsDir() {
		return nil, Object{}, fmt.Errorf("get %s: %w", s.URI(key), ErrNotFound)
	}
	if fi.Size() > MaxGetBytes {
		return nil, Object{}, fmt.Errorf("get %s: larger than %d bytes", s.URI(key), MaxGetBytes)
	}
	body, err := io.ReadAll(f)
	if err != nil {
		return nil, Object{}, fmt.Errorf("read %s: %w", s.URI(key), err)
	}
	return body, s.object(key, fi), nil
}

// Open implements Store: the file itself, read as it is (a Put replaces
// the file, never changes it in place, so an open reader keeps the content
// it started with).
func (s *FolderStore) Open(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := CheckKey(key); err != nil {
		return nil, Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, Object{}, err
	}
	f, err := os.Open(s.path(key))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, Object{}, fmt.Errorf("open %s: %w", s.URI(key), ErrNotFound)
		}
		return nil, Object{}, fmt.Errorf("open %s: %w", s.URI(key), err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Object{}, fmt.Errorf("open %s: %w", s.URI(key), err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, Object{}, fmt.Errorf("open %s: %w", s.URI(key), ErrNotFound)
	}
	return &ctxFile{ctxReader: ctxReader{ctx: ctx, r: f}, f: f}, s.object(key, fi), nil
}

// ctxFile is an open file whose reads stop when its context is done.
type ctxFile struct {
	ctxReader
	f *os.File
}

func (c *ctxFile) Close() error { return c.f.Close() }

// tempFile creates the temporary file for key in its folder.
func (s *FolderStore) tempFile(key string) (*os.File, error) {
	p := s.path(key)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	return os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp-*")
}

// place moves the finished temporary file tmp to key, honouring cond.
func (s *FolderStore) place(tmp, key string, cond Condition) (Object, error) {
	dst := s.path(key)
	switch {
	case cond.IfNoneMatch:
		// link fails when dst exists: atomic across processes.
		if err := os.Link(tmp, dst); err != nil {
			os.Remove(tmp)
			if errors.Is(err, fs.ErrExist) {
				return Object{}, fmt.Errorf("put %s: %w", s.URI(key), ErrPrecondition)
			}
			return Object{}, fmt.Errorf("put %s: %w", s.URI(key), err)
		}
		os.Remove(tmp)
	case cond.IfMatch != "":
		s.mu.Lock()
		defer s.mu.Unlock()
		fi, err := os.Stat(dst)
		if err != nil || s.object(key, fi).ETag != cond.IfMatch {
			os.Remove(tmp)
			return Object{}, fmt.Errorf("put %s: %w", s.URI(key), ErrPrecondition)
		}
		if err := os.Rename(tmp, dst); err != nil {
			os.Remove(tmp)
			return Object{}, fmt.Errorf("put %s: %w", s.URI(key), err)
		}
	default:
		if err := os.Rename(tmp, dst); err != nil {
			os.Remove(tmp)
			return Object{}, fmt.Errorf("put %s: %w", s.URI(key), err)
		}
	}
	fi, err := os.Stat(dst)
	if err != nil {
		return Object{}, fmt.Errorf("put %s: %w", s.URI(key), err)
	}
	return s.object(key, fi), nil
}

// Put implements Store.
func (s *FolderStore) Put(ctx context.Context, key string, body []byte, cond Condition) (Object, error) {
	if err := CheckKey(key); err != nil {
		return Object{}, err
	}
	if err := ctx.Err(); err != nil {
		return Object{}, err
	}
	f, err := s.tempFile(key)
	if err != nil {
		return Object{}, fmt.Errorf("put %s: %w", s.URI(key), err)
	}
	_, err = f.Write(body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return Object{}, fmt.Errorf("put %s: %w", s.URI(key), err)
	}
	return s.place(f.Name(), key, cond)
}

// Copy implements Store: a hard link where the file system allows it (the
// objects are never modified in place), else a byte copy.
func (s *FolderStore) Copy(ctx context.Context, src, dst string) (Object, error) {
	if err := CheckKey(src); err != nil {
		return Object{}, err
	}
	if err := CheckKey(dst); err != nil {
		return Object{}, err
	}
	in, err := os.Open(s.path(src))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return Object{}, fmt.Errorf("copy %s: %w", s.URI(src), ErrNotFound)
		}
		return Object{}, fmt.Errorf("copy %s: %w", s.URI(src), err)
	}
	defer in.Close()
	out, err := s.tempFile(dst)
	if err != nil {
		return Object{}, fmt.Errorf("copy to %s: %w", s.URI(dst), err)
	}
	tmp := out.Name()
	out.Close()
	os.Remove(tmp)
	if err := os.Link(s.path(src), tmp); err != nil {
		// Another file system, or links not supported: copy the bytes.
		out, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return Object{}, fmt.Errorf("copy to %s: %w", s.URI(dst), err)
		}
		_, err = io.Copy(out, &ctxReader{ctx: ctx, r: in})
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(tmp)
			return Object{}, fmt.Errorf("copy %s to %s: %w", s.URI(src), s.URI(dst), err)
		}
	}
	return s.place(tmp, dst, Condition{})
}

// Delete implements Store: it removes the files, then the partition folders
// left empty.
func (s *FolderStore) Delete(ctx context.Context, keys []string) error {
	for _, k := range keys {
		if err := CheckKey(k); err != nil {
			return err
		}
	}
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := os.Remove(s.path(k)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", s.URI(k), err)
		}
		s.pruneDirs(filepath.Dir(s.path(k)))
	}
	return nil
}

// pruneDirs removes dir and its parents up to the root while they are
// empty (a deleted partition disappears, as a prefix does in S3).
func (s *FolderStore) pruneDirs(dir string) {
	for dir != s.root && strings.HasPrefix(dir, s.root+string(filepath.Separator)) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// Versions implements Store: the current objects, each IsLatest.
func (s *FolderStore) Versions(ctx context.Context, prefix string) ([]Version, error) {
	objs, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]Version, len(objs))
	for i, o := range objs {
		out[i] = Version{Object: o, IsLatest: true}
	}
	return out, nil
}

// DeleteVersions implements Store: it deletes the files.
func (s *FolderStore) DeleteVersions(ctx context.Context, versions []Version) error {
	keys := make([]string, 0, len(versions))
	for _, v := range versions {
		if !v.DeleteMarker {
			keys = append(keys, v.Key)
		}
	}
	return s.Delete(ctx, keys)
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
