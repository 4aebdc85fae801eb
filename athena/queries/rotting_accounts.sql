-- "Rotting" accounts: users active between since and as_of (UTC days,
-- inclusive) who have not been seen for the last N days of it, that is whose
-- last event is on or before day as_of - N. Longest gone first, with their
-- last event time and their number of events in the window.
--
-- Athena execution parameters, one per question mark in order: date,
-- timestamp and varchar values go as varchar literals ('2026-11-22'),
-- bigint values as integer literals (30).
-- Parameters:
--   1. since  date    first day that counts as activity, e.g. '2026-08-24'
--   2. as_of  date    the day to judge from, e.g. '2026-11-22'
--   3. since
--   4. as_of
--   5. days   bigint  1..3650  days without any event, e.g. 30
--   6. as_of
WITH seen AS (
  SELECT user_id, max(event_at) AS last_seen, count(*) AS actions
  FROM events_dedup
  WHERE dt >= ?
    AND dt <= date_format(date_add('day', 1, CAST(? AS date)), '%Y-%m-%d')
    AND CAST(from_iso8601_timestamp(event_at) AS date) >= CAST(? AS date)
    AND CAST(from_iso8601_timestamp(event_at) AS date) <= CAST(? AS date)
  GROUP BY user_id
)
SELECT user_id, last_seen, actions
FROM seen
WHERE CAST(from_iso8601_timestamp(last_seen) AS date) <= date_add('day', -?, CAST(? AS date))
ORDER BY last_seen, user_id
