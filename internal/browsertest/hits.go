package browsertest

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// Hits records every request a page makes to it: the target of the hostile
// payloads of the XSS tests (an injected <img src>, a fetch from an injected
// script). It also serves, at /control, a page whose inline script does
// what the payloads try (sets window.pwned, the title, and requests
// /hit/control), which CheckDetection uses to prove the detection works.
type Hits struct {
	mu   sync.Mutex
	hits []string
}

// ControlPath is the path of the control page Hits serves.
const ControlPath = "/control"

func (h *Hits) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.hits = append(h.hits, r.URL.String())
	h.mu.Unlock()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.URL.Path == ControlPath {
		_, _ = w.Write([]byte(`<!doctype html><title>control</title><script>window.pwned = 1; document.title = 'pwned'; fetch('/hit/control');</script>`))
	}
}

// List returns the URLs requested so far, in order.
func (h *Hits) List() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.hits)
}

// CheckDetection navigates to the control page of h, served at base, and
// fails t unless its script registered (window.pwned and the title set, a
// request to /hit/control recorded): the checks that found nothing in the
// pages under test could have found something. It leaves the tab on
// about:blank. The browser must run pages' inline scripts (CSP bypassed
// when the page under test sets one: the control page sets none).
func CheckDetection(t testing.TB, ctx context.Context, h *Hits, base string) {
	t.Helper()
	Do(t, ctx, chromedp.Navigate(base+ControlPath))
	pwned := Eval[bool](t, ctx, `window.pwned === 1 && document.title === 'pwned'`)
	Do(t, ctx, chromedp.Navigate("about:blank"))
	if got := h.List(); !pwned || !slices.ContainsFunc(got, func(s string) bool { return strings.HasSuffix(s, "/hit/control") }) {
		t.Errorf("control page: pwned %v, hits %q; the detection does not work", pwned, got)
	}
}
