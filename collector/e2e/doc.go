// Package e2e tests the collector with Segment's own client libraries
// against the whole local stack (DynamoDB Local, the stream, the relay, the
// Firehose endpoint, the lake queried with DuckDB): analytics-go,
// analytics-node from a node script, analytics.js (analytics-next's browser
// bundle) in headless Chromium, and curl for the seeds' formats. Every
// event must land in the lake exactly once with identity stitched.
//
// The JavaScript libraries are pinned in testdata/js/package.json and
// package-lock.json; `make deps` installs them (npm ci). A test that misses
// node, Chromium or curl fails with the reason; none skips.
package e2e
