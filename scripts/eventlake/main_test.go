package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	if args, ok := os.LookupEnv("EVENTLAKE_MAIN_ARGS"); ok {
		os.Args = append([]string{"eventlake"}, strings.Fields(args)...)
		main()
		os.Exit(99) // main always exits
	}
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
		t.Run(c.args, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], "-test.run=^TestMainExitStatus$")
			cmd.Env = append(os.Environ(), "EVENTLAKE_MAIN_ARGS="+c.args)
			out, err := cmd.CombinedOutput()
			status := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				status = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if status != c.status {
				t.Fatalf("exit status %d, want %d; output:\n%s", status, c.status, out)
			}
			for _, w := range c.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
