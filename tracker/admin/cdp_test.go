package admin_test

// A minimal Chrome DevTools Protocol client over a hand-rolled WebSocket
// (RFC 6455, client side: masked text frames out; text, continuation, ping
// and close frames in), enough to drive headless Chromium from tests without
// a browser-automation module.

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// wsConn is a client WebSocket connection. Writes are serialised; one
// goroutine reads.
type wsConn struct {
	conn net.Conn
	r    *bufio.Reader
	wmu  sync.Mutex
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

func wsDial(ctx context.Context, rawURL string) (*wsConn, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("websocket: scheme %q not supported", u.Scheme)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	r := bufio.NewReaderSize(conn, 1<<16)
	resp, err := http.ReadResponse(r, &http.Request{Method: http.MethodGet})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake: %w", err)
	}
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.StatusCode != http.StatusSwitchingProtocols ||
		resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake: status %s, accept %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	_ = conn.SetDeadline(time.Time{})
	return &wsConn{conn: conn, r: r}, nil
}

func (c *wsConn) writeFrame(opcode byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	hdr := make([]byte, 0, 14)
	hdr = append(hdr, 0x80|opcode)
	switch n := len(payload); {
	case n < 126:
		hdr = append(hdr, 0x80|byte(n))
	case n <= 0xffff:
		hdr = append(hdr, 0x80|126)
		hdr = binary.BigEndian.AppendUint16(hdr, uint16(n))
	default:
		hdr = append(hdr, 0x80|127)
		hdr = binary.BigEndian.AppendUint64(hdr, uint64(n))
	}
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	hdr = append(hdr, mask[:]...)
	masked := make([]byte, len(payload))
	for i, b := range payload {
		masked[i] = b ^ mask[i%4]
	}
	_, err := c.conn.Write(append(hdr, masked...))
	return err
}

// readMessage returns the next text or binary message, answering pings.
func (c *wsConn) readMessage() ([]byte, error) {
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.r, h[:]); err != nil {
			return nil, err
		}
		fin, opcode := h[0]&0x80 != 0, h[0]&0x0f
		n := uint64(h[1] & 0x7f)
		switch n {
		case 126:
			var b [2]byte
			if _, err := io.ReadFull(c.r, b[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(b[:]))
		case 127:
			var b [8]byte
			if _, err := io.ReadFull(c.r, b[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(b[:])
		}
		if n > 256<<20 {
			return nil, fmt.Errorf("websocket: frame of %d bytes", n)
		}
		var mask [4]byte
		if h[1]&0x80 != 0 {
			if _, err := io.ReadFull(c.r, mask[:]); err != nil {
				return nil, err
			}
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(c.r, payload); err != nil {
			return nil, err
		}
		if h[1]&0x80 != 0 {
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
		}
		switch opcode {
		case 0x8:
			_ = c.writeFrame(0x8, nil)
			return nil, io.EOF
		case 0x9:
			if err := c.writeFrame(0xA, payload); err != nil {
				return nil, err
			}
			continue
		case 0xA:
			continue
		}
		msg = append(msg, payload...)
		if fin {
			return msg, nil
		}
	}
}

func (c *wsConn) Close() error {
	_ = c.writeFrame(0x8, []byte{0x03, 0xe8}) // 1000 normal closure
	return c.conn.Close()
}

// cdp is a DevTools session with one page.
type cdp struct {
	t      *testing.T
	ws     *wsConn
	mu     sync.Mutex
	nextID int64
	calls  map[int64]chan cdpMessage
	loads  chan struct{} // Page.loadEventFired
	done   chan struct{}
	err    error
}

type cdpMessage struct {
	ID     int64           `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// chromiumMissing is the failure message when the browser is not installed.
const chromiumMissing = "chromium is not installed: run `make chromium` (installs Debian's chromium package), then run the tests again"

// startChromium starts headless Chromium and returns a DevTools session with
// its first page. The browser is killed and its profile removed when the
// test ends. A missing browser fails the test; it never skips.
func startChromium(t *testing.T) *cdp {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal(chromiumMissing)
	}
	profile := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
		"--disable-dev-shm-usage", "--force-color-profile=srgb", "--lang=en-US",
		"--window-size=1400,1000", "--user-data-dir="+profile, "--remote-debugging-port=0", "about:blank")
	// Its own process group, killed as a whole: no renderer outlives the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start chromium: %v (run `make chromium`)", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})

	// Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/ID".
	wsRE := regexp.MustCompile(`DevTools listening on (ws://\S+)`)
	found := make(chan string, 1)
	var tail strings.Builder
	var tailMu sync.Mutex
	go func() {
		sc := bufio.NewScanner(stderr)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if m := wsRE.FindStringSubmatch(line); m != nil && !sent {
				found <- m[1]
				sent = true
			}
			tailMu.Lock()
			if tail.Len() < 8<<10 {
				tail.WriteString(line + "\n")
			}
			tailMu.Unlock()
		}
	}()
	var browserURL string
	select {
	case browserURL = <-found:
	case <-exited:
		tailMu.Lock()
		defer tailMu.Unlock()
		t.Fatalf("chromium exited before DevTools listened:\n%s", tail.String())
	case <-time.After(90 * time.Second):
		tailMu.Lock()
		defer tailMu.Unlock()
		t.Fatalf("chromium did not start DevTools in 90s:\n%s", tail.String())
	}

	// Find the page target over the DevTools HTTP endpoint.
	u, _ := url.Parse(browserURL)
	var targets []struct {
		Type, WebSocketDebuggerURL string
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get("http://" + u.Host + "/json/list")
		if err == nil {
			err = json.NewDecoder(resp.Body).Decode(&targets)
			resp.Body.Close()
		}
		pageURL := ""
		for _, tg := range targets {
			if tg.Type == "page" {
				pageURL = tg.WebSocketDebuggerURL
			}
		}
		if pageURL != "" {
			dctx, dcancel := context.WithTimeout(context.Background(), 30*time.Second)
			ws, err := wsDial(dctx, pageURL)
			dcancel()
			if err != nil {
				t.Fatalf("DevTools websocket: %v", err)
			}
			c := &cdp{t: t, ws: ws, calls: map[int64]chan cdpMessage{}, loads: make(chan struct{}, 16), done: make(chan struct{})}
			go c.readLoop()
			t.Cleanup(func() { ws.Close() })
			c.call("Page.enable", nil, nil)
			c.call("Runtime.enable", nil, nil)
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("no page target in DevTools: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *cdp) readLoop() {
	defer close(c.done)
	for {
		b, err := c.ws.readMessage()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		var m cdpMessage
		if err := json.Unmarshal(b, &m); err != nil {
			continue
		}
		if m.ID != 0 {
			c.mu.Lock()
			ch := c.calls[m.ID]
			delete(c.calls, m.ID)
			c.mu.Unlock()
			if ch != nil {
				ch <- m
			}
			continue
		}
		if m.Method == "Page.loadEventFired" {
			select {
			case c.loads <- struct{}{}:
			default:
			}
		}
	}
}

// call sends a command and decodes its result into out (if not nil).
func (c *cdp) call(method string, params, out any) {
	c.t.Helper()
	if err := c.tryCall(method, params, out); err != nil {
		c.t.Fatal(err)
	}
}

func (c *cdp) tryCall(method string, params, out any) error {
	c.mu.Lock()
	c.nextID++
	id := c.nextID
	ch := make(chan cdpMessage, 1)
	c.calls[id] = ch
	c.mu.Unlock()
	if params == nil {
		params = struct{}{}
	}
	b, err := json.Marshal(map[string]any{"id": id, "method": method, "params": params})
	if err != nil {
		return err
	}
	if err := c.ws.writeFrame(0x1, b); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return fmt.Errorf("%s: %d %s", method, m.Error.Code, m.Error.Message)
		}
		if out != nil {
			return json.Unmarshal(m.Result, out)
		}
		return nil
	case <-c.done:
		return fmt.Errorf("%s: DevTools connection closed: %v", method, c.err)
	case <-time.After(60 * time.Second):
		return fmt.Errorf("%s: no answer in 60s", method)
	}
}

// drainLoads forgets load events seen so far.
func (c *cdp) drainLoads() {
	for {
		select {
		case <-c.loads:
		default:
			return
		}
	}
}

// waitLoad waits for the next Page.loadEventFired.
func (c *cdp) waitLoad() {
	c.t.Helper()
	select {
	case <-c.loads:
	case <-time.After(60 * time.Second):
		c.t.Fatal("page did not load in 60s")
	}
}

// navigate loads url and waits for its load event.
func (c *cdp) navigate(u string) {
	c.t.Helper()
	c.drainLoads()
	var res struct{ ErrorText string }
	c.call("Page.navigate", map[string]any{"url": u}, &res)
	if res.ErrorText != "" {
		c.t.Fatalf("navigate %s: %s", u, res.ErrorText)
	}
	c.waitLoad()
}

// eval evaluates a JavaScript expression in the page and decodes its value.
// DevTools evaluation runs regardless of the page's Content-Security-Policy.
func (c *cdp) eval(expr string, out any) {
	c.t.Helper()
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	c.call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if res.ExceptionDetails != nil {
		c.t.Fatalf("eval %s: %s %s", expr, res.ExceptionDetails.Text, res.ExceptionDetails.Exception.Description)
	}
	if out != nil {
		if err := json.Unmarshal(res.Result.Value, out); err != nil {
			c.t.Fatalf("eval %s: decode %s: %v", expr, res.Result.Value, err)
		}
	}
}

// click clicks the centre of the element matching selector with real mouse
// events, and, when it navigates, waits for the new page to load.
func (c *cdp) click(selector string, navigates bool) {
	c.t.Helper()
	var box struct{ X, Y float64 }
	sel, _ := json.Marshal(selector)
	c.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%s); if (!e) throw new Error("no element " + %s);
		e.scrollIntoView({block: "center"}); const r = e.getBoundingClientRect();
		return {x: r.left + r.width / 2, y: r.top + r.height / 2}; })()`, sel, sel), &box)
	c.drainLoads()
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		c.call("Input.dispatchMouseEvent", map[string]any{"type": typ, "x": box.X, "y": box.Y, "button": "left", "clickCount": 1}, nil)
	}
	if navigates {
		c.waitLoad()
	}
}

// screenshot saves a PNG of the whole page to path.
func (c *cdp) screenshot(path string) {
	c.t.Helper()
	var metrics struct {
		CSSContentSize struct{ Width, Height float64 } `json:"cssContentSize"`
	}
	c.call("Page.getLayoutMetrics", nil, &metrics)
	var shot struct{ Data string }
	c.call("Page.captureScreenshot", map[string]any{
		"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": metrics.CSSContentSize.Width, "height": metrics.CSSContentSize.Height, "scale": 1},
	}, &shot)
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	if err != nil || len(png) < 8 || string(png[1:4]) != "PNG" {
		c.t.Fatalf("screenshot is not a PNG (%d bytes): %v", len(png), err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

var errNoRoot = errors.New("go.mod not found above the working directory")
