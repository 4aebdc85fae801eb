// Package laketest runs the AWS side of the lake on one machine for tests:
// an S3-compatible server (gofakes3, in memory, with versioning) reached
// with the real aws-sdk-go-v2 S3 client, and a fake Athena endpoint
// (athena/fakeathena) whose engine is DuckDB over that bucket, with "$path"
// and UNLOAD. It is a test helper, as net/http/httptest is.
package laketest

import (
	"bytes"
	"context"
	"io/fs"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/eventlake/eventlake/lake"
)

// S3 is an S3-compatible server on a loopback port with one versioned
// bucket.
type S3 struct {
	Server *httptest.Server
	Client *s3.Client
	Bucket string
	Store  *lake.S3Store
}

// NewS3 starts the server, creates the bucket and enables versioning, as on
// the CDK stack's lake bucket. It stops when the test ends.
//
// gofakes3 v1.2.0 with its s3mem backend supports what the lake uses:
// ListObjectsV2, ListObjectVersions, GetObject, PutObject with If-None-Match
// and If-Match, CopyObject (of the current version), DeleteObjects with and
// without version IDs. It does not encrypt (SSE-KMS is the bucket's on AWS).
func NewS3(tb testing.TB, bucket string) *S3 {
	tb.Helper()
	backend := s3mem.New()
	faker := gofakes3.New(backend, gofakes3.WithLogger(gofakes3.DiscardLog()))
	srv := httptest.NewServer(faker.Server())
	tb.Cleanup(srv.Close)
	client := Client(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		tb.Fatalf("create bucket: %v", err)
	}
	if _, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  &bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	}); err != nil {
		tb.Fatalf("enable versioning: %v", err)
	}
	store, err := lake.NewS3Store(client, bucket)
	if err != nil {
		tb.Fatal(err)
	}
	return &S3{Server: srv, Client: client, Bucket: bucket, Store: store}
}

// Client returns a real S3 client for an S3-compatible endpoint: static
// credentials, path-style addressing, checksums only where S3 requires
// them (gofakes3 does not read trailing checksums).
func Client(endpoint string) *s3.Client {
	cfg := aws.Config{
		Region:                     "us-east-1",
		Credentials:                aws.NewCredentialsCache(staticCreds{}),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
}

type staticCreds struct{}

func (staticCreds) Retrieve(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "AKIDFAKE", SecretAccessKey: "secret", Source: "laketest"}, nil
}

// PutFolder uploads every file under root to the bucket, keyed by its path
// relative to root, and returns the keys.
func (s *S3) PutFolder(ctx context.Context, root string) ([]string, error) {
	var keys []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if _, err := s.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &s.Bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
			return err
		}
		keys = append(keys, key)
		return nil
	})
	return keys, err
}
