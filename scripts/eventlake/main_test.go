package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/internal/cli/clitest"
)

func runCmd(t *testing.T, args ...string) (err error, stdout, stderr string) {
	t.Helper()
	var out, errb strings.Builder
	err = run(context.Background(), args, &out, &errb)
	return err, out.String(), errb.String()
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		err, out, _ := runCmd(t, args...)
		if err != nil || !strings.Contains(out, "usage: eventlake <command>") {
			t.Errorf("%v: %v, %q", args, err, out)
		}
		for _, c := range commands {
			if !strings.Contains(out, "  "+c.name+" ") || !strings.Contains(out, "eventlake "+c.name+" "+c.args) {
				t.Errorf("%v does not list %s:\n%s", args, c.name, out)
			}
		}
	}
	// help <command> is the command's -h, on standard output.
	err, out, _ := runCmd(t, "help", "query")
	if err == nil || !strings.Contains(out, "usage: eventlake query") || !strings.Contains(out, "-local") {
		t.Errorf("help query: %v, %q", err, out)
	}
}

// TestMainExitStatus runs main in a child process, as a shell would: 0 for
// success and help, 2 for a bad command line, 1 for a failure.
func TestMainExitStatus(t *testing.T) {
	clitest.ServeMain("EVENTLAKE_MAIN_ARGS", "eventlake", main)
	empty := t.TempDir()
	corrupt := t.TempDir()
	part := filepath.Join(corrupt, "events", "dt="+time.Now().UTC().Format("2006-01-02"))
	if err := os.MkdirAll(part, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(part, "x.gz"), []byte("not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(empty, "nope")
	var cases []clitest.Case
	for _, c := range []struct {
		args   string
		status int
		want   []string
	}{
		{"help", 0, []string{"usage: eventlake <command>"}},
		{"-h", 0, []string{"usage: eventlake <command>"}},
		{"help query", 0, []string{"usage: eventlake query"}},
		{"query -h", 0, []string{"usage: eventlake query"}},
		{"query -list", 0, []string{"rotting_accounts <since:date> <as_of:date> <days:bigint>"}},
		{"query -local " + empty + " logins_per_day", 0, []string{"(7 rows)"}},
		{"", 2, []string{"eventlake: no command given"}},
		{"frobnicate", 2, []string{`eventlake: unknown command "frobnicate"`}},
		{"help frobnicate", 2, []string{`unknown command "frobnicate"`}},
		{"query -nosuchflag", 2, []string{"flag provided but not defined: -nosuchflag"}},
		{"query -local " + missing + " logins_per_day", 2, []string{"-local " + missing + ": no such lake folder"}},
		{"query -local " + empty + " rotting_accounts 2026-11-01 2026-11-29 9223372036854775807", 2,
			[]string{"days (bigint): 9223372036854775807 is outside 0..3650"}},
		{"query -local " + empty + " -format xml -raw logins_per_day", 2, []string{`-format "xml"`}},
		{"query -local " + empty + " -raw logins_per_day", 2, []string{"-raw applies to -format csv"}},
		{"query -local " + corrupt + " logins_per_day", 1, []string{"eventlake: ", "GZIP"}},
	} {
		cases = append(cases, clitest.Case{Args: c.args, Env: "", Status: c.status, Want: c.want})
	}
	clitest.Check(t, "EVENTLAKE_MAIN_ARGS", cases)
}
