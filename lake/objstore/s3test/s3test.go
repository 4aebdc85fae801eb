// Package s3test runs an S3-compatible server (gofakes3, in memory) on a
// loopback port for tests, reached with the real aws-sdk-go-v2 S3 client,
// as net/http/httptest runs an HTTP server.
package s3test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/eventlake/eventlake/lake/objstore"
)

// Server is an S3-compatible endpoint with one bucket.
type Server struct {
	URL    string
	Client *s3.Client
	Bucket string
	// Store is an objstore.S3 on the bucket.
	Store objstore.S3
}

// New starts the server and creates bucket; it stops when the test ends.
func New(tb testing.TB, bucket string) *Server {
	tb.Helper()
	faker := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	srv := httptest.NewServer(faker.Server())
	tb.Cleanup(srv.Close)
	client := Client(srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		tb.Fatalf("create bucket: %v", err)
	}
	return &Server{URL: srv.URL, Client: client, Bucket: bucket, Store: objstore.S3{Client: client, Bucket: bucket}}
}

// Client returns a real S3 client for an S3-compatible endpoint: static
// credentials, path-style addressing, checksums only where S3 requires them
// (gofakes3 does not read trailing checksums).
func Client(endpoint string) *s3.Client {
	cfg := aws.Config{
		Region:                     "us-east-1",
		Credentials:                credentials.NewStaticCredentialsProvider("AKIDS3TEST", "s3test-secret", ""),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
	})
}
