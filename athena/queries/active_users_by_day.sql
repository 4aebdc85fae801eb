-- Daily, weekly and monthly active users for every UTC day between two days
-- (inclusive), as active_users answers them for one day: for each day, the
-- identified people with an event in the 1, 7 and 30 days ending with it,
-- and beside them the visitors (anonymous IDs never identified) active in
-- those days. A person is coalesce(user_id, identities.user_id); bots are
-- never counted. One row per day, oldest first, zeros on days without
-- anyone active. Days run from 1970-01-01 to 2243-10-16 (the calendar the
-- query builds from digits, as no table of days exists).
--
-- Execution parameters: dates as varchar literals ('2026-11-22').
-- Parameters:
--   1. from_day  date  first day, e.g. '2026-10-24'
--   2. to_day    date  last day, e.g. '2026-11-22'
--   3. from_day
--   4. to_day
WITH activity AS (
  SELECT DISTINCT e.dt AS day, coalesce(e.user_id, i.user_id) AS user_id,
    CASE WHEN e.user_id IS NULL AND i.user_id IS NULL THEN e.anonymous_id END AS visitor
  FROM events_dedup e
  LEFT JOIN identities i ON e.user_id IS NULL AND i.anonymous_id = e.anonymous_id
  WHERE e.dt >= date_format(date_add('day', -29, CAST(? AS date)), '%Y-%m-%d')
    AND e.dt <= ?
    AND NOT e.is_bot
),
digits AS (
  SELECT n FROM (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS t (n)
),
calendar AS (
  SELECT date_add('day', d1.n + 10 * d2.n + 100 * d3.n + 1000 * d4.n + 10000 * d5.n, DATE '1970-01-01') AS d
  FROM digits d1, digits d2, digits d3, digits d4, digits d5
),
days AS (
  SELECT date_format(d, '%Y-%m-%d') AS day, date_format(date_add('day', -6, d), '%Y-%m-%d') AS week_from,
    date_format(date_add('day', -29, d), '%Y-%m-%d') AS month_from
  FROM calendar
  WHERE d >= CAST(? AS date)
    AND d <= CAST(? AS date)
),
counts AS (
  SELECT d.day,
    count(DISTINCT CASE WHEN a.day = d.day THEN a.user_id END) AS daily_users,
    count(DISTINCT CASE WHEN a.day >= d.week_from THEN a.user_id END) AS weekly_users,
    count(DISTINCT a.user_id) AS monthly_users,
    count(DISTINCT CASE WHEN a.day = d.day THEN a.visitor END) AS daily_visitors,
    count(DISTINCT CASE WHEN a.day >= d.week_from THEN a.visitor END) AS weekly_visitors,
    count(DISTINCT a.visitor) AS monthly_visitors
  FROM days d
  JOIN activity a ON a.day >= d.month_from AND a.day <= d.day
  GROUP BY d.day
)
SELECT d.day, coalesce(c.daily_users, 0) AS daily_users, coalesce(c.weekly_users, 0) AS weekly_users,
  coalesce(c.monthly_users, 0) AS monthly_users, coalesce(c.daily_visitors, 0) AS daily_visitors,
  coalesce(c.weekly_visitors, 0) AS weekly_visitors, coalesce(c.monthly_visitors, 0) AS monthly_visitors
FROM days d
LEFT JOIN counts c ON c.day = d.day
ORDER BY d.day
