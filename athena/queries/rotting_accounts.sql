-- "Rotting" accounts: users active between since and as_of (UTC days,
-- inclusive) whose last event in that window is on or before day
-- as_of - days. Longest gone first, with their last event time and number
-- of events in the window. Users only: a person is coalesce(user_id,
-- identities.user_id), so a visitor who signed up counts as the user (with
-- the anonymous activity before the signup) and a visitor who never did is
-- never listed; bots' events do not count as activity.
--
-- Execution parameters: dates as varchar literals ('2026-11-22'), numbers
-- as integer literals (30).
-- Parameters:
--   1. since  date    first day that counts as activity, e.g. '2026-08-24'
--   2. as_of  date    the day to judge from, e.g. '2026-11-22'
--   3. days   bigint  0..3650  days without any event, e.g. 30
--   4. as_of
WITH seen AS (
  SELECT coalesce(e.user_id, i.user_id) AS user_id, max(e.event_at) AS last_seen, count(*) AS actions
  FROM events_dedup e
  LEFT JOIN identities i ON e.user_id IS NULL AND i.anonymous_id = e.anonymous_id
  WHERE e.dt >= ?
    AND e.dt <= ?
    AND NOT e.is_bot
  GROUP BY coalesce(e.user_id, i.user_id)
)
SELECT user_id, last_seen, actions
FROM seen
WHERE user_id IS NOT NULL
  AND substr(last_seen, 1, 10) <= date_format(date_add('day', -?, CAST(? AS date)), '%Y-%m-%d')
ORDER BY last_seen, user_id
