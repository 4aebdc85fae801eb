// Command summarize is the Lambda function that keeps the per-actor summary
// (last seen, action count, identity links) for every event inserted into
// the events table, read from its DynamoDB stream with a tumbling window;
// it writes the summary table named by SUMMARY_TABLE_NAME. The logic lives
// in package summary.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

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
	h, err := summary.New(dynamodb.NewFromConfig(awsCfg, summary.ClientOptions), cfg)
	if err != nil {
		logger.Error("bad configuration", "error", err)
		os.Exit(1)
	}
	lambda.Start(h) // Invoke: reads the window event itself (see summary.Handler.Invoke)
}
