// Package objstore is the small object-store interface the relay and the
// recovery tools (lake/recovery) write and read the lake bucket through: an
// S3 bucket (S3, with the real aws-sdk-go-v2 client) or a local folder laid
// out like one (Folder), so the local stack and the deployed stack run the
// same code. It holds only what those two need (put, list, read); the lake's
// maintenance has a richer store of its own.
//
// Keys are slash-separated and relative ("errors/relay/dt=2026-11-22/x.ndjson").
// Both implementations are safe for concurrent use and honour ctx; one
// conformance test runs against both.
package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Object is one object of a store.
type Object struct {
	// Key is its key, relative to the store's root.
	Key string
	// Size is its length in bytes.
	Size int64
}

// ErrNotFound is returned by Open for a key without an object.
var ErrNotFound = errors.New("objstore: no such object")

// Store is a bucket or a folder standing in for one.
type Store interface {
	// Put writes body under key, replacing an object with the same key.
	Put(ctx context.Context, key string, body []byte) error
	// List returns the objects whose keys start with prefix, sorted by
	// key. Nothing under the prefix is an empty list, not an error.
	List(ctx context.Context, prefix string) ([]Object, error)
	// Open returns an object's content (ErrNotFound when there is none).
	// The caller closes it.
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	// URI names the object for people: s3://bucket/key or a file path.
	URI(key string) string
}

// CheckKey reports whether key is a usable key: not empty, relative,
// slash-separated, clean (no empty, "." or ".." segment), without control
// characters or backslashes, at most 1,024 bytes (S3's limit).
func CheckKey(key string) error {
	switch {
	case key == "":
		return errors.New("objstore: empty key")
	case len(key) > 1024:
		return fmt.Errorf("objstore: key of %d bytes (at most 1024)", len(key))
	case strings.HasPrefix(key, "/") || strings.HasSuffix(key, "/") || path.Clean(key) != key ||
		key == ".." || strings.HasPrefix(key, "../") || strings.ContainsRune(key, '\\'):
		return fmt.Errorf("objstore: key %q is not a clean relative slash-separated path", key)
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("objstore: key %q contains a control character", key)
		}
	}
	return nil
}

// Folder is a Store on a local folder: the object "a/b.json" is the file
// Root/a/b.json. A file appears atomically (written under a hidden
// temporary name in the same folder, synced, then renamed); files whose
// name starts with a dot are not objects.
type Folder struct {
	// Root is the folder standing in for the bucket; Put creates it.
	Root string
}

func (f Folder) path(key string) (string, error) {
	if f.Root == "" {
		return "", errors.New("objstore: Folder with an empty Root")
	}
	if err := CheckKey(key); err != nil {
		return "", err
	}
	return filepath.Join(f.Root, filepath.FromSlash(key)), nil
}

// Put writes body to Root/key atomically.
func (f Folder) Put(ctx context.Context, key string, body []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	dst, err := f.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dst)+".*.tmp")
	if err != nil {
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	_, werr := tmp.Write(body)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("objstore: put %s: %w", key, err)
	}
	return nil
}

// List walks Root for files under prefix.
func (f Folder) List(ctx context.Context, prefix string) ([]Object, error) {
	if f.Root == "" {
		return nil, errors.New("objstore: Folder with an empty Root")
	}
	// Walk from the deepest folder the prefix names.
	base := ""
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		base = prefix[:i]
	}
	start := filepath.Join(f.Root, filepath.FromSlash(base))
	var out []Object
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if strings.HasPrefix(d.Name(), ".") && p != start {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(f.Root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, Object{Key: key, Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("objstore: list %s: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Open opens Root/key.
func (f Folder) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	file, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("objstore: open %s: %w", key, err)
	}
	return file, nil
}

// URI returns the file's path.
func (f Folder) URI(key string) string { return filepath.Join(f.Root, filepath.FromSlash(key)) }

// S3API is the part of the S3 client an S3 store uses; *s3.Client
// satisfies it.
type S3API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// S3 is a Store on an S3 bucket. The bucket's default encryption applies
// to what Put writes (SSE-KMS with the lake key on the deployed bucket).
type S3 struct {
	Client S3API
	Bucket string
}

// Put puts body under key.
func (s S3) Put(ctx context.Context, key string, body []byte) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	_, err := s.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.Bucket), Key: aws.String(key), Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
	})
	if err != nil {
		return fmt.Errorf("objstore: put s3://%s/%s: %w", s.Bucket, key, err)
	}
	return nil
}

// List lists the bucket under prefix, following continuation tokens.
func (s S3) List(ctx context.Context, prefix string) ([]Object, error) {
	var out []Object
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.Bucket), Prefix: aws.String(prefix)}
	for {
		page, err := s.Client.ListObjectsV2(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("objstore: list s3://%s/%s: %w", s.Bucket, prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size)})
		}
		if !aws.ToBool(page.IsTruncated) || page.NextContinuationToken == nil {
			break
		}
		in.ContinuationToken = page.NextContinuationToken
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Open gets the object.
func (s S3) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	out, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	var nk *types.NoSuchKey
	if errors.As(err, &nk) {
		return nil, fmt.Errorf("%w: s3://%s/%s", ErrNotFound, s.Bucket, key)
	}
	if err != nil {
		return nil, fmt.Errorf("objstore: get s3://%s/%s: %w", s.Bucket, key, err)
	}
	return out.Body, nil
}

// URI returns s3://bucket/key.
func (s S3) URI(key string) string { return "s3://" + s.Bucket + "/" + key }
