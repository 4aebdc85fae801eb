// Package admin serves an embeddable admin page of a user's recent activity:
// each event's time (absolute and relative), type, IP address, browser,
// operating system, device and attributes, newest first, with a filter by
// type and date, a link to older events, and the user's last-seen time and
// action count. The same data is served as JSON to clients that ask for it
// (Accept: application/json, or format=json).
//
// The handler does no authentication: mount it behind the application's own
// admin authentication and authorisation.
//
//	mux.Handle("/admin/activity", requireAdmin(admin.NewHandler(tr, admin.Options{Reader: reader})))
//
// Everything an event holds is untrusted input (user agents, attributes, even
// user IDs): the page is rendered with html/template, runs no script at all,
// and is served with a strict Content-Security-Policy (no script, styles only
// by hash, no framing), X-Content-Type-Options: nosniff, Referrer-Policy:
// no-referrer and Cache-Control: no-store. Links are relative to the page's
// own URL, so the handler works under any path without http.StripPrefix.
package admin
