// Package browsertest starts headless Chromium for tests and drives it with
// chromedp (github.com/chromedp/chromedp): one browser per test, a recorder of
// the page's console, full-page screenshots kept in test-artifacts/, Run, Do
// and Eval helpers that fail the test with the step that went wrong, and
// Hits with CheckDetection for the XSS tests (what hostile payloads request,
// and a control page proving the detection works).
//
//	ctx := browsertest.New(t) // Chromium with a fresh profile; stopped when t ends
//	console := browsertest.RecordConsole(t, ctx)
//	browsertest.Do(t, ctx, chromedp.Navigate(srv.URL))
//	title := browsertest.Run(t, ctx, chromedp.Title())
//	browsertest.Screenshot(t, ctx, "page.png") // test-artifacts/page.png
//	if errs := console.Errors(t); len(errs) != 0 {
//		t.Errorf("console errors: %q", errs)
//	}
//
// The browser is Debian's chromium: `chromium` on PATH, else
// /usr/bin/chromium (`make chromium` installs it). When it is missing or does
// not start, New fails the test with the reason; it never skips.
//
// A context from New belongs to one test goroutine, as a chromedp context
// does: one tab, one action at a time.
package browsertest
