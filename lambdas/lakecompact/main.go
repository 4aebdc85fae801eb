// Command lakecompact is the Lambda function that EventBridge Scheduler
// invokes daily to compact the lake's day partitions that received objects
// (lake.Lake.CompactScheduled): Athena's UNLOAD rewrites each day, S3
// copies and deletes swap the files. The logic lives in package lake.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	sdkathena "github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/eventlake/eventlake/athena/remote"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/athenaengine"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := lake.ScheduledConfigFromEnv(os.Getenv)
	if err != nil {
		logger.Error("bad configuration", "error", err)
		os.Exit(1)
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		logger.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	store, err := lake.NewS3Store(s3.NewFromConfig(awsCfg), cfg.Bucket)
	if err != nil {
		logger.Error("bad configuration", "error", err)
		os.Exit(1)
	}
	runner := remote.New(sdkathena.NewFromConfig(awsCfg), remote.Config{WorkGroup: cfg.WorkGroup, Database: cfg.Database, Logger: logger})
	l, err := lake.New(store, athenaengine.New(runner, store), lake.Config{Format: cfg.Format, TargetFileBytes: cfg.TargetFileBytes, Logger: logger})
	if err != nil {
		logger.Error("bad configuration", "error", err)
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context) (lake.ScheduledResult, error) { return l.CompactScheduled(ctx) })
}
