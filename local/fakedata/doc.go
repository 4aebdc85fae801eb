// Package fakedata generates realistic, reproducible user activity for the
// demo, the local pipeline, the test lake (athena/lakegen) and load tests.
//
// It models journeys rather than random events:
//
//   - Anonymous visitors (AnonymousID only: a first-party cookie per
//     browser) arrive directly, from search engines and other referrers, or
//     from campaigns (utm_source, utm_medium, utm_campaign, sometimes
//     utm_term and utm_content on the landing page), and browse the
//     marketing site: page views carry the standard attributes url, path,
//     title and referrer (the external referrer on the landing page, the
//     previous page after that).
//   - Some visitors come back and sign up: an identify event with both IDs,
//     then signup (plan free, trial or pro), trial_started or subscribed and
//     purchase, all with the user ID and the same anonymous ID. From then on
//     they are users.
//   - Users log in (their page views before logging in are anonymous),
//     browse the app, click, see ad impressions, search, upgrade, buy, and
//     some cancel (unsubscribed) and stop coming back.
//   - Crawlers browse anonymously from their operators' address blocks with
//     bot user agents; one customer's export script calls the product with
//     its user's ID and a python-requests user agent.
//   - A few accounts are shared: used from several households' networks and
//     devices.
//   - Identity edge cases, planned on fixed days when Users is at least 8: a
//     family computer whose browser is identified as two users in turn (the
//     first link wins), a user who browsed anonymously on a phone before
//     signing up on a laptop and later logs in on the phone (two anonymous
//     IDs, one user), and a native app install linked with an alias event.
//
// Activity follows a daily rhythm in each person's time zone, weekends are
// quieter, and a few users are much more active than most. Every event is
// valid for a tracker with the default configuration (DefaultEventTypes, no
// MaxAge) and lies in the span [End - Days, End]; browsers' user agents are
// real (desktop, mobile and tablet), and addresses look public.
//
// Output is deterministic: the same Config (Seed and End included) yields
// the same events in the same order. With Config.IDs the event IDs are
// deterministic UUIDv7s too, so loading the same data twice rewrites the
// same DynamoDB items instead of adding new ones.
//
// Generate returns a slice; Events streams the events in time order while
// holding only about one day of them in memory, for large volumes.
//
// Applications use it to fill a local/laketest Lake or a development table
// with traffic that looks like production's (for the admin page, the
// queries, a load test); its events take the default event types, so a
// tracker with an allowlist of its own must allow those too.
package fakedata
