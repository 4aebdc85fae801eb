package function_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lambdas/collector/function"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/firehoselocal"
	"github.com/eventlake/eventlake/tracker"
)

func TestConfigFromEnv(t *testing.T) {
	base := map[string]string{function.EnvEventsTable: "events", function.EnvWriteKeysSecret: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:wk-AbCdEf"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		bad  []string // substrings of the error
		want func(function.Config) bool
	}{
		{"defaults", base, nil, func(c function.Config) bool {
			return c.EventsTable == "events" && c.Refresh == function.DefaultRefresh && c.IPPolicy == tracker.IPKeep && c.Routes == nil
		}},
		{"everything", with(function.EnvRoutes, "page_view=lake, click=lake,login=hot", function.EnvDeliveryStream, "s", function.EnvWriteKeysRefresh, "1m",
			function.EnvAllowedOrigins, "https://a.example,https://b.example", function.EnvTrustedProxies, "10.0.0.0/8", function.EnvIPPolicy, "anonymize",
			function.EnvRetentionDays, "180", function.EnvEventNames, `{"Checkout Done":"purchase"}`), nil, func(c function.Config) bool {
			return len(c.Routes) == 3 && c.Routes["click"] == tracker.RouteLake && c.Refresh == time.Minute && len(c.AllowedOrigins) == 2 &&
				c.IPPolicy == tracker.IPAnonymize && c.Retention == 180*24*time.Hour && c.EventNames["Checkout Done"] == "purchase"
		}},
		{"parameter instead of secret", map[string]string{function.EnvEventsTable: "e", function.EnvWriteKeysParameter: "/eventlake/write-keys"}, nil,
			func(c function.Config) bool { return c.KeysParameter == "/eventlake/write-keys" }},
		{"nothing", map[string]string{}, []string{function.EnvEventsTable, function.EnvWriteKeysSecret}, nil},
		{"both key sources", with(function.EnvWriteKeysParameter, "p"), []string{"exactly one"}, nil},
		{"bad values", with(function.EnvRoutes, "page_view=cold,x", function.EnvWriteKeysRefresh, "soon", function.EnvIPPolicy, "hide",
			function.EnvRetentionDays, "-1", function.EnvEventNames, "[1]"),
			[]string{function.EnvRoutes, function.EnvWriteKeysRefresh, function.EnvIPPolicy, function.EnvRetentionDays, function.EnvEventNames}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := function.ConfigFromEnv(func(k string) string { return tc.env[k] })
			if tc.bad == nil {
				if err != nil || !tc.want(c) {
					t.Fatalf("ConfigFromEnv = %+v, %v", c, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ConfigFromEnv accepted %v", tc.env)
			}
			for _, b := range tc.bad {
				if !strings.Contains(err.Error(), b) {
					t.Errorf("error %q does not name %s", err, b)
				}
			}
		})
	}
}

func TestParseKeys(t *testing.T) {
	for text, want := range map[string]string{
		`{"write_keys":["k1","k2"]}`: "k1 k2",
		`["k1"]`:                     "k1",
		"k1,k2\nk3 k4":               "k1 k2 k3 k4",
		" k1 ":                       "k1",
	} {
		keys, err := function.ParseKeys(text)
		if err != nil || strings.Join(keys, " ") != want {
			t.Errorf("ParseKeys(%q) = %q, %v", text, keys, err)
		}
	}
	for _, bad := range []string{"", "  ", `{"keys":["k"]}`, `{"write_keys":`, `[1]`, `[]`} {
		if keys, err := function.ParseKeys(bad); err == nil {
			t.Errorf("ParseKeys(%q) = %q", bad, keys)
		}
	}
}

// secrets is a Secrets Manager and SSM endpoint speaking their JSON 1.1
// protocol (GetSecretValue, GetParameter), so the tests use the real SDK
// clients; nothing like it runs offline.
type secrets struct {
	mu    sync.Mutex
	value string
	fail  bool
	calls int
	srv   *httptest.Server
}

func newSecrets(t *testing.T, value string) *secrets {
	s := &secrets{value: value}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.calls++
		var in map[string]any
		json.NewDecoder(r.Body).Decode(&in)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if s.fail {
			w.Header().Set("X-Amzn-ErrorType", "InternalServiceError")
			w.WriteHeader(500)
			w.Write([]byte(`{"__type":"InternalServiceError","message":"down"}`))
			return
		}
		switch r.Header.Get("X-Amz-Target") {
		case "secretsmanager.GetSecretValue":
			json.NewEncoder(w).Encode(map[string]any{"ARN": in["SecretId"], "Name": "wk", "SecretString": s.value, "VersionId": "v1", "VersionStages": []string{"AWSCURRENT"}})
		case "AmazonSSM.GetParameter":
			if in["WithDecryption"] != true {
				w.WriteHeader(400)
				w.Write([]byte(`{"__type":"ValidationException","message":"want WithDecryption"}`))
				return
			}
			json.NewEncoder(w).Encode(map[string]any{"Parameter": map[string]any{"Name": in["Name"], "Type": "SecureString", "Value": s.value, "Version": 1}})
		default:
			w.WriteHeader(400)
			w.Write([]byte(`{"__type":"UnknownOperationException","message":"unknown"}`))
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *secrets) set(value string, fail bool) {
	s.mu.Lock()
	s.value, s.fail = value, fail
	s.mu.Unlock()
}

func (s *secrets) clients() (*secretsmanager.Client, *ssm.Client) {
	creds := credentials.NewStaticCredentialsProvider("AKIDLOCAL", "secret", "")
	return secretsmanager.New(secretsmanager.Options{Region: "eu-west-1", BaseEndpoint: aws.String(s.srv.URL), Credentials: creds, RetryMaxAttempts: 1}),
		ssm.New(ssm.Options{Region: "eu-west-1", BaseEndpoint: aws.String(s.srv.URL), Credentials: creds, RetryMaxAttempts: 1})
}

func event(t *testing.T, path, key, body string) events.APIGatewayV2HTTPRequest {
	t.Helper()
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: path, Body: body,
		Headers: map[string]string{"content-type": "application/json", "user-agent": "analytics-go (version: 3.3.0)"}}
	if key != "" {
		ev.Headers["authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(key+":"))
	}
	ev.RequestContext.Stage = "$default"
	ev.RequestContext.HTTP.Method = http.MethodPost
	ev.RequestContext.HTTP.Path = path
	ev.RequestContext.HTTP.SourceIP = "198.51.100.23"
	return ev
}

// TestFunction builds the function as main does, against DynamoDB Local,
// the local Firehose endpoint and a secrets endpoint, and sends it API
// Gateway events: the hot route's event is in DynamoDB, the lake route's in
// Firehose, and a key added to the secret is accepted after the refresh.
func TestFunction(t *testing.T) {
	for _, source := range []string{"secret", "parameter"} {
		t.Run(source, func(t *testing.T) {
			env := dynamolocal.NewEnv(t)
			fh, err := firehoselocal.Start(firehoselocal.Options{Streams: []string{"lake"}, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer fh.Close()
			sec := newSecrets(t, `{"write_keys":["wk_old"]}`)
			sm, ps := sec.clients()
			vars := map[string]string{function.EnvEventsTable: env.EventsTable, function.EnvDeliveryStream: "lake", function.EnvRoutes: "page_view=lake",
				function.EnvWriteKeysRefresh: "50ms"}
			if source == "secret" {
				vars[function.EnvWriteKeysSecret] = "wk"
			} else {
				vars[function.EnvWriteKeysParameter] = "/eventlake/write-keys"
			}
			cfg, err := function.ConfigFromEnv(func(k string) string { return vars[k] })
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			h, keys, err := function.New(ctx, cfg, function.Clients{DynamoDB: env.Client, Firehose: fh.Client(tracker.LakeClientOptions), SecretsManager: sm, SSM: ps},
				slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			send := func(key, path, body string) int {
				resp, err := h.Handle(ctx, event(t, path, key, body))
				if err != nil {
					t.Fatal(err)
				}
				return resp.StatusCode
			}
			if got := send("wk_old", "/v1/track", `{"userId":"42","event":"login","messageId":"fn-1"}`); got != 200 {
				t.Fatalf("track: %d", got)
			}
			if got := send("wk_old", "/v1/page", `{"anonymousId":"a-1","messageId":"fn-2","properties":{"url":"/"}}`); got != 200 {
				t.Fatalf("page: %d", got)
			}
			if got := send("wk_new", "/v1/track", `{"userId":"42","event":"login"}`); got != 401 {
				t.Fatalf("a key not yet in the secret: %d", got)
			}
			// Hot route: in DynamoDB. Lake route: in Firehose only.
			tr, _ := tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable})
			page, err := tr.Recent(ctx, "42", tracker.RecentOptions{})
			if err != nil || len(page.Events) != 1 || page.Events[0].ID != "fn-1" || page.Events[0].IP != "198.51.100.23" {
				t.Errorf("DynamoDB holds %+v (%v)", page, err)
			}
			if err := fh.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if lines := fh.MemorySink().Lines(); len(lines) != 1 || !strings.Contains(string(lines[0]), `"event_id":"fn-2"`) {
				t.Errorf("Firehose holds %q", lines)
			}

			// Rotation: the new key is accepted after the refresh, the old
			// one until it is removed. A failed read keeps the keys.
			sec.set(`{"write_keys":["wk_old","wk_new"]}`, false)
			time.Sleep(60 * time.Millisecond)
			if got := send("wk_new", "/v1/track", `{"userId":"42","event":"logout"}`); got != 200 {
				t.Errorf("new key after the refresh: %d", got)
			}
			sec.set("", true)
			time.Sleep(60 * time.Millisecond)
			if got := send("wk_old", "/v1/track", `{"userId":"42","event":"logout"}`); got != 200 {
				t.Errorf("old key while the secret cannot be read: %d", got)
			}
			if err := keys.Reload(ctx); err == nil {
				t.Error("Reload succeeded with the secret failing")
			}
			sec.set(`["wk_new"]`, false)
			if err := keys.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			if got := send("wk_old", "/v1/track", `{"userId":"42","event":"logout"}`); got != 401 {
				t.Errorf("removed key: %d", got)
			}
		})
	}
}

func TestNewFailsWithoutKeys(t *testing.T) {
	sec := newSecrets(t, "")
	sm, _ := sec.clients()
	_, _, err := function.New(context.Background(), function.Config{EventsTable: "e", KeysSecret: "wk", Refresh: time.Minute}, function.Clients{SecretsManager: sm}, nil)
	if err == nil || !strings.Contains(err.Error(), "no key") {
		t.Errorf("New with an empty secret: %v", err)
	}
	sec.set("", true)
	if _, _, err := function.New(context.Background(), function.Config{EventsTable: "e", KeysSecret: "wk", Refresh: time.Minute}, function.Clients{SecretsManager: sm}, nil); err == nil {
		t.Error("New with the secret failing")
	}
}

// flakyStore is a lake store whose reads fail while down is set.
type flakyStore struct {
	lake.Store
	down atomic.Bool
}

func (f *flakyStore) Get(ctx context.Context, key string) ([]byte, lake.Object, error) {
	if f.down.Load() {
		return nil, lake.Object{}, errors.New("injected: the bucket does not answer")
	}
	return f.Store.Get(ctx, key)
}

// TestFunctionSuppression builds the function with SUPPRESSION_BUCKET, as
// the stack deploys it, on a lake store holding a suppression list: the
// events of the forgotten user and visitor are answered as accepted but
// stored nowhere (DynamoDB, Firehose), others are stored, an actor forgotten
// while the function runs is dropped after the refresh, every drop is logged
// without the ID, and while the list was never loaded requests are answered
// 503 (nothing stored), then served once it loads.
func TestFunctionSuppression(t *testing.T) {
	env := dynamolocal.NewEnv(t)
	fh, err := firehoselocal.Start(firehoselocal.Options{Streams: []string{"lake"}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	folder, err := lake.NewFolderStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := lake.AddSuppression(ctx, folder, []lake.SuppressionEntry{{Hash: lake.UserHash("gone")}, {Hash: lake.AnonymousHash("a-gone")}}); err != nil {
		t.Fatal(err)
	}
	store := &flakyStore{Store: folder}
	store.down.Store(true)
	sec := newSecrets(t, `["wk"]`)
	sm, _ := sec.clients()
	vars := map[string]string{function.EnvEventsTable: env.EventsTable, function.EnvDeliveryStream: "lake", function.EnvRoutes: "page_view=lake",
		function.EnvWriteKeysSecret: "wk", function.EnvSuppressionBucket: "lake-bucket"}
	cfg, err := function.ConfigFromEnv(func(k string) string { return vars[k] })
	if err != nil || cfg.SuppressionBucket != "lake-bucket" {
		t.Fatalf("ConfigFromEnv = %+v, %v", cfg, err)
	}
	cfg.SuppressionRefresh = 50 * time.Millisecond
	if _, _, err := function.New(ctx, cfg, function.Clients{DynamoDB: env.Client, SecretsManager: sm}, nil); err == nil {
		t.Error("New without a store for the suppression list")
	}
	var logs syncBuffer
	h, _, err := function.New(ctx, cfg, function.Clients{DynamoDB: env.Client, Firehose: fh.Client(tracker.LakeClientOptions), SecretsManager: sm,
		SuppressionStore: store}, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	send := func(body string) int {
		resp, err := h.Handle(ctx, event(t, "/v1/track", "wk", body))
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode
	}
	if got := send(`{"userId":"kept","event":"login","messageId":"s-0"}`); got != 503 {
		t.Errorf("before the list ever loaded: %d, want 503", got)
	}
	store.down.Store(false)
	time.Sleep(60 * time.Millisecond)
	for _, body := range []string{
		`{"userId":"kept","event":"login","messageId":"s-1"}`,
		`{"userId":"gone","event":"login","messageId":"s-2"}`,
		`{"anonymousId":"a-gone","event":"login","messageId":"s-3"}`,
		`{"userId":"kept","anonymousId":"a-gone","event":"login","messageId":"s-4"}`, // the kept user's event
	} {
		if got := send(body); got != 200 {
			t.Errorf("%s: %d", body, got)
		}
	}
	for _, body := range []string{`{"userId":"gone","type":"page","messageId":"s-5","properties":{"url":"/"}}`,
		`{"anonymousId":"a-kept","type":"page","messageId":"s-6","properties":{"url":"/"}}`} {
		resp, err := h.Handle(ctx, event(t, "/v1/page", "wk", body))
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("page %s: %d %v", body, resp.StatusCode, err)
		}
	}
	// Forgotten while the function runs: dropped after the refresh.
	if _, err := lake.AddSuppression(ctx, folder, []lake.SuppressionEntry{{Hash: lake.UserHash("later")}}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	if got := send(`{"userId":"later","event":"login","messageId":"s-7"}`); got != 200 {
		t.Errorf("later: %d", got)
	}

	tr, _ := tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable})
	for user, want := range map[string]string{"kept": "s-1 s-4", "gone": "", "later": ""} {
		page, err := tr.Recent(ctx, user, tracker.RecentOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range page.Events {
			ids = append(ids, e.ID)
		}
		slices.Sort(ids)
		if got := strings.Join(ids, " "); got != want {
			t.Errorf("DynamoDB holds %q of %s, want %q", got, user, want)
		}
	}
	if page, err := tr.RecentAnonymous(ctx, "a-gone", tracker.RecentOptions{}); err != nil || len(page.Events) != 0 {
		t.Errorf("DynamoDB holds %d events of the forgotten visitor (%v)", len(page.Events), err)
	}
	if err := fh.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if lines := fh.MemorySink().Lines(); len(lines) != 1 || !strings.Contains(string(lines[0]), `"event_id":"s-6"`) {
		t.Errorf("Firehose holds %q, want s-6 only", lines)
	}
	if n := strings.Count(logs.String(), lake.LogMessageSuppressed); n != 4 {
		t.Errorf("%d drops logged, want 4:\n%s", n, logs.String())
	}
	for _, id := range []string{`"gone"`, `"a-gone"`, `"later"`} {
		if strings.Contains(logs.String(), id) {
			t.Errorf("the logs name %s", id)
		}
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
