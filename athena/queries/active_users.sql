-- Daily, weekly and monthly active users as of a day: the identified people
-- with an event in the 1, 7 and 30 UTC days ending with that day, and beside
-- them the visitors (anonymous IDs never identified) active in those days.
-- A person is coalesce(user_id, identities.user_id), so a user's anonymous
-- events count as the user's, also before the signup; bots are never
-- counted. One row per period, zeros when nobody was active.
--
-- Execution parameters: dates as varchar literals ('2026-11-22'), numbers
-- as integer literals (30).
-- Parameters:
--   1. as_of  date  the last day of every period, e.g. '2026-11-22'
--   2. as_of
--   3. as_of
WITH periods AS (
  SELECT period, days
  FROM (VALUES ('daily', 1), ('weekly', 7), ('monthly', 30)) AS t (period, days)
),
activity AS (
  SELECT DISTINCT e.dt AS day, coalesce(e.user_id, i.user_id) AS user_id,
    CASE WHEN e.user_id IS NULL AND i.user_id IS NULL THEN e.anonymous_id END AS visitor
  FROM events_dedup e
  LEFT JOIN identities i ON e.user_id IS NULL AND i.anonymous_id = e.anonymous_id
  WHERE e.dt >= date_format(date_add('day', -29, CAST(? AS date)), '%Y-%m-%d')
    AND e.dt <= ?
    AND NOT e.is_bot
),
counts AS (
  SELECT p.period, count(DISTINCT a.user_id) AS users, count(DISTINCT a.visitor) AS visitors
  FROM activity a, periods p
  WHERE a.day > date_format(date_add('day', -p.days, CAST(? AS date)), '%Y-%m-%d')
  GROUP BY p.period
)
SELECT p.period, p.days, coalesce(c.users, 0) AS active_users, coalesce(c.visitors, 0) AS visitors
FROM periods p
LEFT JOIN counts c ON c.period = p.period
ORDER BY p.days
