// Package dashboard is eventlake's analytics dashboard: one server-rendered
// page (html/template) whose charts are inline SVG drawn in Go, over the
// queries of athena/queries answered by the analytics API (package
// athena/api), so that the page and the API share one cache and the
// page's numbers are the API's.
//
//	a, err := api.New(api.Config{Runner: runner})
//	d, err := dashboard.New(dashboard.Config{API: a, UserURL: "/admin/activity?user="})
//	mux.Handle("/api/", a)
//	mux.Handle("GET /dashboard", d)
//
// GET /dashboard?from=YYYY-MM-DD&to=YYYY-MM-DD (UTC days, inclusive; the
// last 30 days by default) shows: active users and visitors per day (daily,
// weekly, monthly), logins per day, clicks and impressions per hour,
// devices, sessions, usage frequency, signups by first touch with each
// signup's attribution, conversions by campaign, rotting accounts
// (inactive_days, default 14) and accounts that look shared. Each chart
// links to its data as CSV and JSON (the API) and says how old it is; rows
// that are users link to the per-user admin page (Config.UserURL). The
// page's queries run concurrently, at most Config.Concurrency at a time;
// max_age=0 recomputes them.
//
// The page has no script, no external resource and no inline style
// attribute: its Content-Security-Policy allows only its own stylesheet, by
// hash, and every value from the data is escaped by html/template. It does
// no authentication: mount it behind the application's, or behind API
// Gateway's authorization (docs/dashboard.md).
package dashboard
