package summary_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/lambdas/summarize/summary"
)

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// FuzzWindowFromEnv: SUMMARY_WINDOW_SECONDS is DefaultWindow when unset, a
// whole number of seconds from 1 to 900 (as strconv reads a decimal int)
// when it is one, and an error naming the variable otherwise; New accepts
// every window it returns.
func FuzzWindowFromEnv(f *testing.F) {
	for _, s := range []string{"", "60", "1", "900", "0", "901", "-1", "+5", "007", "1m", "60s", " 60", "1e2", "9223372036854775808", "٣"} {
		f.Add(s)
	}
	db := dynamodb.New(dynamodb.Options{Region: "eu-west-1"})
	f.Fuzz(func(t *testing.T, v string) {
		w, err := summary.WindowFromEnv(envOf(map[string]string{summary.EnvWindowSeconds: v}))
		n, perr := strconv.Atoi(v)
		switch {
		case v == "":
			if err != nil || w != summary.DefaultWindow {
				t.Fatalf("unset: %v, %v", w, err)
			}
		case perr != nil || n < 1 || n > 900:
			if err == nil || !strings.Contains(err.Error(), summary.EnvWindowSeconds) {
				t.Fatalf("WindowFromEnv(%q) = %v, %v; want an error naming %s", v, w, err, summary.EnvWindowSeconds)
			}
			return
		case err != nil || w != time.Duration(n)*time.Second:
			t.Fatalf("WindowFromEnv(%q) = %v, %v; want %ds", v, w, err, n)
		}
		if w < time.Second || w > summary.MaxWindow || w%time.Second != 0 {
			t.Fatalf("WindowFromEnv(%q) = %v, out of range", v, w)
		}
		if _, err := summary.New(db, summary.Config{SummaryTable: "s", Window: w}); err != nil {
			t.Fatalf("WindowFromEnv(%q) = %v, which New refuses: %v", v, w, err)
		}
	})
}

// FuzzConfigFromEnv: whatever the environment, ConfigFromEnv either
// returns a Config within the documented bounds (the window 1 to 900 whole
// seconds, MAX_STATE_BYTES at most MaxStateLimit, WRITE_CONCURRENCY and the
// durations positive, each equal to what its variable says) that New
// accepts, or an error naming a variable that is wrong on its own. It fails
// exactly when the table's name is missing or one variable is wrong on its
// own.
func FuzzConfigFromEnv(f *testing.F) {
	f.Add("summary", "60", "800000", "16", "1s", "100ms", "5s")
	f.Add("s", "", "", "", "", "", "")
	f.Add("", "0", "1000001", "0", "0s", "-1s", "soon")
	f.Add("s", "900", "1000000", "1", "1ns", "1h", "9223372036s")
	f.Add("s", "901", "-5", "9999999999999999999", "1e3s", "1.5s", " 5s")
	f.Add("s", "+60", "0800000", "+16", "1h1m1s1ms1us1ns", "5µs", ".5s")
	db := dynamodb.New(dynamodb.Options{Region: "eu-west-1"})
	vars := []string{summary.EnvSummaryTableName, summary.EnvWindowSeconds, summary.EnvMaxStateBytes, summary.EnvWriteConcurrency,
		summary.EnvSafetyMargin, summary.EnvBackoffBase, summary.EnvBackoffMax}
	f.Fuzz(func(t *testing.T, table, window, stateBytes, concurrency, margin, base, maxBackoff string) {
		values := []string{table, window, stateBytes, concurrency, margin, base, maxBackoff}
		env := map[string]string{}
		for i, v := range values {
			env[vars[i]] = v
		}
		// Each variable alone, with the table named.
		wrongAlone := map[string]bool{summary.EnvSummaryTableName: table == ""}
		for i, name := range vars[1:] {
			_, err := summary.ConfigFromEnv(envOf(map[string]string{summary.EnvSummaryTableName: "s", name: values[i+1]}))
			wrongAlone[name] = err != nil
		}
		cfg, err := summary.ConfigFromEnv(envOf(env))
		if err != nil {
			named := false
			for name, wrong := range wrongAlone {
				named = named || wrong && strings.Contains(err.Error(), name)
			}
			if !named {
				t.Fatalf("ConfigFromEnv(%q) = %v: names no variable that is wrong (%v)", env, err, wrongAlone)
			}
			return
		}
		for name, wrong := range wrongAlone {
			if wrong {
				t.Fatalf("ConfigFromEnv(%q) accepted %s=%q, refused on its own: %+v", env, name, env[name], cfg)
			}
		}
		if cfg.SummaryTable != table {
			t.Fatalf("table %q, want %q", cfg.SummaryTable, table)
		}
		wantWindow := summary.DefaultWindow
		if window != "" {
			n, _ := strconv.Atoi(window)
			wantWindow = time.Duration(n) * time.Second
		}
		if cfg.Window != wantWindow || cfg.Window < time.Second || cfg.Window > summary.MaxWindow || cfg.Window%time.Second != 0 {
			t.Fatalf("SUMMARY_WINDOW_SECONDS=%q: window %v", window, cfg.Window)
		}
		for _, c := range []struct {
			name, v string
			got     int
			max     int
		}{{summary.EnvMaxStateBytes, stateBytes, cfg.MaxStateBytes, summary.MaxStateLimit}, {summary.EnvWriteConcurrency, concurrency, cfg.WriteConcurrency, int(^uint(0) >> 1)}} {
			n, _ := strconv.Atoi(c.v)
			if c.v == "" && c.got != 0 || c.v != "" && (c.got != n || n < 1 || n > c.max) {
				t.Fatalf("%s=%q: %d, want 1..%d", c.name, c.v, c.got, c.max)
			}
		}
		for _, d := range []struct {
			name, v string
			got     time.Duration
		}{{summary.EnvSafetyMargin, margin, cfg.SafetyMargin}, {summary.EnvBackoffBase, base, cfg.BackoffBase}, {summary.EnvBackoffMax, maxBackoff, cfg.BackoffMax}} {
			want, _ := time.ParseDuration(d.v)
			if d.got != want || d.v != "" && d.got <= 0 {
				t.Fatalf("%s=%q: %v, want a positive %v", d.name, d.v, d.got, want)
			}
		}
		if _, err := summary.New(db, cfg); err != nil {
			t.Fatalf("ConfigFromEnv(%q) accepted %+v, New refuses it: %v", env, cfg, err)
		}
	})
}
