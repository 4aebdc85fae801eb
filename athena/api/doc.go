// Package api is eventlake's analytics API: an http.Handler that answers
// the queries of athena/queries over HTTP, for people (the dashboard,
// package athena/dashboard, is built on it), spreadsheets and other
// services.
//
//	h, err := api.New(api.Config{Runner: runner}) // remote.Runner on AWS, local.DB on a laptop
//	mux.Handle("/api/", h)
//	mux.Handle("GET /analytics", h)
//
// Routes (GET and HEAD):
//
//   - /api/v1/queries: every query with its description and parameters
//     (names, types, ranges, examples and the defaults used when a parameter
//     is left out), as JSON.
//   - /api/v1/queries/{name}?param=value...: the query's result as JSON
//     (columns with their types, rows, bytes scanned, cost, when it was
//     computed and how old it is) or CSV (Accept: text/csv, or
//     format=csv), with rows as arrays or, with rows=objects, as objects.
//     Parameters are checked by athena.Query.Args: a bad, missing or unknown
//     one is a 400 naming it; a timestamp also takes Unix epoch seconds.
//   - /analytics?timestamp=<unix seconds> (seed 001): exactly
//     "unique_users,N\nclicks,N\nimpressions,N" for the hour before the
//     timestamp, as text/plain.
//
// Results are reused while younger than Config.MaxAge (default 5 minutes);
// max_age=<seconds> asks for a younger one and max_age=0 for a fresh run.
// Concurrent requests for the same result share one run. When the Runner
// can reuse results itself (remote.Runner: Athena's query result reuse), a
// run asks it for a result no older than the same age, so that every
// instance of a deployment reuses what any of them computed.
//
// The handler does no authentication: mount it behind the application's,
// or behind API Gateway's IAM or JWT authorization (docs/dashboard.md).
package api
