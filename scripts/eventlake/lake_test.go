package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/internal/cli"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/laketest"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/tracker"
)

func countLocal(t *testing.T, root, sql string) int {
	t.Helper()
	db, err := local.Open(context.Background(), local.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	res, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := strconv.Atoi(res.Rows[0][0].String)
	return n
}

// TestLakeCommandsLocal runs compact, forget and expire on a local lake
// and DynamoDB Local, as an operator would.
func TestLakeCommandsLocal(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	events := laketest.Generate(laketest.Config{End: today, Days: 6, Users: 4, Visitors: 4})
	deliveries := laketest.Deliveries(events, 0.05, 1)
	if _, err := laketest.WriteLake(ctx, root, deliveries, 10, athena.FormatParquet); err != nil {
		t.Fatal(err)
	}
	env := dynamolocal.NewEnv(t)
	tr, err := tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable, SummaryTable: env.SummaryTable})
	if err != nil {
		t.Fatal(err)
	}
	hotOf := func(user string) (n int) {
		for _, e := range events {
			if e.UserID == user {
				n++
			}
		}
		return n
	}
	for _, e := range events {
		if e.UserID != "u0002" && e.UserID != "u0003" {
			continue
		}
		when, _ := time.Parse(tracker.TimeLayout, e.EventAt)
		if err := tr.Put(ctx, tracker.Event{UserID: e.UserID, AnonymousID: e.AnonymousID, Type: e.EventType, At: when, ID: e.EventID}); err != nil {
			t.Fatal(err)
		}
	}

	// compact: every day before today; a re-run does nothing.
	err, out, errs := runCmd(t, "compact", "-local", root)
	if err != nil {
		t.Fatalf("compact: %v\n%s", err, errs)
	}
	if !strings.Contains(out, "rewritten") || !strings.Contains(errs, "days rewritten") || !strings.Contains(errs, "duplicates removed") {
		t.Errorf("compact output:\n%s\n%s", out, errs)
	}
	// The identity links of the days before yesterday are materialized.
	yesterday := today.AddDate(0, 0, -1).Format(tracker.DateLayout)
	if !strings.Contains(errs, "links before "+yesterday+" materialized (run ") {
		t.Errorf("compact did not report the identity links:\n%s", errs)
	}
	if n := countLocal(t, root, "SELECT count(*) FROM events WHERE dt < '"+today.Format(tracker.DateLayout)+"'"); n != countLocal(t, root, "SELECT count(*) FROM events_dedup WHERE dt < '"+today.Format(tracker.DateLayout)+"'") {
		t.Errorf("after compact: events (%d) differs from events_dedup", n)
	}
	err, _, errs = runCmd(t, "compact", "-local", root, "-json")
	if err != nil || !strings.Contains(errs, "0 days rewritten") || !strings.Contains(errs, "identities: the materialization ") ||
		!strings.Contains(errs, "is current") {
		t.Errorf("compact again: %v\n%s", err, errs)
	}

	// forget: one user, with the IDs read from a file.
	ids := filepath.Join(t.TempDir(), "ids")
	if err := os.WriteFile(ids, []byte("u0002\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err, out, errs = runCmd(t, "forget", "-local", root, "-dynamodb-endpoint", env.Server.Endpoint,
		"-events-table", env.EventsTable, "-summary-table", env.SummaryTable, "-settle", "0", "-ids-from", ids, "-request", "ticket-7", "-json")
	if err != nil {
		t.Fatalf("forget: %v\n%s", err, errs)
	}
	var res lake.ForgetResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("forget -json: %v\n%s", err, out)
	}
	if res.Request != "ticket-7" || res.Remaining != 0 || res.Hot.EventsDeleted != hotOf("u0002") || res.RowsRemoved() == 0 {
		t.Errorf("forget: %+v\n%s", res, errs)
	}
	if !strings.Contains(errs, "forgot 1 users") || strings.Contains(errs, "u0002") || !strings.Contains(errs, "links before "+yesterday+" materialized") {
		t.Errorf("forget summary (must not name the user):\n%s", errs)
	}
	if n := countLocal(t, root, "SELECT count(*) FROM events WHERE user_id = 'u0002'"); n != 0 {
		t.Errorf("%d events of u0002 left", n)
	}
	if n := countLocal(t, root, "SELECT count(*) FROM events WHERE user_id = 'u0003'"); n != hotOf("u0003") {
		t.Errorf("u0003 has %d events, want %d", n, hotOf("u0003"))
	}

	// expire: keep 3 days.
	firstKept := today.AddDate(0, 0, -2).Format(tracker.DateLayout)
	err, _, errs = runCmd(t, "expire", "-local", root, "-max-age-days", "3", "-dry-run")
	if err != nil || !strings.Contains(errs, "would drop 3 days") {
		t.Errorf("expire -dry-run: %v\n%s", err, errs)
	}
	err, _, errs = runCmd(t, "expire", "-local", root, "-max-age-days", "3")
	if err != nil || !strings.Contains(errs, "dropped 3 days") || !strings.Contains(errs, "days before "+firstKept) {
		t.Errorf("expire: %v\n%s", err, errs)
	}
	if n := countLocal(t, root, "SELECT count(*) FROM events WHERE dt < '"+firstKept+"'"); n != 0 {
		t.Errorf("%d events before %s after expire", n, firstKept)
	}
}

// TestLakeCommandsAWS runs the commands against S3 and Athena endpoints (the
// laketest servers, with the real SDK clients the command builds).
func TestLakeCommandsAWS(t *testing.T) {
	ctx := context.Background()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	// gofakes3 reads no trailing checksums.
	t.Setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
	t.Setenv("AWS_RESPONSE_CHECKSUM_VALIDATION", "when_required")
	s3 := laketest.NewS3(t, "lake-bucket")
	fa := laketest.NewAthena(t, s3)
	root := t.TempDir()
	today := time.Now().UTC().Truncate(24 * time.Hour)
	events := laketest.Generate(laketest.Config{End: today.AddDate(0, 0, -1), Days: 3, Users: 8, Visitors: 8})
	days := map[string]bool{}
	for _, e := range events {
		days[e.Day()] = true
	}
	if len(days) != 3 {
		t.Fatalf("the history covers %d days, want 3", len(days))
	}
	if _, err := laketest.WriteLake(ctx, root, laketest.Deliveries(events, 0.1, 4), 10, athena.FormatParquet); err != nil {
		t.Fatal(err)
	}
	if _, err := s3.PutFolder(ctx, root); err != nil {
		t.Fatal(err)
	}
	aws := []string{"-bucket", "lake-bucket", "-s3-endpoint", s3.Server.URL, "-athena-endpoint", fa.URL}
	err, out, errs := runCmd(t, append([]string{"compact"}, aws...)...)
	if err != nil || !strings.Contains(errs, "compact s3://lake-bucket: 3 days rewritten") || !strings.Contains(out, "rewritten") {
		t.Fatalf("compact: %v\n%s\n%s", err, out, errs)
	}
	objs, err := s3.Store.List(ctx, "events/")
	if err != nil || len(objs) != 3 {
		t.Errorf("objects after compact: %v %v", objs, err)
	}
	err, _, errs = runCmd(t, append(append([]string{"forget", "-no-hot-store", "-settle", "0"}, aws...), "u0001")...)
	if err != nil || !strings.Contains(errs, "left;") || !strings.Contains(errs, "the hot store was left alone") {
		t.Errorf("forget: %v\n%s", err, errs)
	}
	res, err := fa.Runner().Execute(ctx, "SELECT count(*) FROM events WHERE user_id = 'u0001'", nil)
	if err != nil || res.Rows[0][0].String != "0" {
		t.Errorf("u0001 after forget: %v %v", res, err)
	}
	err, _, errs = runCmd(t, append([]string{"expire", "-max-age-days", "1", "-purge-versions"}, aws...)...)
	if err != nil || !strings.Contains(errs, "dropped 3 days") {
		t.Errorf("expire: %v\n%s", err, errs)
	}
	if vs, _ := s3.Store.Versions(ctx, "events/"); len(vs) != 0 {
		t.Errorf("versions left after expire -purge-versions: %d", len(vs))
	}
}

func TestLakeCommandUsage(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	os.WriteFile(file, nil, 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"compact"}, "no lake: give -local DIR or -bucket NAME"},
		{[]string{"compact", "-local", dir, "-bucket", "b"}, "-local and -bucket: choose one"},
		{[]string{"compact", "-local", filepath.Join(dir, "nope")}, "no such lake folder"},
		{[]string{"compact", "-local", file}, "not a folder"},
		{[]string{"compact", "-bucket", "s3://b/x"}, "the bucket's name, not a URL"},
		{[]string{"compact", "-local", dir, "-format", "csv"}, `-format "csv"`},
		{[]string{"compact", "-local", dir, "-target-size", "12 MB"}, `-target-size "12 MB"`},
		{[]string{"compact", "-local", dir, "-target-size", "10KiB"}, "want 1MiB to 5GiB"},
		{[]string{"compact", "-local", dir, "2026-13-01"}, `day "2026-13-01"`},
		{[]string{"compact", "-local", dir, "-before", "2026-11-01", "2026-11-01"}, "-before applies when no days are given"},
		{[]string{"compact", "-local", dir, "-lock-ttl", "1s"}, "-lock-ttl 1s"},
		{[]string{"forget", "-local", dir, "u1"}, "-local needs -dynamodb-endpoint"},
		{[]string{"forget", "-local", dir, "-no-hot-store"}, "no user ID given"},
		{[]string{"forget", "-bucket", "b", "u1"}, "-events-table and -summary-table are required"},
		{[]string{"forget", "-local", dir, "-no-hot-store", "-events-table", "t", "u1"}, "-no-hot-store with DynamoDB flags"},
		{[]string{"forget", "-local", dir, "-no-hot-store", "-ids-from", filepath.Join(dir, "nope")}, "-ids-from"},
		{[]string{"forget", "-local", dir, "-no-hot-store", "-request", "a b", "u1"}, `request "a b"`},
		{[]string{"forget", "-local", dir, "-no-hot-store", "u1", "-dry-run"}, `"-dry-run" after the first user ID`},
		{[]string{"expire", "-local", dir}, "-max-age-days 0"},
		{[]string{"expire", "-local", dir, "-max-age-days", "3", "extra"}, "unexpected arguments"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			err, _, _ := runCmd(t, c.args...)
			var usage cli.UsageError
			if !errors.As(err, &usage) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: %v, want a usage error with %q", c.args, err, c.want)
			}
		})
	}
}

// TestLakeCommandsExitStatus runs main in a child process: 0 for an empty
// lake, 2 for a bad command line.
func TestLakeCommandsExitStatus(t *testing.T) {
	if args, ok := os.LookupEnv("EVENTLAKE_LAKE_ARGS"); ok {
		os.Args = append([]string{"eventlake"}, strings.Fields(args)...)
		main()
		os.Exit(99)
	}
	empty := t.TempDir()
	for _, c := range []struct {
		args   string
		status int
		want   string
	}{
		{"compact -local " + empty, 0, "0 days rewritten"},
		{"expire -local " + empty + " -max-age-days 30", 0, "dropped 0 days"},
		{"compact -h", 0, "usage: eventlake compact"},
		{"forget -local " + empty, 2, "eventlake: -local needs -dynamodb-endpoint"},
	} {
		t.Run(c.args, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestLakeCommandsExitStatus$")
			cmd.Env = append(os.Environ(), "EVENTLAKE_LAKE_ARGS="+c.args)
			out, err := cmd.CombinedOutput()
			status := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				status = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != c.status || !strings.Contains(string(out), c.want) {
				t.Errorf("exit status %d (want %d), output:\n%s", status, c.status, out)
			}
		})
	}
}
