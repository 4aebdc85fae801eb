// Package function is the logic of the collector Lambda: it reads the
// function's environment (ConfigFromEnv), loads the write keys from a
// Secrets Manager secret or an SSM SecureString parameter once at cold
// start and again every WRITE_KEYS_REFRESH (WriteKeys), and builds the
// handler lambda.Start runs: collector.Handler, storing through a
// tracker.Tracker (DynamoDB for the hot route, Firehose for the lake route),
// behind the API Gateway HTTP API adapter of package apigw (New). With
// SUPPRESSION_BUCKET set (the lake bucket) the tracker drops the events of
// actors an erasure forgot (lake.SuppressionCache.BeforeSend).
//
// The handler answers only after the events are stored: the Lambda does no
// work after it returns.
package function
