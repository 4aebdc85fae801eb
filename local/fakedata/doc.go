// Package fakedata generates realistic, reproducible user activity for the
// demo, the local pipeline and load tests: users with string or numeric IDs
// who sign up, log in (sometimes after a failed attempt), browse pages that
// carry url, referrer and utm_* campaign attributes, click, see ad
// impressions and log out, from real browser user agents (Chrome, Firefox,
// Safari, Edge, Samsung Internet and Opera on Windows, macOS, Linux,
// ChromeOS, Android and iOS) and public-looking IPv4 and IPv6 addresses,
// plus a few crawlers.
//
// Activity follows a daily rhythm in each user's time zone, weekends are
// quieter, and a few users are much more active than most. Every event is
// valid for a tracker with the default configuration (DefaultEventTypes, no
// MaxAge) and lies in the span [End - Days, End].
//
// Output is deterministic: the same Config (Seed and End included) yields
// the same events in the same order. With Config.IDs the event IDs are
// deterministic UUIDv7s too, so loading the same data twice rewrites the
// same DynamoDB items instead of adding new ones.
//
// Generate returns a slice; Events streams the events in time order while
// holding only about one day of them in memory, for large volumes.
package fakedata
