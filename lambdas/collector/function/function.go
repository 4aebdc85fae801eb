package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/lake"
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
	// SuppressionStore reads the suppression list when
	// Config.SuppressionBucket is set: main passes a lake.S3Store on that
	// bucket (tests a lake.FolderStore).
	SuppressionStore lake.Store
}

// New loads the write keys and returns the Lambda handler: the collector,
// storing through a tracker configured by cfg, behind the API Gateway
// adapter, with the keys reloaded every cfg.Refresh. With
// cfg.SuppressionBucket it also loads the suppression list through
// c.SuppressionStore and wires it as the tracker's BeforeSend, so the
// events of forgotten actors are dropped (counted and logged without IDs,
// answered as accepted); the list is refreshed at the start of a request
// when older than cfg.SuppressionRefresh. It fails when the keys cannot be
// read or the configuration is invalid.
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
	if cfg.SuppressionBucket != "" && c.SuppressionStore == nil {
		return nil, nil, errors.New("collector function: " + EnvSuppressionBucket + " is set but there is no store to read the suppression list with")
	}
	keys, err := LoadWriteKeys(ctx, load, cfg.Refresh, log)
	if err != nil {
		return nil, nil, fmt.Errorf("collector function: %w", err)
	}
	tc := tracker.Config{
		EventsTable:    cfg.EventsTable,
		Routes:         cfg.Routes,
		Firehose:       c.Firehose,
		DeliveryStream: cfg.DeliveryStream,
		IPPolicy:       cfg.IPPolicy,
		Retention:      cfg.Retention,
	}
	var list *lake.SuppressionCache
	if cfg.SuppressionBucket != "" {
		// A list that cannot be read yet is retried by every request, which
		// is answered 503 until it loads (see suppressionGate).
		list, err = lake.NewSuppressionCache(ctx, c.SuppressionStore, lake.SuppressionCacheConfig{Refresh: cfg.SuppressionRefresh, Logger: log})
		if err != nil {
			log.Warn("suppression list not loaded yet; requests are answered 503 until it is", "error", err.Error())
		}
		tc.BeforeSend = list.BeforeSend
	}
	tr, err := tracker.New(c.DynamoDB, tc)
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
	var served http.Handler = h
	if list != nil {
		served = suppressionGate(list, h)
	}
	return apigw.New(keys.Wrap(served)), keys, nil
}

// notLoaded is the answer while the suppression list was never loaded.
var notLoaded = func() []byte {
	b, _ := json.Marshal(collector.Response{Error: "not stored: the service is starting; send it again"})
	return append(b, '\n')
}()

// suppressionGate refreshes the suppression list when it is stale, before
// the request is served (the tracker's BeforeSend reads the cached list and
// drops forgotten actors' events). While no list was ever loaded it answers
// 503 with Retry-After, as for an unavailable store, so that clients send
// again rather than a forgotten actor's events being stored; preflight
// requests, which store nothing, pass.
func suppressionGate(list *lake.SuppressionCache, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodOptions {
			_ = list.MaybeRefresh(r.Context()) // logged; the last list stays in use
			if !list.Loaded() {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Retry-After", "5")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write(notLoaded)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
