-- Logins per UTC day between two days (inclusive), oldest first, zeros on
-- days without any: the login events (bots' left out) and the distinct
-- user IDs that logged in. logins_per_day answers the same for the last 7
-- days without parameters. Days run from 1970-01-01 to 2243-10-16 (the
-- calendar the query builds from digits).
--
-- Execution parameters: dates as varchar literals ('2026-11-22').
-- Parameters:
--   1. from_day  date  first day, e.g. '2026-10-24'
--   2. to_day    date  last day, e.g. '2026-11-22'
--   3. from_day
--   4. to_day
WITH logins AS (
  SELECT dt AS day, count(*) AS logins, count(DISTINCT user_id) AS users
  FROM events_dedup
  WHERE dt >= ?
    AND dt <= ?
    AND event_type = 'login'
    AND NOT is_bot
  GROUP BY dt
),
digits AS (
  SELECT n FROM (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS t (n)
),
calendar AS (
  SELECT date_add('day', d1.n + 10 * d2.n + 100 * d3.n + 1000 * d4.n + 10000 * d5.n, DATE '1970-01-01') AS d
  FROM digits d1, digits d2, digits d3, digits d4, digits d5
),
days AS (
  SELECT date_format(d, '%Y-%m-%d') AS day
  FROM calendar
  WHERE d >= CAST(? AS date)
    AND d <= CAST(? AS date)
)
SELECT d.day, coalesce(l.logins, 0) AS logins, coalesce(l.users, 0) AS users
FROM days d
LEFT JOIN logins l ON l.day = d.day
ORDER BY d.day
