// Package clitest runs a command's main in a child process of its test
// binary, as a shell would, to check its exit status and output: the three
// commands under scripts/ test their exit codes (0 success, 1 failure, 2 bad
// usage) with it.
//
//	func TestMainExitStatus(t *testing.T) {
//		clitest.ServeMain("EVENTLAKE_DEMO_MAIN_ARGS", "demo", main) // in the child: run main, never return
//		clitest.Check(t, "EVENTLAKE_DEMO_MAIN_ARGS", []clitest.Case{{Args: "-h", Want: []string{"usage:"}}})
//	}
package clitest

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Case is one run of main: its arguments (split on white space), an extra
// environment variable (NAME=value; empty: none), the exit status it must
// end with and texts its combined output must contain.
type Case struct {
	Args   string
	Env    string
	Status int
	Want   []string
}

// ServeMain runs main with the arguments in the environment variable
// envVar when it is set (the child process Check starts), with name as
// os.Args[0], and exits with 99 if main returns (a command's main always
// exits). Without envVar it returns at once: call it first in the test.
func ServeMain(envVar, name string, main func()) {
	args, ok := os.LookupEnv(envVar)
	if !ok {
		return
	}
	os.Args = append([]string{name}, strings.Fields(args)...)
	main()
	os.Exit(99)
}

// Run starts the running test again in a child process (-test.run of the
// test's top-level name) with envVar set to args and env added, and
// returns its exit status and combined output. It fails t when the child
// cannot be started.
func Run(t testing.TB, envVar, args string, env ...string) (int, string) {
	t.Helper()
	top, _, _ := strings.Cut(t.Name(), "/")
	cmd := exec.Command(os.Args[0], "-test.run=^"+top+"$")
	cmd.Env = append(append(os.Environ(), envVar+"="+args), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	case err != nil:
		t.Fatal(err)
	}
	return 0, string(out)
}

// Check runs each case as a subtest named by its arguments: the exit
// status must be the case's, and the output must contain each wanted
// text. check, when not nil, is called with each case's output for the
// caller's own assertions.
func Check(t *testing.T, envVar string, cases []Case, check ...func(t *testing.T, c Case, out string)) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Args, func(t *testing.T) {
			var env []string
			if c.Env != "" {
				env = append(env, c.Env)
			}
			status, out := Run(t, envVar, c.Args, env...)
			if status != c.Status {
				t.Fatalf("exit status %d, want %d; output:\n%s", status, c.Status, out)
			}
			for _, w := range c.Want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, f := range check {
				f(t, c, out)
			}
		})
	}
}
