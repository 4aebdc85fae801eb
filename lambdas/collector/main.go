// Command collector is the Lambda function behind the API Gateway HTTP API
// that receives events over HTTP (Segment's tracking API, eventlake's JSON,
// the seeds' formats; see package collector). It reads its environment
// (function.ConfigFromEnv: EVENTS_TABLE_NAME, DELIVERY_STREAM_NAME, ROUTES,
// WRITE_KEYS_SECRET or WRITE_KEYS_PARAMETER, SUPPRESSION_BUCKET, ...), loads
// the SDK configuration, the write keys and the suppression list once, and
// serves. The logic lives in packages function and apigw.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lambdas/collector/function"
	"github.com/eventlake/eventlake/tracker"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := function.ConfigFromEnv(os.Getenv)
	if err != nil {
		logger.Error("bad configuration", "error", err)
		os.Exit(1)
	}
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		logger.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	clients := function.Clients{
		DynamoDB:       dynamodb.NewFromConfig(awsCfg),
		Firehose:       firehose.NewFromConfig(awsCfg, tracker.LakeClientOptions),
		SecretsManager: secretsmanager.NewFromConfig(awsCfg),
		SSM:            ssm.NewFromConfig(awsCfg),
	}
	if cfg.SuppressionBucket != "" {
		if clients.SuppressionStore, err = lake.NewS3Store(s3.NewFromConfig(awsCfg), cfg.SuppressionBucket); err != nil {
			logger.Error("bad configuration", "error", err)
			os.Exit(1)
		}
	}
	h, _, err := function.New(ctx, cfg, clients, logger)
	if err != nil {
		logger.Error("start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
