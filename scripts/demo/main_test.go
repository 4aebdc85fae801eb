package main

import (
	"strings"
	"testing"

	"github.com/eventlake/eventlake/internal/cli/clitest"
)

// TestPrintActivityIsSafe: client-controlled text in a user's events (a
// user agent that writes the clipboard, a URL that clears the screen or
// forges a line) is printed as visible text, one line per event.
func TestPrintActivityIsSafe(t *testing.T) {
	rows := []row{
		{EventAt: "2026-11-22T10:00:00.000Z", EventType: "login", IPAddress: "192.0.2.1", UserAgent: "curl\x1b]52;c;ZXZpbA==\x07"},
		{EventAt: "2026-11-22T10:01:00.000Z", EventType: "page_view", Attributes: map[string]string{"url": "/x\x1b[2J\r\n2026-11-22 10:02:00  admin"}},
		{EventAt: "2026-11-22T10:02:00.000Z", EventType: "click\u202e", UserAgent: "ユーザー"},
	}
	var b strings.Builder
	if err := printActivity(&b, rows); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || r == 0x202e) {
			t.Fatalf("output holds %U:\n%s", r, out)
		}
	}
	if lines := strings.Count(out, "\n"); lines != 2+len(rows) {
		t.Errorf("%d lines for %d events:\n%s", lines, len(rows), out)
	}
}

// TestMainExitStatus runs main in a child process: 0 for -h, 2 for a bad
// command line (before DynamoDB Local starts), 1 for a failure.
func TestMainExitStatus(t *testing.T) {
	clitest.ServeMain("EVENTLAKE_DEMO_MAIN_ARGS", "demo", main)
	var cases []clitest.Case
	for _, c := range []struct {
		args   string
		env    string
		status int
		want   []string
	}{
		{"-h", "", 0, []string{"usage: go run ./scripts/demo"}},
		{"-events 0 -limit 0", "", 2, []string{"demo: -events must be at least 1; -limit must be at least 1"}},
		{"-nosuchflag", "", 2, []string{"-nosuchflag"}},
		{"extra", "", 2, []string{`unexpected arguments ["extra"]`}},
		{"-events 5", "EVENTLAKE_DYNAMODB_LOCAL_DIR=/nonexistent", 1, []string{"demo: ", "/nonexistent"}},
	} {
		cases = append(cases, clitest.Case{Args: c.args, Env: c.env, Status: c.status, Want: c.want})
	}
	clitest.Check(t, "EVENTLAKE_DEMO_MAIN_ARGS", cases)
}

func TestUsersLine(t *testing.T) {
	if got := usersLine(2, 3); got != "2 users (3 asked for; with so few events the least active did not act)" {
		t.Errorf("usersLine(2, 3) = %q", got)
	}
	if got := usersLine(3, 3); got != "3 users" {
		t.Errorf("usersLine(3, 3) = %q", got)
	}
}
