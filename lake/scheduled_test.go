package lake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/laketest"
)

func TestScheduledConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	ok := map[string]string{lake.EnvLakeBucket: "b", lake.EnvWorkGroup: "wg", lake.EnvDatabase: "db"}
	c, err := lake.ScheduledConfigFromEnv(env(ok))
	if err != nil || c.Format != athena.FormatParquet || c.Bucket != "b" || c.TargetFileBytes != 0 {
		t.Errorf("%+v %v", c, err)
	}
	_, err = lake.ScheduledConfigFromEnv(env(map[string]string{lake.EnvFormat: "csv", lake.EnvTargetFileBytes: "12"}))
	for _, want := range []string{"LAKE_BUCKET is not set", "ATHENA_WORKGROUP is not set", "GLUE_DATABASE is not set", `LAKE_FORMAT="csv"`, `TARGET_FILE_BYTES="12"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestCompactScheduled(t *testing.T) {
	ctx := context.Background()
	var logs bytes.Buffer
	ll := newLocalLake(t, lake.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	events := laketest.Generate(laketest.Config{End: testEnd, Days: 3, Users: 6, Visitors: 6})
	if _, err := laketest.WriteLake(ctx, ll.root, laketest.Deliveries(events, 0.1, 1), 10, athena.FormatParquet); err != nil {
		t.Fatal(err)
	}
	summary := func() map[string]any {
		t.Helper()
		var last map[string]any
		for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == lake.LogMessageCompaction {
				last = m
			}
		}
		if last == nil {
			t.Fatalf("no summary line in\n%s", logs.String())
		}
		return last
	}
	// The Lambda's deadline is a minute away, but the lake's clock (testEnd
	// + 36h) is long before it minus the day budget: every day runs.
	short, cancel := context.WithDeadline(ctx, time.Now().Add(time.Minute))
	defer cancel()
	res, err := ll.lake.CompactScheduled(short)
	if err != nil {
		t.Fatal(err)
	}
	if res.DaysCompacted != 3 || res.DaysRemaining != 0 || summary()[lake.LogFieldDaysCompacted] != float64(3) {
		t.Errorf("%+v, summary %v", res, summary())
	}
	if summary()[lake.LogFieldDuplicates].(float64) == 0 {
		t.Errorf("no duplicates counted: %v", summary())
	}
	// The identity links of the days before yesterday (testEnd).
	if s := summary(); res.Identities != "materialized" || s[lake.LogFieldIdentities] != "materialized" ||
		s[lake.LogFieldIdentitiesWatermark] != testEnd.Format("2006-01-02") || s[lake.LogFieldIdentitiesLinks].(float64) == 0 {
		t.Errorf("identities: %+v, summary %v", res, s)
	}
	// A clock past the deadline: no day is started.
	late := newLocalLake(t, lake.Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if _, err := laketest.WriteLake(ctx, late.root, events, 10, athena.FormatParquet); err != nil {
		t.Fatal(err)
	}
	res, err = late.lake.CompactScheduled(short)
	if err != nil || res.DaysCompacted != 0 || res.DaysRemaining != 3 || summary()[lake.LogFieldDaysRemaining] != float64(3) ||
		res.Identities != "deadline" || summary()[lake.LogFieldIdentities] != "deadline" {
		t.Errorf("past the deadline: %+v %v", res, err)
	}
	// A failed day fails the invocation (the Errors alarm).
	lake.SetHook(late.lake, func(step, day string) error { return errors.New("injected") })
	res, err = late.lake.CompactScheduled(ctx)
	if err == nil || res.DaysFailed != 3 || summary()["level"] != "ERROR" {
		t.Errorf("failing days: %+v %v", res, err)
	}
}
