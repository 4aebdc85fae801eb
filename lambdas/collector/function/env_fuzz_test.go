package function_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/lambdas/collector/function"
	"github.com/eventlake/eventlake/tracker"
)

// FuzzConfigFromEnv: whatever the environment, ConfigFromEnv either fails
// naming every variable that is wrong on its own (and the missing table or
// key source), or returns the configuration the variables say: the table,
// exactly one key source, a positive refresh (5m unset), routes of
// non-empty types to hot or lake, the IP policy, a retention of exactly
// RETENTION_DAYS days (never negative), lists without empty items. It
// fails exactly when one variable is wrong on its own, the table is
// missing or not exactly one key source is set.
func FuzzConfigFromEnv(f *testing.F) {
	f.Add("events", "", "", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:wk-AbCdEf", "", "", "", "", "", "", "", "")
	f.Add("events", "stream", "page_view=lake, click=lake,login=hot", "", "/eventlake/write-keys", "1m", "https://a.example,https://b.example",
		"10.0.0.0/8", `{"Checkout Done":"purchase"}`, "anonymize", "180", "lake-bucket")
	f.Add("", "", "page_view=cold,x,=lake,a=lake=b", "s", "p", "soon", ",,", " , ", "[1]", "hide", "-1", "")
	f.Add("e", "", ",", "s", "", "0s", "", "", "null", "drop", "106752", "")
	f.Add("e", "", "a=hot,a=lake", "s", "", "-5m", "x", "y", `{"a":1}`, "keep", "9223372036854775807", "")
	f.Add("e", "", "", "s", "", "1h1ns", "", "", `{}`, "KEEP", "+7", "")
	f.Add("events", "", "", "s", "", "", "", "", "", "", "106752", "") // once wrapped around to a negative retention
	f.Add("events", "", "", "", "p", "", "", "", "", "", "213503", "") // once -23h34m
	vars := []string{function.EnvEventsTable, function.EnvDeliveryStream, function.EnvRoutes, function.EnvWriteKeysSecret, function.EnvWriteKeysParameter,
		function.EnvWriteKeysRefresh, function.EnvAllowedOrigins, function.EnvTrustedProxies, function.EnvEventNames, function.EnvIPPolicy,
		function.EnvRetentionDays, function.EnvSuppressionBucket}
	f.Fuzz(func(t *testing.T, table, stream, routes, secret, parameter, refresh, origins, proxies, names, policy, days, bucket string) {
		values := []string{table, stream, routes, secret, parameter, refresh, origins, proxies, names, policy, days, bucket}
		env := map[string]string{}
		for i, v := range values {
			env[vars[i]] = v
		}
		// Each variable alone, with a table and a key source.
		var wrongAlone []string
		for i, name := range vars {
			switch name {
			case function.EnvEventsTable, function.EnvWriteKeysSecret, function.EnvWriteKeysParameter:
				continue
			}
			alone := map[string]string{function.EnvEventsTable: "events", function.EnvWriteKeysSecret: "s", name: values[i]}
			if _, err := function.ConfigFromEnv(envOf(alone)); err != nil {
				wrongAlone = append(wrongAlone, name)
			}
		}
		if table == "" {
			wrongAlone = append(wrongAlone, function.EnvEventsTable)
		}
		if (secret == "") == (parameter == "") {
			wrongAlone = append(wrongAlone, function.EnvWriteKeysSecret, function.EnvWriteKeysParameter)
		}
		cfg, err := function.ConfigFromEnv(envOf(env))
		if err != nil {
			if len(wrongAlone) == 0 {
				t.Fatalf("ConfigFromEnv(%q) = %v, yet no variable is wrong on its own", env, err)
			}
			for _, name := range wrongAlone {
				if !strings.Contains(err.Error(), name) {
					t.Fatalf("ConfigFromEnv(%q) = %v: does not name %s", env, err, name)
				}
			}
			return
		}
		if len(wrongAlone) > 0 {
			t.Fatalf("ConfigFromEnv(%q) accepted %v, wrong on their own: %+v", env, wrongAlone, cfg)
		}
		if cfg.EventsTable != table || cfg.DeliveryStream != stream || cfg.KeysSecret != secret || cfg.KeysParameter != parameter ||
			cfg.SuppressionBucket != bucket || (cfg.KeysSecret == "") == (cfg.KeysParameter == "") {
			t.Fatalf("ConfigFromEnv(%q) = %+v", env, cfg)
		}
		wantRefresh := function.DefaultRefresh
		if refresh != "" {
			wantRefresh, _ = time.ParseDuration(refresh)
		}
		if cfg.Refresh != wantRefresh || cfg.Refresh <= 0 {
			t.Fatalf("%s=%q: refresh %v", function.EnvWriteKeysRefresh, refresh, cfg.Refresh)
		}
		if routes == "" && cfg.Routes != nil {
			t.Fatalf("routes %v without %s", cfg.Routes, function.EnvRoutes)
		}
		for typ, r := range cfg.Routes {
			if typ == "" || strings.ContainsAny(typ, ",=") || typ != strings.TrimSpace(typ) || r != tracker.RouteHot && r != tracker.RouteLake ||
				!strings.Contains(routes, typ+"="+string(r)) {
				t.Fatalf("%s=%q: route %q=%q", function.EnvRoutes, routes, typ, r)
			}
		}
		if want := map[string]tracker.IPPolicy{"": tracker.IPKeep, "keep": tracker.IPKeep, "anonymize": tracker.IPAnonymize, "drop": tracker.IPDrop}; want[policy] != cfg.IPPolicy {
			t.Fatalf("%s=%q: policy %v", function.EnvIPPolicy, policy, cfg.IPPolicy)
		}
		n, _ := strconv.Atoi(days)
		if cfg.Retention < 0 || cfg.Retention%(24*time.Hour) != 0 || int(cfg.Retention/(24*time.Hour)) != n {
			t.Fatalf("%s=%q: retention %v, not %d days", function.EnvRetentionDays, days, cfg.Retention, n)
		}
		for _, l := range []struct {
			v    string
			list []string
		}{{origins, cfg.AllowedOrigins}, {proxies, cfg.TrustedProxies}} {
			for _, item := range l.list {
				if item == "" || item != strings.TrimSpace(item) || strings.Contains(item, ",") || !strings.Contains(l.v, item) {
					t.Fatalf("the list %q has the item %q", l.v, item)
				}
			}
			want := 0 // the items that are not only spaces
			for _, s := range strings.Split(l.v, ",") {
				if strings.TrimSpace(s) != "" {
					want++
				}
			}
			if len(l.list) != want {
				t.Fatalf("the list %q has %d items: %q", l.v, len(l.list), l.list)
			}
		}
		if names != "" {
			var want map[string]string
			json.Unmarshal([]byte(names), &want)
			if len(want) != len(cfg.EventNames) {
				t.Fatalf("%s=%q: %v", function.EnvEventNames, names, cfg.EventNames)
			}
			for k, v := range want {
				if cfg.EventNames[k] != v {
					t.Fatalf("%s=%q: %v", function.EnvEventNames, names, cfg.EventNames)
				}
			}
		}
	})
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
