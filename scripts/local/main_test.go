package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/internal/cli/clitest"
)

// syncBuffer is a bytes.Buffer safe for a writer and a concurrent reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitOutput polls out until re matches, and returns the submatches.
func waitOutput(t *testing.T, out *syncBuffer, re *regexp.Regexp, done <-chan error) []string {
	t.Helper()
	deadline := time.After(5 * time.Minute)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		select {
		case err := <-done:
			t.Fatalf("run returned %v before printing %s:\n%s", err, re, out.String())
		case <-deadline:
			t.Fatalf("no %s in the output:\n%s", re, out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

var dynamoEndpointRE = regexp.MustCompile(`DynamoDB Local at (http://[0-9.:]+)`)

// assertStopped checks that nothing listens at the endpoint any more.
func assertStopped(t *testing.T, endpoint string) {
	t.Helper()
	addr := strings.TrimPrefix(endpoint, "http://")
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Errorf("DynamoDB Local at %s still answers after the command returned", addr)
	}
}

// TestDemo runs the command as `make demo` does, with small numbers, in
// both lake formats, and checks the answers of the queries on the lake it
// wrote (checkDemoAnswers).
func TestDemo(t *testing.T) {
	queries, err := athena.Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"parquet", "json"} {
		t.Run(format, func(t *testing.T) {
			lake := t.TempDir()
			var out, logs syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			began := time.Now().UTC()
			err := run(ctx, []string{"-events", "400", "-users", "12", "-days", "30", "-format", format, "-lake", lake}, &out, &logs)
			if err != nil {
				t.Fatalf("run: %v\n%s\n%s", err, out.String(), logs.String())
			}
			text := out.String()
			if !strings.Contains(text, ", 400 events after deduplication (events_dedup)") {
				t.Errorf("no complete lake in the output:\n%s", text)
			}
			if !strings.Contains(text, "360 through the AsyncWriter, 40 over HTTP to the collector") {
				t.Errorf("no events over HTTP:\n%s", text)
			}
			for _, q := range queries {
				if !strings.Contains(text, "== "+q.Name+": ") {
					t.Errorf("query %s did not run:\n%s", q.Name, text)
				}
			}
			if strings.Count(text, "data read: ") != len(queries) {
				t.Errorf("want %d result footers:\n%s", len(queries), text)
			}
			ext := map[string]string{"parquet": ".parquet", "json": ".gz"}[format]
			if !regexp.MustCompile(`events: \d+ objects in \d+ date partitions`).MatchString(text) {
				t.Errorf("no lake summary:\n%s", text)
			}
			objects, err := lakeStats(lake)
			if err != nil || objects.objects == 0 || objects.partitions < 20 {
				t.Errorf("lake %+v (%v): want objects over about 30 partitions", objects, err)
			}
			if files := globCount(t, lake, ext); files != objects.objects {
				t.Errorf("%d %s objects of %d", files, ext, objects.objects)
			}
			m := dynamoEndpointRE.FindStringSubmatch(text)
			if m == nil {
				t.Fatalf("no DynamoDB endpoint in the output:\n%s", text)
			}
			assertStopped(t, m[1])

			// The answers on the lake the demo wrote, with its arguments
			// (those it printed, unless the UTC day changed meanwhile).
			now := time.Now().UTC()
			printed := text
			if !now.Truncate(24 * time.Hour).Equal(began.Truncate(24 * time.Hour)) {
				printed = ""
			}
			checkDemoAnswers(t, ctx, lake, 30, now, printed)

			if format != "json" {
				return
			}
			// Again in the same lake: the first run's objects are removed,
			// and nothing else.
			notes := filepath.Join(lake, "notes.txt")
			if err := os.WriteFile(notes, []byte("mine"), 0o644); err != nil {
				t.Fatal(err)
			}
			out = syncBuffer{}
			if err := run(ctx, []string{"-events", "300", "-users", "12", "-days", "30", "-format", format, "-lake", lake}, &out, &logs); err != nil {
				t.Fatalf("second run: %v\n%s\n%s", err, out.String(), logs.String())
			}
			if !strings.Contains(out.String(), "300 rows, 300 events after deduplication") {
				t.Errorf("the second run's lake is not its own:\n%s", out.String())
			}
			if b, err := os.ReadFile(notes); err != nil || string(b) != "mine" {
				t.Errorf("a file the demo did not write is gone: %v", err)
			}
		})
	}
}

func TestDemoServesTheAdminPageUntilInterrupted(t *testing.T) {
	var out, logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-events", "200", "-users", "5", "-days", "7", "-lake", t.TempDir(), "-serve", "127.0.0.1:0"}, &out, &logs)
	}()
	m := waitOutput(t, &out, regexp.MustCompile(`admin activity page is at (http://\S+) and the collector at (http://\S+)`), done)
	req, _ := http.NewRequest(http.MethodPost, m[2]+"/v1/track", strings.NewReader(`{"userId":"1","event":"login"}`))
	req.SetBasicAuth(DefaultWriteKey, "")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("collector beside the admin page: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<table") {
		t.Errorf("admin page: %s\n%.500s", resp.Status, body)
	}
	// The dashboard and the analytics API over the demo's lake.
	d := waitOutput(t, &out, regexp.MustCompile(`The dashboard is at (http://\S+), the analytics API at (http://\S+) \(seed 001: (http://\S+)\)`), done)
	for _, c := range []struct{ url, ctype, want string }{
		{d[1], "text/html; charset=utf-8", `<svg class="chart wide"`},
		{d[2], "application/json; charset=utf-8", `"name":"active_users_by_day"`},
		{d[2] + "/logins_by_day?format=csv", "text/csv; charset=utf-8", "day,logins,users\n"},
		{d[3], "text/plain; charset=utf-8", "unique_users,"},
	} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != c.ctype || !strings.Contains(string(b), c.want) {
			t.Errorf("GET %s: %s %s\n%.600s", c.url, resp.Status, resp.Header.Get("Content-Type"), b)
		}
		if strings.Contains(string(b), `class="error"`) {
			t.Errorf("GET %s: a chart failed:\n%s", c.url, b)
		}
	}
	// The summarize Lambda's handler kept the summary: a real last seen and
	// a count, not "never" and 0.
	if !strings.Contains(string(body), `id="last-seen"><time`) || strings.Contains(string(body), `id="actions">0<`) {
		t.Errorf("admin page without a last seen or count:\n%s", body)
	}
	if !strings.Contains(out.String(), "Every summary is right") {
		t.Errorf("the demo did not check the summaries:\n%s", out.String())
	}
	cancel() // Ctrl-C
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after Ctrl-C while serving: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not return after Ctrl-C")
	}
	assertStopped(t, dynamoEndpointRE.FindStringSubmatch(out.String())[1])
}

// TestServeWithoutEvents runs `-events 0 -serve`: the stack stays up with
// no generated traffic, events sent to the collector reach the lake, and
// Ctrl-C drains and stops everything.
func TestServeWithoutEvents(t *testing.T) {
	var out, logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-events", "0", "-format", "json", "-lake", t.TempDir(), "-serve", "127.0.0.1:0", "-write-key", "wk-test"}, &out, &logs)
	}()
	m := waitOutput(t, &out, regexp.MustCompile(`send events to the collector at (http://\S+), for example`), done)
	post := func(path, key, body string) int {
		req, _ := http.NewRequest(http.MethodPost, m[1]+path, strings.NewReader(body))
		if key != "" {
			req.SetBasicAuth(key, "")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, c := range []struct {
		path, key, body string
		status          int
	}{
		{"/v1/track", "wk-test", `{"userId":"42","event":"login"}`, 200},
		{"/v1/page", "wk-test", `{"anonymousId":"a-1","properties":{"url":"/"}}`, 200},
		{"/v1/track", "wk-test", `{"userId":"42","event":"impression"}`, 200}, // the lake route
		{"/v1/events", "wk-test", `{"user_id":"42","event_type":"click"}`, 200},
		{"/analytics?timestamp=1763805845&user=3&event=click&write_key=wk-test", "", ``, 204},
		{"/v1/track", DefaultWriteKey, `{"userId":"42","event":"login"}`, 401},
	} {
		if got := post(c.path, c.key, c.body); got != c.status {
			t.Errorf("POST %s: %d, want %d", c.path, got, c.status)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s\n%s", err, out.String(), logs.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("run did not return after Ctrl-C")
	}
	if !strings.Contains(out.String(), "Stopped: 5 events in the lake") {
		t.Errorf("output:\n%s", out.String())
	}
	assertStopped(t, dynamoEndpointRE.FindStringSubmatch(out.String())[1])
}

// TestSeed001RoundTrip posts seed 001's clicks and impressions to the
// local stack's collector (POST /analytics from a browser; impressions take
// the lake route, straight to Firehose) and asks GET /analytics for the
// hour until the lake has caught up: the answer counts exactly what was
// posted in that hour, a bot's click (curl's user agent) left out.
func TestSeed001RoundTrip(t *testing.T) {
	var out, logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-events", "0", "-format", "json", "-lake", t.TempDir(), "-serve", "127.0.0.1:0"}, &out, &logs)
	}()
	m := waitOutput(t, &out, regexp.MustCompile(`send events to the collector at (http://\S+), for example`), done)
	hour := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	const browser = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
	for i, p := range []struct {
		user, event string
		at          time.Duration
		ua          string
	}{
		{"3", "click", time.Minute, browser}, {"3", "click", 2 * time.Minute, browser},
		{"4", "click", 59*time.Minute + 59*time.Second, browser},
		{"3", "impression", 10 * time.Minute, browser}, {"5", "impression", 30 * time.Minute, browser},
		{"6", "click", time.Hour, browser},             // the next hour: not counted
		{"7", "login", 5 * time.Minute, browser},       // neither a click nor an impression
		{"8", "click", 20 * time.Minute, "curl/8.5.0"}, // a bot's: flagged, not counted
	} {
		u := fmt.Sprintf("%s/analytics?timestamp=%d&user=%s&event=%s&write_key=%s", m[1], hour.Add(p.at).Unix(), p.user, p.event, DefaultWriteKey)
		req, _ := http.NewRequest(http.MethodPost, u, nil)
		req.Header.Set("User-Agent", p.ua)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("POST %d: %s", i, resp.Status)
		}
	}
	want := "unique_users,3\nclicks,3\nimpressions,2"
	target := fmt.Sprintf("%s/analytics?timestamp=%d&max_age=0", m[1], hour.Add(time.Hour).Unix())
	deadline := time.Now().Add(2 * time.Minute)
	var got string
	for time.Now().Before(deadline) {
		resp, err := http.Get(target)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got = string(b); resp.StatusCode == http.StatusOK && got == want {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got != want {
		t.Errorf("GET /analytics answered %q, want %q (what was posted)", got, want)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v\n%s\n%s", err, out.String(), logs.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("run did not return after Ctrl-C")
	}
}

func TestDemoStopsEverythingOnCtrlC(t *testing.T) {
	var out, logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-events", "200000", "-users", "50", "-days", "7", "-lake", t.TempDir()}, &out, &logs)
	}()
	m := waitOutput(t, &out, dynamoEndpointRE, done)
	waitOutput(t, &out, regexp.MustCompile(`Putting 200000 fake events`), done)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("run = %v, want context.Canceled", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("run did not return after Ctrl-C")
	}
	assertStopped(t, m[1])
}

func TestParseFlags(t *testing.T) {
	cases := []struct {
		args []string
		bad  string // substring of the error; empty: valid
	}{
		{nil, ""},
		{[]string{"-events", "5", "-users", "2", "-days", "3", "-format", "json", "-lake", "x", "-serve", ":0"}, ""},
		{[]string{"-events", "0", "-serve", ":0", "-write-key", "k", "-lake-types", ""}, ""},
		{[]string{"-events", "-1"}, "-events"},
		{[]string{"-users", "-1"}, "-users"},
		{[]string{"-days", "0"}, "-days"},
		{[]string{"-format", "csv"}, "-format"},
		{[]string{"-lake", ""}, "-lake"},
		{[]string{"-lake", "a*b"}, "-lake"},
		{[]string{"-serve", "nope"}, "-serve"},
		{[]string{"-rows", "0"}, "-rows"},
		{[]string{"extra"}, "unexpected"},
		{[]string{"-nope"}, "nope"},
	}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.args), func(t *testing.T) {
			var stderr bytes.Buffer
			o, err := parseFlags(c.args, &stderr)
			switch {
			case c.bad == "" && err != nil:
				t.Fatalf("parseFlags: %v", err)
			case c.bad != "" && (err == nil || !strings.Contains(err.Error()+stderr.String(), c.bad)):
				t.Fatalf("parseFlags = %v (%s), want an error about %s", err, stderr.String(), c.bad)
			}
			if c.args == nil && (o.events != 10000 || o.days != 90 || o.format != "parquet" || o.lake != "lake") {
				t.Errorf("defaults = %+v", o)
			}
		})
	}
}

func globCount(t *testing.T, root, ext string) int {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "events", "dt=*", "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	return len(files)
}

// TestMainExitStatus runs the command's main in a child process: a bad
// command line names every bad flag and exits 2 before anything is touched,
// -h exits 0, a failure exits 1 with its reason, and neither is reported as
// an interrupt.
func TestMainExitStatus(t *testing.T) {
	clitest.ServeMain("EVENTLAKE_LOCAL_MAIN_ARGS", "local", main)
	notADir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notADir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Lakes holding an object the demo did not write: a bad -lake must not
	// remove it, nor a good -lake whose events/ it sits in.
	globLake := filepath.Join(t.TempDir(), "lake[1]")
	foreignLake := filepath.Join(t.TempDir(), "lake")
	var precious []string
	for _, lake := range []string{globLake, foreignLake} {
		p := filepath.Join(lake, "events", "dt=2026-11-22", "theirs.gz")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("keep me"), 0o644); err != nil {
			t.Fatal(err)
		}
		precious = append(precious, p)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	var cases []clitest.Case
	for _, c := range []struct {
		args   string
		env    string
		status int
		want   []string
	}{
		{"-h", "", 0, []string{"usage: go run ./scripts/local"}},
		{"-events -5 -format xml", "", 2, []string{"local: ", "-events must be at least 0", `-format "xml": want parquet or json`}},
		{"-nosuchflag", "", 2, []string{"local: ", "-nosuchflag"}},
		{"-events 10 -lake " + filepath.Join(notADir, "lake"), "", 2, []string{"local: ", "-lake " + notADir}},
		{"-events 10 -lake " + notADir, "", 2, []string{"-lake " + notADir + ": not a folder"}},
		{"-events 10 -lake " + globLake, "", 2, []string{"glob or quote character"}},
		{"-events 10 -serve localhost", "", 2, []string{`-serve "localhost": want host:port`}},
		{"-events 10 -users 0 -serve :http", "", 2, []string{"-users must be at least 1", `port "http" is not a number`}},
		{"-events 10 -lake " + foreignLake, "", 2, []string{"local: -lake " + foreignLake, "theirs.gz", "no run of the pipeline wrote"}},
		{"-events 10 -serve " + busy.Addr().String(), "", 2, []string{"-serve: ", "address already in use"}},
		{"-events 10 -lake " + t.TempDir(), "EVENTLAKE_DYNAMODB_LOCAL_DIR=/nonexistent", 1, []string{"local: ", "/nonexistent"}},
	} {
		cases = append(cases, clitest.Case{Args: c.args, Env: c.env, Status: c.status, Want: c.want})
	}
	clitest.Check(t, "EVENTLAKE_LOCAL_MAIN_ARGS", cases, func(t *testing.T, c clitest.Case, out string) {
		if strings.Contains(out, "interrupted") {
			t.Errorf("reported as an interrupt:\n%s", out)
		}
	})
	for _, p := range precious {
		if b, err := os.ReadFile(p); err != nil || string(b) != "keep me" {
			t.Errorf("%s was not the demo's, and is gone or changed: %v", p, err)
		}
	}
}

// TestNoScratchFolderAfterSIGKILL kills the demo (kill -9: no deferred
// cleanup runs) while it puts events into a Parquet lake, and checks that it
// left no folder in the temporary folder. The Parquet encoder used to keep
// a lakeparquet-* scratch folder there, removed only by Close.
func TestNoScratchFolderAfterSIGKILL(t *testing.T) {
	tmp := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainExitStatus$")
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp,
		"EVENTLAKE_LOCAL_MAIN_ARGS=-events 200000 -users 50 -days 7 -format parquet -lake "+filepath.Join(t.TempDir(), "lake"))
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	m := waitOutput(t, &out, dynamoEndpointRE, done)
	waitOutput(t, &out, regexp.MustCompile(`Putting 200000 fake events`), done)
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-done
	entries, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() {
			t.Errorf("left behind in the temporary folder: %s/", e.Name())
		}
	}
	// DynamoDB Local dies with the command (Pdeathsig).
	deadline := time.Now().Add(time.Minute)
	for {
		addr := strings.TrimPrefix(m[1], "http://")
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("DynamoDB Local at %s outlived the killed command", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDeadDynamoDBLocalEndsTheDemo kills DynamoDB Local's process while the
// demo puts events: the command exits with status 1 within seconds, saying
// that DynamoDB Local exited, instead of retrying for hours.
func TestDeadDynamoDBLocalEndsTheDemo(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestMainExitStatus$")
	cmd.Env = append(os.Environ(),
		"EVENTLAKE_LOCAL_MAIN_ARGS=-events 200000 -users 50 -days 7 -format json -lake "+filepath.Join(t.TempDir(), "lake"))
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	m := waitOutput(t, &out, regexp.MustCompile(`DynamoDB Local at \S+ \(pid (\d+)\)`), done)
	waitOutput(t, &out, regexp.MustCompile(`Putting 200000 fake events`), done)
	pid, err := strconv.Atoi(m[1])
	if err != nil || pid <= 0 {
		t.Fatalf("pid %q", m[1])
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the demo still ran a minute after DynamoDB Local died:\n%s", out.String())
	}
	took := time.Since(killed)
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	if !strings.Contains(out.String(), "DynamoDB Local (pid "+m[1]) || !strings.Contains(out.String(), "exited") {
		t.Errorf("the output does not say DynamoDB Local exited:\n%s", tail(out.String(), 2000))
	}
	t.Logf("exited %v after the kill", took.Round(time.Millisecond))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
