package relay_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/local/firehoselocal"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestConfigErrorsNameTheVariable: a bad setting is reported with the
// environment variable docs/lambda.md documents (and the Config field), by
// ConfigFromEnv and by New alike, and ConfigFromEnv accepts nothing that
// New refuses.
func TestConfigErrorsNameTheVariable(t *testing.T) {
	srv, err := firehoselocal.Start(firehoselocal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, tt := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{}, []string{relay.EnvDeliveryStreamName + " (Config.DeliveryStreamName) is not set"}},
		{map[string]string{relay.EnvRecordMaxBytes: "2000000"}, []string{"RECORD_MAX_BYTES=2000000 (Config.RecordMaxBytes) is outside 1..1024000", relay.EnvDeliveryStreamName}},
		{map[string]string{relay.EnvDeliveryStreamName: "s", relay.EnvRecordMaxBytes: "1024001"}, []string{"RECORD_MAX_BYTES=1024001 (Config.RecordMaxBytes) is outside 1..1024000"}},
		{map[string]string{relay.EnvDeliveryStreamName: "s", relay.EnvRecordMaxBytes: "0"}, []string{`RECORD_MAX_BYTES="0" is not a positive number of bytes`}},
		{map[string]string{relay.EnvDeliveryStreamName: "s", relay.EnvRecordMaxBytes: "big", relay.EnvCallTimeout: "10"},
			[]string{`RECORD_MAX_BYTES="big"`, `PUT_CALL_TIMEOUT="10" is not a positive duration`}},
		{map[string]string{relay.EnvDeliveryStreamName: "s", relay.EnvBackoffMax: "-1s"}, []string{`RETRY_BACKOFF_MAX="-1s"`}},
		{map[string]string{relay.EnvDeliveryStreamName: "s", relay.EnvSafetyMargin: "1000000h"}, []string{"SAFETY_MARGIN=1000000h0m0s (Config.SafetyMargin) is more than 15m0s"}},
	} {
		cfg, err := relay.ConfigFromEnv(envOf(tt.env))
		var ce *relay.ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("ConfigFromEnv(%v) = %+v, %v; want a *ConfigError", tt.env, cfg, err)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ConfigFromEnv(%v) = %v; want it to say %q", tt.env, err, w)
			}
		}
	}
	for _, tt := range []struct {
		cfg  relay.Config
		want string
	}{
		{relay.Config{}, "DELIVERY_STREAM_NAME (Config.DeliveryStreamName) is not set"},
		{relay.Config{DeliveryStreamName: "s", RecordMaxBytes: relay.MaxRecordBytes + 1}, "RECORD_MAX_BYTES=1024001 (Config.RecordMaxBytes) is outside 1..1024000"},
		{relay.Config{DeliveryStreamName: "s", RecordMaxBytes: -1}, "RECORD_MAX_BYTES=-1 (Config.RecordMaxBytes)"},
		{relay.Config{DeliveryStreamName: "s", CallTimeout: -time.Second}, "PUT_CALL_TIMEOUT=-1s (Config.CallTimeout) is negative"},
		{relay.Config{DeliveryStreamName: "s", RetryTimeout: -time.Second}, "Config.RetryTimeout -1s is negative"},
	} {
		_, err := relay.New(srv.Client(), tt.cfg)
		var ce *relay.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%+v) = %v; want a *ConfigError saying %q", tt.cfg, err, tt.want)
		}
	}
}

// FuzzConfigFromEnv: whatever the environment, ConfigFromEnv either fails
// naming a variable, or returns a Config that New accepts.
func FuzzConfigFromEnv(f *testing.F) {
	f.Add("events", "65536", "3s", "750ms", "20ms", "2s")
	f.Add("s", "2000000", "", "", "", "")
	f.Add("", "1", "1ns", "", "-1s", "9223372036s")
	f.Add("s", " 7", "1e3s", "0s", "1h", "0")
	srv, err := firehoselocal.Start(firehoselocal.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer srv.Close()
	client := srv.Client()
	vars := []string{relay.EnvDeliveryStreamName, relay.EnvRecordMaxBytes, relay.EnvCallTimeout, relay.EnvSafetyMargin, relay.EnvBackoffBase, relay.EnvBackoffMax}
	f.Fuzz(func(t *testing.T, stream, size, call, margin, base, maxBackoff string) {
		env := map[string]string{}
		for i, v := range []string{stream, size, call, margin, base, maxBackoff} {
			env[vars[i]] = v
		}
		cfg, err := relay.ConfigFromEnv(envOf(env))
		if err != nil {
			named := false
			for _, v := range vars {
				named = named || strings.Contains(err.Error(), v)
			}
			if !named {
				t.Fatalf("ConfigFromEnv(%q) = %v: names no variable", env, err)
			}
			return
		}
		if _, err := relay.New(client, cfg); err != nil {
			t.Fatalf("ConfigFromEnv(%q) accepted %+v, New refuses it: %v", env, cfg, err)
		}
	})
}
