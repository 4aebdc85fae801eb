// Command summarize is the Lambda function that keeps the per-actor summary
// (last seen, action count, identity links) for every event inserted into
// the events table, read from its DynamoDB stream with a tumbling window;
// it writes the summary table named by SUMMARY_TABLE_NAME. With
// SUPPRESSION_BUCKET set (the lake bucket), the events of actors an erasure
// forgot are skipped, so their deleted summaries are not recreated
// (summary.Config.Suppression). The logic lives in package summary.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lambdas/summarize/summary"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := summary.ConfigFromEnv(os.Getenv)
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
	if bucket := os.Getenv(lake.EnvSuppressionBucket); bucket != "" {
		store, err := lake.NewS3Store(s3.NewFromConfig(awsCfg), bucket)
		if err != nil {
			logger.Error("bad configuration", "error", err)
			os.Exit(1)
		}
		// A list that cannot be read yet fails the invocations (they are
		// retried) until it can: no forgotten summary is recreated.
		cache, err := lake.NewSuppressionCache(context.Background(), store, lake.SuppressionCacheConfig{Logger: logger})
		if err != nil {
			logger.Warn("suppression list not loaded yet", "error", err)
		}
		cfg.Suppression = cache
	}
	h, err := summary.New(dynamodb.NewFromConfig(awsCfg, summary.ClientOptions), cfg)
	if err != nil {
		logger.Error("bad configuration", "error", err)
		os.Exit(1)
	}
	lambda.Start(h) // Invoke: reads the window event itself (see summary.Handler.Invoke)
}
