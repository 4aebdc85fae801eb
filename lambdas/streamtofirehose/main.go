// Command streamtofirehose is the Lambda function that relays the events
// inserted into the events table, read from its DynamoDB stream, to the
// Firehose delivery stream named by DELIVERY_STREAM_NAME, and keeps aside
// in the bucket named by KEEP_ASIDE_BUCKET (under errors/relay/) the records
// whose image breaks the schema. The logic lives in package relay.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/eventlake/eventlake/lake/objstore"
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
	if bucket := os.Getenv(relay.EnvKeepAsideBucket); bucket != "" {
		cfg.KeepAside = objstore.S3{Client: s3.NewFromConfig(awsCfg), Bucket: bucket}
	}
	h, err := relay.New(firehose.NewFromConfig(awsCfg, relay.ClientOptions), cfg)
	if err != nil {
		logger.Error("bad configuration", "error", err)
		os.Exit(1)
	}
	lambda.Start(h) // Invoke: reads the stream event itself (see relay.Handler.Invoke)
}
