-- Daily, weekly and monthly active users as of a day: the users with at
-- least one event in the 1, 7 and 30 UTC days ending with that day. One row
-- per period, zero when nobody was active.
--
-- Athena execution parameters, one per question mark in order: date,
-- timestamp and varchar values go as varchar literals ('2026-11-22'),
-- bigint values as integer literals (30).
-- Parameters:
--   1. as_of  date  the last day of every period, e.g. '2026-11-22'
--   2. as_of
--   3. as_of
--   4. as_of
--   5. as_of
WITH periods AS (
  SELECT period, days
  FROM (VALUES ('daily', 1), ('weekly', 7), ('monthly', 30)) AS t (period, days)
),
activity AS (
  SELECT DISTINCT user_id, CAST(from_iso8601_timestamp(event_at) AS date) AS day
  FROM events_dedup
  WHERE dt >= date_format(date_add('day', -29, CAST(? AS date)), '%Y-%m-%d')
    AND dt <= date_format(date_add('day', 1, CAST(? AS date)), '%Y-%m-%d')
    AND CAST(from_iso8601_timestamp(event_at) AS date) >= date_add('day', -29, CAST(? AS date))
    AND CAST(from_iso8601_timestamp(event_at) AS date) <= CAST(? AS date)
),
counts AS (
  SELECT p.period, count(DISTINCT a.user_id) AS users
  FROM activity a, periods p
  WHERE a.day > date_add('day', -p.days, CAST(? AS date))
  GROUP BY p.period
)
SELECT p.period, p.days, coalesce(c.users, 0) AS active_users
FROM periods p
LEFT JOIN counts c ON c.period = p.period
ORDER BY p.days
