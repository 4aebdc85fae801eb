-- Per user: when they were last seen and how many actions (events of any
-- type) they took in a window [from, to). Most recently seen first.
-- last_seen is the event_at text, ISO 8601 UTC with milliseconds.
--
-- Athena execution parameters, one per question mark in order: date,
-- timestamp and varchar values go as varchar literals ('2026-11-22'),
-- bigint values as integer literals (30).
-- Parameters:
--   1. from  timestamp  start of the window, included, e.g. '2026-11-01T00:00:00Z'
--   2. to    timestamp  end of the window, excluded, e.g. '2026-11-22T00:00:00Z'
--   3. from
--   4. to
SELECT user_id, max(event_at) AS last_seen, count(*) AS actions
FROM events_dedup
WHERE dt >= date_format(from_iso8601_timestamp(?) AT TIME ZONE 'UTC', '%Y-%m-%d')
  AND dt <= date_format(date_add('day', 1, from_iso8601_timestamp(?)) AT TIME ZONE 'UTC', '%Y-%m-%d')
  AND from_iso8601_timestamp(event_at) >= from_iso8601_timestamp(?)
  AND from_iso8601_timestamp(event_at) < from_iso8601_timestamp(?)
GROUP BY user_id
ORDER BY last_seen DESC, user_id
