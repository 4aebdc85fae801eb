// Command analytics is the Lambda function behind the API Gateway HTTP API
// routes of the analytics API and the dashboard (GET /api/v1/queries,
// /api/v1/queries/{name}, /analytics, /dashboard), on Amazon Athena. It
// reads its environment (function.ConfigFromEnv: ATHENA_WORKGROUP,
// ATHENA_DATABASE, MAX_AGE, USER_URL_PREFIX, ...), loads the SDK
// configuration once, and serves. The logic lives in packages function,
// athena/api and athena/dashboard.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	sdkathena "github.com/aws/aws-sdk-go-v2/service/athena"

	"github.com/eventlake/eventlake/lambdas/analytics/function"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	cfg, err := function.ConfigFromEnv(os.Getenv)
	if err != nil {
		logger.Error("bad configuration", "error", err)
		os.Exit(1)
	}
	awsCfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		logger.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	h, err := function.New(cfg, sdkathena.NewFromConfig(awsCfg), logger)
	if err != nil {
		logger.Error("start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
