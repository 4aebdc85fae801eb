package browsertest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestNew starts Chromium, loads a page taller than the window, reads it
// back, and keeps a full-page screenshot.
func TestNew(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>browsertest</title><style>body{margin:0} div{height:2500px;background:#cde}</style><div id=tall>tall</div>`)
	}))
	defer srv.Close()

	ctx := New(t)
	Do(t, ctx, chromedp.Navigate(srv.URL))
	if title := Run(t, ctx, chromedp.Title()); title != "browsertest" {
		t.Errorf("title %q", title)
	}
	if got := Run(t, ctx, chromedp.Evaluate[[2]int](`[innerWidth, innerHeight]`)); got[0] != Width || got[1] > Height || got[1] < Height/2 {
		t.Errorf("window %v, want %dx%d less the browser's chrome", got, Width, Height)
	}
	if ua := Run(t, ctx, chromedp.Evaluate[string](`navigator.userAgent`)); !strings.Contains(ua, "HeadlessChrome") {
		t.Errorf("user agent %q: not headless", ua)
	}

	path := Screenshot(t, ctx, "browsertest-tall.png")
	if want := ArtifactPath(t, "browsertest-tall.png"); path != want {
		t.Errorf("screenshot at %s, want %s", path, want)
	}
	png, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// The IHDR chunk follows the 8-byte signature: length, type, width, height.
	if len(png) < 24 || string(png[12:16]) != "IHDR" {
		t.Fatalf("%s is not a PNG", path)
	}
	if w, h := binary.BigEndian.Uint32(png[16:20]), binary.BigEndian.Uint32(png[20:24]); w != Width || h != 2500 {
		t.Errorf("screenshot %dx%d, want the whole page, %dx2500", w, h, Width)
	}
}

// TestConsole records console calls, an uncaught exception and a
// Content-Security-Policy violation, across two pages of one tab.
func TestConsole(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/noisy":
			io.WriteString(w, `<!doctype html><title>noisy</title><script>
				console.log("hello", 42);
				console.error("broken: %s", "widget");
			</script><script>throw new Error("uncaught boom");</script>`)
		case "/csp":
			w.Header().Set("Content-Security-Policy", "default-src 'none'")
			fmt.Fprint(w, `<!doctype html><title>csp</title><img src="/pixel.png">`)
		default:
			fmt.Fprint(w, `<!doctype html><title>quiet</title><p>nothing to say`)
		}
	}))
	defer srv.Close()

	ctx := New(t)
	console := RecordConsole(t, ctx)
	Do(t, ctx, chromedp.Navigate(srv.URL+"/quiet"))
	if errs := console.Errors(t); len(errs) != 0 {
		t.Fatalf("quiet page: errors %q", errs)
	}

	Do(t, ctx, chromedp.Navigate(srv.URL+"/noisy"))
	errs := console.Errors(t)
	if !slices.ContainsFunc(errs, func(s string) bool { return strings.HasPrefix(s, "error: broken: widget") }) ||
		!slices.ContainsFunc(errs, func(s string) bool {
			return strings.HasPrefix(s, "exception: ") && strings.Contains(s, "uncaught boom")
		}) {
		t.Errorf("noisy page: errors %q, want the console.error and the exception", errs)
	}
	all := console.Messages(t)
	if !slices.ContainsFunc(all, func(s string) bool { return strings.HasPrefix(s, "log: hello 42") }) {
		t.Errorf("messages %q lack the console.log", all)
	}
	if slices.ContainsFunc(all, func(s string) bool { return strings.Contains(s, syncPrefix) }) {
		t.Errorf("messages %q show the sync markers", all)
	}

	if again := console.Errors(t); len(again) != 0 {
		t.Errorf("errors %q again: each is returned once", again)
	}

	Do(t, ctx, chromedp.Navigate(srv.URL+"/csp"))
	errs = console.Errors(t)
	if len(errs) != 1 || !strings.Contains(errs[0], "Content Security Policy") || !strings.Contains(errs[0], "pixel.png") {
		t.Errorf("csp page: errors %q, want the blocked image alone", errs)
	}
	if all := console.Messages(t); !slices.Equal(all, errs) {
		t.Errorf("messages since the last call %q, want %q", all, errs)
	}
}

// fatalRecorder is a testing.TB whose Fatal and Skip end the goroutine and
// record what happened, so that a test can watch New fail.
type fatalRecorder struct {
	testing.TB
	fatal   string
	skipped bool
}

func (f *fatalRecorder) Helper()           {}
func (f *fatalRecorder) Fatal(args ...any) { f.fatal = fmt.Sprint(args...); runtime.Goexit() }
func (f *fatalRecorder) Fatalf(format string, a ...any) {
	f.fatal = fmt.Sprintf(format, a...)
	runtime.Goexit()
}
func (f *fatalRecorder) FailNow()             { f.fatal = "FailNow"; runtime.Goexit() }
func (f *fatalRecorder) Skip(args ...any)     { f.skipped = true; runtime.Goexit() }
func (f *fatalRecorder) Skipf(string, ...any) { f.skipped = true; runtime.Goexit() }
func (f *fatalRecorder) SkipNow()             { f.skipped = true; runtime.Goexit() }

func TestMissingChromium(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	saved := fallbacks
	t.Cleanup(func() { fallbacks = saved })

	t.Run("fallback path", func(t *testing.T) {
		bin := filepath.Join(dir, "chromium-elsewhere")
		if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		fallbacks = []string{filepath.Join(dir, "absent"), bin}
		if got, err := chromiumPath(); got != bin || err != nil {
			t.Errorf("chromiumPath() = %q, %v; want %q", got, err, bin)
		}
	})

	t.Run("none fails, never skips", func(t *testing.T) {
		fallbacks = []string{filepath.Join(dir, "absent")}
		rec := &fatalRecorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			New(rec)
			rec.fatal = "New returned"
		}()
		<-done
		if rec.skipped || rec.fatal != ErrNoChromium.Error() {
			t.Errorf("New without chromium: skipped %v, fatal %q; want the failure %q", rec.skipped, rec.fatal, ErrNoChromium)
		}
	})
}

func TestTail(t *testing.T) {
	var w tail
	big := bytes.Repeat([]byte("x"), 10<<10)
	for range 3 {
		if n, err := w.Write(big); n != len(big) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got := len(w.String()); got != 16<<10 {
		t.Errorf("kept %d bytes, want the first 16 KiB", got)
	}
}

// errorRecorder is a testing.TB that records Errorf instead of failing.
type errorRecorder struct {
	testing.TB
	errors []string
}

func (e *errorRecorder) Helper() {}
func (e *errorRecorder) Errorf(format string, a ...any) {
	e.errors = append(e.errors, fmt.Sprintf(format, a...))
}

// TestHits: Hits records the requests a page makes and serves the control
// page, which CheckDetection accepts; a control page whose script cannot
// run (a CSP forbids it) makes CheckDetection fail.
func TestHits(t *testing.T) {
	hits := &Hits{}
	srv := httptest.NewServer(hits)
	defer srv.Close()
	ctx := New(t)
	Do(t, ctx, chromedp.Navigate(srv.URL+"/page?x=1"))
	CheckDetection(t, ctx, hits, srv.URL)
	if got := hits.List(); !slices.Contains(got, "/page?x=1") || !slices.Contains(got, "/hit/control") {
		t.Errorf("hits %q", got)
	}

	blocked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		hits.ServeHTTP(w, r)
	}))
	defer blocked.Close()
	rec := &errorRecorder{TB: t}
	CheckDetection(rec, New(t), &Hits{}, blocked.URL)
	if len(rec.errors) != 1 || !strings.Contains(rec.errors[0], "the detection does not work") {
		t.Errorf("CheckDetection on a blocked control page: %q", rec.errors)
	}
}
