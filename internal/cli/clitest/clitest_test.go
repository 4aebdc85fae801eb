package clitest

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// fakeMain prints its arguments and exits with the status its first one
// names, or returns (which ServeMain turns into 99).
func fakeMain() {
	fmt.Println("args:", strings.Join(os.Args, " "), "env:", os.Getenv("CLITEST_EXTRA"))
	if len(os.Args) > 1 {
		if n, err := strconv.Atoi(os.Args[1]); err == nil {
			os.Exit(n)
		}
	}
}

func TestCheck(t *testing.T) {
	ServeMain("CLITEST_ARGS", "fake", fakeMain)
	var seen []string
	Check(t, "CLITEST_ARGS", []Case{
		{Args: "0 a", Status: 0, Want: []string{"args: fake 0 a env: \n"}},
		{Args: "2", Env: "CLITEST_EXTRA=x", Status: 2, Want: []string{"env: x"}},
		{Args: "returns", Status: 99},
	}, func(t *testing.T, c Case, out string) { seen = append(seen, c.Args) })
	if strings.Join(seen, ",") != "0 a,2,returns" {
		t.Errorf("check called for %q", seen)
	}
	if status, out := Run(t, "CLITEST_ARGS", "7"); status != 7 || !strings.Contains(out, "args: fake 7") {
		t.Errorf("Run: %d %q", status, out)
	}
}
