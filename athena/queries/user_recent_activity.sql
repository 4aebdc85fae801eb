-- A user's recent activity, newest first: the user's events since a time, at
-- most 100 (event_at, event_type, event_id, user agent, IP, attributes).
--
-- Athena execution parameters, one per question mark in order: date,
-- timestamp and varchar values go as varchar literals ('2026-11-22'),
-- bigint values as integer literals (30).
-- Parameters:
--   1. user_id  varchar    the user, e.g. '42'
--   2. since    timestamp  earliest event time, ISO 8601, e.g. '2026-11-15T00:00:00Z'
--   3. since
SELECT event_at, event_type, event_id, user_agent, ip_address, attributes
FROM events_dedup
WHERE user_id = ?
  AND dt >= date_format(from_iso8601_timestamp(?) AT TIME ZONE 'UTC', '%Y-%m-%d')
  AND from_iso8601_timestamp(event_at) >= from_iso8601_timestamp(?)
ORDER BY event_at DESC, event_id DESC
LIMIT 100
