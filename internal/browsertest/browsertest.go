package browsertest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// StepTimeout bounds each Run, Do, Screenshot and console check. A step that
// takes longer fails the test instead of hanging until go test's timeout.
const StepTimeout = time.Minute

// Width and Height are the size of the browser window, in CSS pixels.
const (
	Width  = 1400
	Height = 1000
)

// ErrNoChromium is the reason New fails when no browser is installed.
var ErrNoChromium = errors.New("chromium is not installed: run `make chromium` (installs Debian's chromium package), then run the tests again")

// fallbacks are the paths tried when `chromium` is not on PATH.
var fallbacks = []string{"/usr/bin/chromium"}

// chromiumPath returns the browser to start: `chromium` from PATH, else the
// first of fallbacks that exists.
func chromiumPath() (string, error) {
	if p, err := exec.LookPath("chromium"); err == nil {
		return p, nil
	}
	for _, p := range fallbacks {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil
		}
	}
	return "", ErrNoChromium
}

// allocatorOptions are chromedp's defaults (headless, no first run, no
// background networking, no sync, no extensions, ...) plus what a test
// machine needs: no sandbox (tests often run as root in containers), no GPU,
// no component updates, a fixed window size and language. Without a
// user-data-dir flag chromedp gives each browser a fresh profile directory
// and removes it, with any process left using it, when the browser stops.
func allocatorOptions(bin string, output *tail) []chromedp.ExecAllocatorOption {
	return append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(bin),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.WindowSize(Width, Height),
		chromedp.CombinedOutput(output),
	)
}

// New starts headless Chromium for the test and returns a chromedp context
// for its first tab. The browser stops, and its profile directory is removed,
// when the test ends (in t.Cleanup). When Chromium is missing or does not
// start, New fails the test with the reason and the browser's output; it
// never skips.
func New(t testing.TB) context.Context {
	t.Helper()
	bin, err := chromiumPath()
	if err != nil {
		t.Fatal(err)
	}
	output := &tail{}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), allocatorOptions(bin, output)...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc() // waits for the browser to exit and its profile to go
	})
	// The first Do starts the browser and binds it to ctx: no deadline here,
	// or the browser would stop when it passed.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v\nbrowser output:\n%s", bin, err, output)
	}
	return ctx
}

// Run runs one chromedp action in the tab of ctx and returns its value. An
// error or a step longer than StepTimeout fails the test.
func Run[T any](t testing.TB, ctx context.Context, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	return v
}

// Eval evaluates a JavaScript expression in the page of ctx and decodes its
// value. DevTools evaluation runs regardless of the page's
// Content-Security-Policy.
func Eval[T any](t testing.TB, ctx context.Context, expr string) T {
	t.Helper()
	return Run(t, ctx, chromedp.Evaluate[T](expr))
}

// Do runs chromedp actions that return nothing, in order, in the tab of ctx.
// An error or a step longer than StepTimeout fails the test.
func Do(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// ArtifactPath returns test-artifacts/<name> at the root of the module (the
// folder of go.mod above the test's working directory), creating the
// folder. make test keeps what tests write there; git ignores it.
func ArtifactPath(t testing.TB, name string) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("test-artifacts: no go.mod above the working directory")
		}
		dir = parent
	}
	dir = filepath.Join(dir, "test-artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, name)
}

// Screenshot saves a PNG of the whole page (beyond the window, down to the
// end of its content) as test-artifacts/<name> and returns the file's path.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, StepTimeout)
	defer cancel()
	m, err := chromedp.Call(sctx, page.GetLayoutMetrics, cdp.Empty{})
	if err != nil {
		t.Fatalf("screenshot %s: layout metrics: %v", name, err)
	}
	clip := &page.Viewport{Width: Width, Height: Height, Scale: 1}
	if m.CSSContentSize != nil {
		clip.Width, clip.Height = m.CSSContentSize.Width, m.CSSContentSize.Height
	}
	beyond := true
	shot, err := chromedp.Call(sctx, page.CaptureScreenshot, page.CaptureScreenshotParams{
		Format: page.CaptureScreenshotFormatPng, CaptureBeyondViewport: &beyond, Clip: clip,
	})
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if !bytes.HasPrefix(shot.Data, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s is not a PNG (%d bytes)", name, len(shot.Data))
	}
	path := ArtifactPath(t, name)
	if err := os.WriteFile(path, shot.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// Console records the console of one tab: calls of the console API,
// uncaught exceptions and unhandled rejections, and the browser's log
// (Content-Security-Policy violations, failed loads), from every page the tab
// shows. Its methods run a step in the tab, so they share the tab's
// one-action-at-a-time rule.
type Console struct {
	ctx  context.Context
	mu   sync.Mutex
	msgs []chromedp.ConsoleMessage
	seq  int
	seen chan struct{} // a token after each new message

	// read is, for Messages and for Errors, how many messages earlier calls
	// have covered.
	read [2]int
}

// syncPrefix starts the text of the markers that Errors and Messages write to
// find the end of what the page wrote before them.
const syncPrefix = "browsertest: sync "

// RecordConsole starts recording the console of the tab of ctx, a context
// from New. Recording stops when the test ends.
func RecordConsole(t testing.TB, ctx context.Context) *Console {
	t.Helper()
	c := &Console{ctx: ctx, seen: make(chan struct{}, 1)}
	rctx, cancel := context.WithCancel(ctx)
	msgs := chromedp.Console(rctx) // subscribed now, before any later step
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			c.mu.Unlock()
			select {
			case c.seen <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c
}

// Messages returns the messages recorded since the previous call of Messages
// (or since RecordConsole), each as "type: text (url:line)". It first writes
// a marker with console.debug in the page and waits for it, so that
// everything the page wrote before the call is included; the markers
// themselves are left out.
func (c *Console) Messages(t testing.TB) []string {
	t.Helper()
	return c.list(t, 0, func(chromedp.ConsoleMessage) bool { return true })
}

// Errors is Messages restricted to errors, with its own count of what earlier
// calls returned: the console.error calls, uncaught exceptions, unhandled
// rejections and browser log entries of level error (a blocked resource, a
// Content-Security-Policy violation) since the previous call of Errors.
func (c *Console) Errors(t testing.TB) []string {
	t.Helper()
	return c.list(t, 1, func(m chromedp.ConsoleMessage) bool {
		return m.Type == chromedp.ConsoleError || m.IsException()
	})
}

func (c *Console) list(t testing.TB, cursor int, keep func(chromedp.ConsoleMessage) bool) []string {
	t.Helper()
	c.sync(t)
	c.mu.Lock()
	defer c.mu.Unlock()
	from := c.read[cursor]
	c.read[cursor] = len(c.msgs)
	var out []string
	for _, m := range c.msgs[from:] {
		if isMarker(m) || !keep(m) {
			continue
		}
		s := string(m.Type) + ": " + m.Text
		if m.URL != "" {
			s += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
		}
		out = append(out, s)
	}
	return out
}

func isMarker(m chromedp.ConsoleMessage) bool {
	return m.Type == chromedp.ConsoleDebug && strings.HasPrefix(m.Text, syncPrefix)
}

// sync writes a new marker in the page's console and waits until the
// recorder has it: the browser sends console messages in order, so every
// earlier message is recorded too.
func (c *Console) sync(t testing.TB) {
	t.Helper()
	c.mu.Lock()
	c.seq++
	marker := syncPrefix + strconv.Itoa(c.seq)
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, StepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`console.debug(`+strconv.Quote(marker)+`)`)); err != nil {
		t.Fatalf("console: write marker: %v", err)
	}
	for {
		c.mu.Lock()
		found := slices.ContainsFunc(c.msgs, func(m chromedp.ConsoleMessage) bool { return isMarker(m) && m.Text == marker })
		c.mu.Unlock()
		if found {
			return
		}
		select {
		case <-c.seen:
		case <-ctx.Done():
			t.Fatalf("console: marker %q not recorded in %v", marker, StepTimeout)
		}
	}
}

// tail keeps the first 16 KiB of the browser's output for error messages.
type tail struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *tail) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := 16<<10 - w.buf.Len(); room > 0 {
		w.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (w *tail) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}
