// Command streamtofirehose is the Lambda function that relays the events
// inserted into the events table, read from its DynamoDB stream, to the
// Firehose delivery stream named by DELIVERY_STREAM_NAME, and keeps aside
// in the bucket named by KEEP_ASIDE_BUCKET (under errors/relay/) the records
// whose image breaks the schema. With SUPPRESSION_BUCKET set (the lake
// bucket), the events of actors an erasure forgot are dropped before
// Firehose (lake.SuppressingFirehose) and never kept aside
// (lake.Writer.Suppression). The logic lives in package relay.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := relay.ConfigFromEnv(os.Getenv)
	if err != nil {
		logger.Error("bad configuration", "error", err)
		os.Exit(1)
	}
	cfg.Logger = logger
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		logger.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	s3Client := s3.NewFromConfig(awsCfg)
	var client relay.FirehoseAPI = firehose.NewFromConfig(awsCfg, relay.ClientOptions)
	var cache *lake.SuppressionCache
	if bucket := os.Getenv(lake.EnvSuppressionBucket); bucket != "" {
		store, err := lake.NewS3Store(s3Client, bucket)
		if err != nil {
			logger.Error("bad configuration", "error", err)
			os.Exit(1)
		}
		// A list that cannot be read yet holds deliveries back (they are
		// retried) until it can: nothing of a forgotten actor slips through.
		if cache, err = lake.NewSuppressionCache(context.Background(), store, lake.SuppressionCacheConfig{Logger: logger}); err != nil {
			logger.Warn("suppression list not loaded yet", "error", err)
		}
		client = lake.NewSuppressingFirehose(client, cache, logger)
	}
	if bucket := os.Getenv(relay.EnvKeepAsideBucket); bucket != "" {
		store, err := lake.NewS3Store(s3Client, bucket)
		if err != nil {
			logger.Error("bad configuration", "error", err)
			os.Exit(1)
		}
		// Nothing of a forgotten actor is kept aside either.
		cfg.KeepAside = lake.Writer{Store: store, Suppression: cache}
	}
	h, err := relay.New(client, cfg)
	if err != nil {
		logger.Error("bad configuration", "error", err)
		os.Exit(1)
	}
	lambda.Start(h) // Invoke: reads the stream event itself (see relay.Handler.Invoke)
}
