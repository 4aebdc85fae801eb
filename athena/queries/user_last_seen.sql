-- Per user: when they were last seen and how many actions (events of any
-- type) they took in a window [from, to). Most recently seen first.
-- last_seen is the event_at text, ISO 8601 UTC with milliseconds. Users
-- only: a person is coalesce(user_id, identities.user_id), so a user's
-- anonymous events count as the user's and never-identified visitors are
-- not listed; bots' events are not counted.
--
-- Execution parameters: times as varchar literals
-- ('2026-11-22T10:00:00Z').
-- Parameters:
--   1. from  timestamp  start of the window, included, e.g. '2026-11-01T00:00:00Z'
--   2. to    timestamp  end of the window, excluded, e.g. '2026-11-22T00:00:00Z'
--   3. from
--   4. to
SELECT coalesce(e.user_id, i.user_id) AS user_id, max(e.event_at) AS last_seen, count(*) AS actions
FROM events_dedup e
LEFT JOIN identities i ON e.user_id IS NULL AND i.anonymous_id = e.anonymous_id
WHERE e.dt >= date_format(from_iso8601_timestamp(?) AT TIME ZONE 'UTC', '%Y-%m-%d')
  AND e.dt <= date_format(date_add('millisecond', -1, from_iso8601_timestamp(?)) AT TIME ZONE 'UTC', '%Y-%m-%d')
  AND from_iso8601_timestamp(e.event_at) >= from_iso8601_timestamp(?)
  AND from_iso8601_timestamp(e.event_at) < from_iso8601_timestamp(?)
  AND NOT e.is_bot
  AND coalesce(e.user_id, i.user_id) IS NOT NULL
GROUP BY coalesce(e.user_id, i.user_id)
ORDER BY last_seen DESC, user_id
