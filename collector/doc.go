// Package collector is eventlake's HTTP ingestion handler: browsers, mobile
// apps, other services and webhooks send events over HTTP in the formats
// they already speak, and the handler stores them through a Sink (a
// *tracker.Tracker: DynamoDB or Firehose, by the event type's route).
//
//	keys, _ := collector.NewKeySet("wk_live_1")
//	h, err := collector.New(tr, collector.Config{
//		WriteKeys:      keys,                             // several at once: rotation
//		AllowedOrigins: []string{"https://shop.example"}, // CORS for analytics.js
//		TrustedProxies: []string{"10.0.0.0/8"},           // believe X-Forwarded-For from these
//	})
//	http.Handle("/", h)
//
// Routes (POST; OPTIONS answers CORS preflights):
//
//   - Segment's tracking API: /v1/track, /v1/page, /v1/screen, /v1/identify,
//     /v1/alias, /v1/batch (and /v1/import), with analytics.js's one-letter
//     spellings /v1/t, /v1/p, /v1/s, /v1/i, /v1/a, /v1/b. So analytics.js,
//     analytics-go, analytics-node and the mobile libraries work by pointing
//     them at the collector. /v1/group is answered but not stored.
//   - eventlake's JSON: /v1/events, one event object (the lake line's
//     fields), an array of them, or NDJSON.
//   - Seed 001: /analytics?timestamp=<unix seconds>&user=<id>&event=click,
//     answered 204.
//   - Seed 003: /event with {"fingerprint", "user_id" (or null), "url",
//     "referrer_url", "created_at", "event": signup|trial|unsubscribe|pageview}.
//
// Every route needs a write key: the HTTP Basic user name (Segment's way),
// the write_key query parameter, or, on Segment's routes, the body's
// writeKey field (analytics.js). A missing or unknown key is 401 and stores
// nothing.
//
// Answers: 200 {"success":true,"accepted":n} when every event was stored
// (seed 001: 204); 400 with the reason for a bad request (nothing stored) or
// with one problem per refused event ({"index","field","reason"}: the good
// events of a batch are stored); 401, 404, 405; 503 with Retry-After when
// the store failed (the client should send again: events carry IDs, so a
// retry does not duplicate them in DynamoDB, and the lake's events_dedup
// view removes repeated lines). A client fault is never a 5xx. The answer
// comes only after the sink stored the events: nothing runs after the
// handler returns.
//
// Limits, as Segment documents them: 32 KB per event (and per single-event
// request), 500 KB per batch request, after gzip decompression
// (Content-Encoding: gzip is accepted). Bodies must be UTF-8; properties
// may nest MaxNesting levels.
//
// The mapping of fields, the attribute rules and the clock-skew correction
// are documented in docs/collector.md and on the functions they belong to
// (EventID, NormalizeEventName, Config).
package collector
