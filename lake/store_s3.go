package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3API is the part of the S3 client S3Store uses. *s3.Client implements
// it; tests hand in the real client pointed at an S3-compatible server.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, optFns ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	CopyObject(ctx context.Context, in *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
}

// S3Store is a Store on an S3 bucket (the lake bucket of the CDK stack,
// which is versioned). It is safe for concurrent use.
//
// Costs: List and Versions cost one LIST request per 1,000 keys, Get and
// Open one GET, Put and Copy one PUT-class request each (Copy is server side, up to
// 5 GB), Delete and DeleteVersions one DeleteObjects request (free) per
// 1,000 keys.
type S3Store struct {
	api    S3API
	bucket string
}

// NewS3Store returns a Store on bucket.
func NewS3Store(api S3API, bucket string) (*S3Store, error) {
	if api == nil {
		return nil, errors.New("lake: nil S3 client")
	}
	if bucket == "" || strings.ContainsAny(bucket, "/ '") {
		return nil, fmt.Errorf("lake: bucket name %q", bucket)
	}
	return &S3Store{api: api, bucket: bucket}, nil
}

// Bucket returns the bucket's name.
func (s *S3Store) Bucket() string { return s.bucket }

// URI returns s3://bucket/key, the value of Athena's "$path".
func (s *S3Store) URI(key string) string { return "s3://" + s.bucket + "/" + key }

// Versioned reports true: the lake bucket keeps noncurrent versions. (On an
// unversioned bucket Versions lists each object once, version "null".)
func (s *S3Store) Versioned() bool { return true }

func unquote(etag *string) string { return strings.Trim(aws.ToString(etag), `"`) }

// List implements Store.
func (s *S3Store) List(ctx context.Context, prefix string) ([]Object, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	var out []Object
	p := s3.NewListObjectsV2Paginator(s.api, &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list s3://%s/%s: %w", s.bucket, prefix, err)
		}
		for _, o := range page.Contents {
			out = append(out, Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size), ETag: unquote(o.ETag), LastModified: aws.ToTime(o.LastModified)})
		}
	}
	slices.SortFunc(out, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	return out, nil
}

// Get implements Store.
func (s *S3Store) Get(ctx context.Context, key string) ([]byte, Object, error) {
	if err := CheckKey(key); err != nil {
		return nil, Object{}, err
	}
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return nil, Object{}, fmt.Errorf("get %s: %w", s.URI(key), ErrNotFound)
		}
		return nil, Object{}, fmt.Errorf("get %s: %w", s.URI(key), err)
	}
	defer out.Body.Close()
	body, err := io.ReadAll(io.LimitReader(out.Body, MaxGetBytes+1))
	if err != nil {
		return nil, Object{}, fmt.Errorf("read %s: %w", s.URI(key), err)
	}
	if len(body) > MaxGetBytes {
		return nil, Object{}, fmt.Errorf("get %s: larger than %d bytes", s.URI(key), MaxGetBytes)
	}
	return body, Object{Key: key, Size: int64(len(body)), ETag: unquote(out.ETag), VersionID: aws.ToString(out.VersionId), LastModified: aws.ToTime(out.LastModified)}, nil
}

// Open implements Store with one GetObject whose body is streamed.
func (s *S3Store) Open(ctx context.Context, key string) (io.ReadCloser, Object, error) {
	if err := CheckKey(key); err != nil {
		return nil, Object{}, err
	}
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		if isNotFound(err) {
			return nil, Object{}, fmt.Errorf("open %s: %w", s.URI(key), ErrNotFound)
		}
		return nil, Object{}, fmt.Errorf("open %s: %w", s.URI(key), err)
	}
	return out.Body, Object{Key: key, Size: aws.ToInt64(out.ContentLength), ETag: unquote(out.ETag), VersionID: aws.ToString(out.VersionId), LastModified: aws.ToTime(out.LastModified)}, nil
}

// Put implements Store with S3's conditional writes (If-None-Match: *,
// If-Match: etag).
func (s *S3Store) Put(ctx context.Context, key string, body []byte, cond Condition) (Object, error) {
	if err := CheckKey(key); err != nil {
		return Object{}, err
	}
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}
	if strings.HasSuffix(key, ".json") {
		in.ContentType = aws.String("application/json")
	}
	if cond.IfNoneMatch {
		in.IfNoneMatch = aws.String("*")
	}
	if cond.IfMatch != "" {
		in.IfMatch = aws.String(`"` + cond.IfMatch + `"`)
	}
	out, err := s.api.PutObject(ctx, in)
	if err != nil {
		if isPrecondition(err) {
			return Object{}, fmt.Errorf("put %s: %w", s.URI(key), ErrPrecondition)
		}
		return Object{}, fmt.Errorf("put %s: %w", s.URI(key), err)
	}
	return Object{Key: key, Size: int64(len(body)), ETag: unquote(out.ETag), VersionID: aws.ToString(out.VersionId)}, nil
}

// Copy implements Store with CopyObject (server side; the bucket's default
// encryption applies to the copy).
func (s *S3Store) Copy(ctx context.Context, src, dst string) (Object, error) {
	if err := CheckKey(src); err != nil {
		return Object{}, err
	}
	if err := CheckKey(dst); err != nil {
		return Object{}, err
	}
	source := s.bucket + "/" + (&url.URL{Path: src}).EscapedPath()
	out, err := s.api.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &s.bucket, Key: &dst, CopySource: &source})
	if err != nil {
		if isNotFound(err) {
			return Object{}, fmt.Errorf("copy %s: %w", s.URI(src), ErrNotFound)
		}
		return Object{}, fmt.Errorf("copy %s to %s: %w", s.URI(src), dst, err)
	}
	o := Object{Key: dst, VersionID: aws.ToString(out.VersionId)}
	if r := out.CopyObjectResult; r != nil {
		o.ETag, o.LastModified = unquote(r.ETag), aws.ToTime(r.LastModified)
	}
	return o, nil
}

// Delete implements Store with DeleteObjects, 1,000 keys per request.
func (s *S3Store) Delete(ctx context.Context, keys []string) error {
	ids := make([]types.ObjectIdentifier, 0, len(keys))
	for _, k := range keys {
		if err := CheckKey(k); err != nil {
			return err
		}
		ids = append(ids, types.ObjectIdentifier{Key: aws.String(k)})
	}
	return s.deleteObjects(ctx, ids)
}

// DeleteVersions implements Store: DeleteObjects with version IDs, which
// removes them for good.
func (s *S3Store) DeleteVersions(ctx context.Context, versions []Version) error {
	ids := make([]types.ObjectIdentifier, 0, len(versions))
	for _, v := range versions {
		if err := CheckKey(v.Key); err != nil {
			return err
		}
		id := types.ObjectIdentifier{Key: aws.String(v.Key)}
		if v.VersionID != "" {
			id.VersionId = aws.String(v.VersionID)
		}
		ids = append(ids, id)
	}
	return s.deleteObjects(ctx, ids)
}

func (s *S3Store) deleteObjects(ctx context.Context, ids []types.ObjectIdentifier) error {
	for len(ids) > 0 {
		n := min(len(ids), 1000)
		out, err := s.api.DeleteObjects(ctx, &s3.DeleteObjectsInput{
			Bucket: &s.bucket,
			Delete: &types.Delete{Objects: ids[:n], Quiet: aws.Bool(true)},
		})
		if err != nil {
			return fmt.Errorf("delete %d objects from s3://%s: %w", n, s.bucket, err)
		}
		if len(out.Errors) > 0 {
			e := out.Errors[0]
			return fmt.Errorf("delete %d objects from s3://%s: %d failed, first %s: %s %s",
				n, s.bucket, len(out.Errors), aws.ToString(e.Key), aws.ToString(e.Code), aws.ToString(e.Message))
		}
		ids = ids[n:]
	}
	return nil
}

// Versions implements Store with ListObjectVersions.
func (s *S3Store) Versions(ctx context.Context, prefix string) ([]Version, error) {
	if err := checkPrefix(prefix); err != nil {
		return nil, err
	}
	var out []Version
	in := &s3.ListObjectVersionsInput{Bucket: &s.bucket, Prefix: aws.String(prefix)}
	for {
		page, err := s.api.ListObjectVersions(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list versions of s3://%s/%s: %w", s.bucket, prefix, err)
		}
		for _, v := range page.Versions {
			out = append(out, Version{
				Object:   Object{Key: aws.ToString(v.Key), Size: aws.ToInt64(v.Size), ETag: unquote(v.ETag), VersionID: aws.ToString(v.VersionId), LastModified: aws.ToTime(v.LastModified)},
				IsLatest: aws.ToBool(v.IsLatest),
			})
		}
		for _, m := range page.DeleteMarkers {
			out = append(out, Version{
				Object:       Object{Key: aws.ToString(m.Key), VersionID: aws.ToString(m.VersionId), LastModified: aws.ToTime(m.LastModified)},
				IsLatest:     aws.ToBool(m.IsLatest),
				DeleteMarker: true,
			})
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		in.KeyMarker, in.VersionIdMarker = page.NextKeyMarker, page.NextVersionIdMarker
	}
	slices.SortStableFunc(out, func(a, b Version) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		if a.IsLatest != b.IsLatest {
			if a.IsLatest {
				return -1
			}
			return 1
		}
		return b.LastModified.Compare(a.LastModified)
	})
	return out, nil
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound")
}

// isPrecondition matches S3's answers to a conditional write that does not
// hold: 412 PreconditionFailed, and 409 ConditionalRequestConflict when a
// concurrent write to the key is in flight.
func isPrecondition(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict")
}
