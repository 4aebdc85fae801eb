package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/fakeathena"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
)

func runCmd(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	code = run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func testLake(t *testing.T) (string, *lakegen.Dataset) {
	t.Helper()
	root := t.TempDir()
	ds := lakegen.Generate(lakegen.Config{End: time.Now().UTC(), Days: 10, Users: 3})
	if _, err := ds.WriteNDJSON(root, lakegen.Layout{PerObject: 100}); err != nil {
		t.Fatal(err)
	}
	return root, ds
}

func TestList(t *testing.T) {
	code, out, _ := runCmd(t, "-list")
	if code != 0 {
		t.Fatalf("exit %d", code)
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
	if !strings.Contains(out, "as_of (date, an Athena varchar literal)") || !strings.Contains(out, "days (bigint, an Athena bigint literal)") {
		t.Errorf("-list does not document parameter literals:\n%s", out)
	}
}

func TestLocal(t *testing.T) {
	root, ds := testLake(t)
	code, out, errOut := runCmd(t, "-local", root, "active_users", ds.End)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 6 || !strings.HasPrefix(lines[0], "period  | days | active_users") || !strings.HasPrefix(lines[2], "daily   |    1 |") {
		t.Errorf("table output:\n%s", out)
	}
	if !strings.Contains(errOut, "data read: ") || !strings.Contains(errOut, "duckdb, local") {
		t.Errorf("stderr %q lacks the data read", errOut)
	}

	code, out, errOut = runCmd(t, "-local", root, "-format", "csv", "logins_per_day")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 8 || lines[0] != "day,logins" {
		t.Errorf("csv output:\n%s", out)
	}
}

func TestAthena(t *testing.T) {
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

	code, out, errOut := runCmd(t, "-endpoint", fake.URL, "-region", "eu-west-1", "-workgroup", "wg", "-format", "csv",
		"user_last_seen", ds.Start, ds.End)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
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

	code, _, errOut = runCmd(t, "-endpoint", fake.URL, "-region", "eu-west-1", "user_recent_activity", "u", "2026-01-01")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "usage: query"},
		{[]string{"nope"}, `unknown query "nope"`},
		{[]string{"active_users"}, "usage: query active_users <as_of:date>"},
		{[]string{"active_users", "22/11/2026"}, "as_of (date)"},
		{[]string{"-format", "xml", "logins_per_day"}, "-format"},
		{[]string{"-bogus"}, "flag provided but not defined"},
	}
	for _, tt := range tests {
		code, _, errOut := runCmd(t, tt.args...)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want 2 and %q", tt.args, code, errOut, tt.want)
		}
	}
}
