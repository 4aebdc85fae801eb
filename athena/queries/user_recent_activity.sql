-- A user's recent activity, newest first: at most 100 events since a time,
-- those sent with the user's ID and the anonymous ones of every anonymous ID
-- linked to the user (identities: before they signed in or signed up).
-- user_id is the event's own (NULL on an anonymous event); bots' events (the
-- user's scripts) are shown, marked by is_bot.
--
-- Execution parameters: text and times as varchar literals ('42',
-- '2026-11-22T10:00:00Z').
-- Parameters:
--   1. user_id  varchar    the user, e.g. '42'
--   2. since    timestamp  earliest event time, ISO 8601, e.g. '2026-11-15T00:00:00Z'
--   3. since
SELECT e.event_at, e.event_type, e.event_id, e.user_id, e.anonymous_id, e.device_type, e.browser, e.os,
  e.is_bot, e.user_agent, e.ip_address, e.attributes
FROM events_dedup e
LEFT JOIN identities i ON e.user_id IS NULL AND i.anonymous_id = e.anonymous_id
WHERE coalesce(e.user_id, i.user_id) = ?
  AND e.dt >= date_format(from_iso8601_timestamp(?) AT TIME ZONE 'UTC', '%Y-%m-%d')
  AND from_iso8601_timestamp(e.event_at) >= from_iso8601_timestamp(?)
ORDER BY e.event_at DESC, e.event_id DESC
LIMIT 100
