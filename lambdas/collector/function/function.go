package function

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/lambdas/collector/apigw"
	"github.com/eventlake/eventlake/tracker"
)

// Clients are the AWS clients the function uses; main builds them once from
// the SDK configuration.
type Clients struct {
	DynamoDB tracker.DynamoDB
	// Firehose is used by the lake route (create it with
	// tracker.LakeClientOptions).
	Firehose tracker.Firehose
	// SecretsManager or SSM reads the write keys, as Config says.
	SecretsManager SecretsManagerAPI
	SSM            SSMAPI
}

// New loads the write keys and returns the Lambda handler: the collector,
// storing through a tracker configured by cfg, behind the API Gateway
// adapter, with the keys reloaded every cfg.Refresh. It fails when the keys
// cannot be read or the configuration is invalid.
func New(ctx context.Context, cfg Config, c Clients, log *slog.Logger) (*apigw.Handler, *WriteKeys, error) {
	if log == nil {
		log = slog.Default()
	}
	var load func(context.Context) ([]string, error)
	switch {
	case cfg.KeysSecret != "" && c.SecretsManager != nil:
		load = SecretKeys(c.SecretsManager, cfg.KeysSecret)
	case cfg.KeysParameter != "" && c.SSM != nil:
		load = ParameterKeys(c.SSM, cfg.KeysParameter)
	default:
		return nil, nil, errors.New("collector function: no client for the write keys' secret or parameter")
	}
	keys, err := LoadWriteKeys(ctx, load, cfg.Refresh, log)
	if err != nil {
		return nil, nil, fmt.Errorf("collector function: %w", err)
	}
	tr, err := tracker.New(c.DynamoDB, tracker.Config{
		EventsTable:    cfg.EventsTable,
		Routes:         cfg.Routes,
		Firehose:       c.Firehose,
		DeliveryStream: cfg.DeliveryStream,
		IPPolicy:       cfg.IPPolicy,
		Retention:      cfg.Retention,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("collector function: %w", err)
	}
	h, err := collector.New(tr, collector.Config{
		WriteKeys:      keys.Set,
		AllowedOrigins: cfg.AllowedOrigins,
		TrustedProxies: cfg.TrustedProxies,
		EventNames:     cfg.EventNames,
		Logger:         log,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("collector function: %w", err)
	}
	return apigw.New(keys.Wrap(h)), keys, nil
}
