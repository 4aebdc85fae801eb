package eventlake

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/eventlake/eventlake/lambdas/collector/function"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/tracker"
)

// writeKeys stands in for Secrets Manager: GetSecretValue returns value,
// or fails when failing is set.
type writeKeys struct {
	mu      sync.Mutex
	value   string
	failing bool
}

func (w *writeKeys) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failing {
		return nil, errors.New("AccessDeniedException: not authorized to perform kms:Decrypt")
	}
	return &secretsmanager.GetSecretValueOutput{ARN: in.SecretId, SecretString: aws.String(w.value)}, nil
}

func (w *writeKeys) fail() {
	w.mu.Lock()
	w.failing = true
	w.mu.Unlock()
}

// TestMetricFiltersMatchTheCollectorsLines builds the collector function
// as its main does, from the environment the tuned variant synthesizes
// (references replaced by DynamoDB Local's table and the local Firehose
// endpoint's stream), sends it API Gateway events with a Segment batch of
// a hot-route login and a lake-route page view, captures its JSON log, and
// applies the collector's metric filters exactly as the template defines
// them: nothing counted when both are stored; both counted as not stored
// (value $.not_stored) when DynamoDB and Firehose fail; one key reload
// failure when the secret cannot be read again.
func TestMetricFiltersMatchTheCollectorsLines(t *testing.T) {
	s := jsonStack(t)
	filters := s.metricFilters(t)
	const key = "Q7xk2mP9vL4nR8tW1yZ5bC3dF6gH0jKa" // as the secret is generated: 32 letters and digits
	env := dynamolocal.NewEnv(t)
	body := `{"batch":[{"type":"track","event":"Signed In","userId":"42","messageId":"log-1"},` +
		`{"type":"page","anonymousId":"a-1","messageId":"log-2","properties":{"url":"/pricing"}}]}`

	for _, tc := range []struct {
		name       string
		table      string
		faults     firehoselocal.Faults
		failKeys   bool
		status     int
		notStored  float64 // published by the not-stored filter; 0: no match
		keyReloads float64
	}{
		{name: "stored", table: env.EventsTable, status: 200},
		{name: "DynamoDB and Firehose fail", table: "no-such-table", faults: firehoselocal.Faults{ServerErrorRate: 1},
			status: 503, notStored: 2},
		{name: "the secret cannot be read again", table: env.EventsTable, failKeys: true, status: 200, keyReloads: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fh, err := firehoselocal.Start(firehoselocal.Options{Streams: []string{"lake"}, Faults: tc.faults, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			vars := s.functionEnv(t, s.Pipeline.Collector.Function)
			vars[function.EnvEventsTable] = tc.table
			vars[function.EnvDeliveryStream] = "lake"
			cfg, err := function.ConfigFromEnv(func(k string) string { return vars[k] })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Routes["page_view"] != tracker.RouteLake || cfg.Routes["login"] != tracker.RouteHot {
				t.Fatalf("routes %v: the batch would not take both routes", cfg.Routes)
			}
			// The deployed refresh is 5 minutes; the test reads the keys
			// again on the next request.
			cfg.Refresh = time.Millisecond
			secret := &writeKeys{value: key}
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			h, _, err := function.New(ctx, cfg, function.Clients{
				DynamoDB:       env.Client,
				Firehose:       fh.Client(tracker.LakeClientOptions),
				SecretsManager: secret,
			}, slog.New(slog.NewJSONHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			if tc.failKeys {
				secret.fail()
			}
			time.Sleep(5 * time.Millisecond)
			// The invocation's deadline, as Lambda gives it: the function's
			// timeout, which bounds the retries.
			ictx, icancel := context.WithTimeout(ctx, CollectorTimeout)
			defer icancel()
			resp, err := h.Handle(ictx, apiRequest("/v1/batch", key, body))
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, resp.Body)
			}

			for metric, want := range map[string]float64{MetricCollectorNotStored: tc.notStored, MetricCollectorKeyReloadFailures: tc.keyReloads} {
				f, ok := filters[metric]
				if !ok {
					t.Fatalf("no metric filter publishes %s", metric)
				}
				var total float64
				matches := 0
				for _, line := range allLines(t, logs.Bytes()) {
					if v, ok := f.apply(line); ok {
						total += v
						matches++
					}
				}
				if total != want || (want > 0) != (matches == 1) {
					t.Errorf("%s: %d lines matched, publishing %v; want %v\n%s", metric, matches, total, want, logs.String())
				}
			}
		})
	}
}

// allLines parses every line of a JSON log, failing the test on a line
// that is not JSON (no metric filter could read it).
func allLines(t *testing.T, log []byte) []map[string]interface{} {
	t.Helper()
	var out []map[string]interface{}
	for _, l := range bytes.Split(log, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var line map[string]interface{}
		if err := json.Unmarshal(l, &line); err != nil {
			t.Fatalf("log line is not JSON, so no metric filter could read it: %q", l)
		}
		out = append(out, line)
	}
	return out
}

// apiRequest is an API Gateway HTTP API event (payload format 2.0) of a
// POST to path with the write key as HTTP Basic user.
func apiRequest(path, key, body string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: path, Body: body,
		Headers: map[string]string{
			"content-type":  "application/json",
			"user-agent":    "analytics-go (version: 3.3.0)",
			"authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":")),
		}}
	ev.RequestContext.Stage = "$default"
	ev.RequestContext.HTTP.Method = http.MethodPost
	ev.RequestContext.HTTP.Path = path
	ev.RequestContext.HTTP.SourceIP = "198.51.100.23"
	return ev
}
