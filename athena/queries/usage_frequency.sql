-- How often active users come back in a period of UTC days (inclusive):
-- the users' active days (days with at least one of their events), as a
-- distribution in buckets of 1, 2-3, 4-7, 8-14 and 15+ days, one row per
-- bucket (all five, zero users shown), with on every row the number of
-- active users and their average and median active days. Users only (a
-- person is coalesce(user_id, identities.user_id); visitors are not
-- counted); bots' events do not count. share_pct is the bucket's share of
-- active users; decimals are rounded half up to 2 places.
--
-- Execution parameters: dates as varchar literals ('2026-11-22').
-- Parameters:
--   1. from_day  date  first day, e.g. '2026-10-24'
--   2. to_day    date  last day, e.g. '2026-11-22'
WITH active AS (
  SELECT coalesce(e.user_id, i.user_id) AS user_id, count(DISTINCT e.dt) AS days
  FROM events_dedup e
  LEFT JOIN identities i ON e.user_id IS NULL AND i.anonymous_id = e.anonymous_id
  WHERE e.dt >= ?
    AND e.dt <= ?
    AND NOT e.is_bot
    AND coalesce(e.user_id, i.user_id) IS NOT NULL
  GROUP BY coalesce(e.user_id, i.user_id)
),
ranked AS (
  SELECT days, row_number() OVER (ORDER BY days) AS n, count(*) OVER () AS total
  FROM active
),
summary AS (
  SELECT count(*) AS users, sum(days) AS day_sum,
    sum(CASE WHEN n IN ((total + 1) / 2, (total + 2) / 2) THEN days END) AS mid_sum,
    count(CASE WHEN n IN ((total + 1) / 2, (total + 2) / 2) THEN 1 END) AS mid_n
  FROM ranked
),
buckets AS (
  SELECT label, min_days, max_days
  FROM (VALUES ('1', 1, 1), ('2-3', 2, 3), ('4-7', 4, 7), ('8-14', 8, 14), ('15+', 15, CAST(NULL AS integer)))
    AS t (label, min_days, max_days)
),
counts AS (
  SELECT b.label, b.min_days, b.max_days, count(a.user_id) AS users
  FROM buckets b
  LEFT JOIN active a ON a.days >= b.min_days AND (b.max_days IS NULL OR a.days <= b.max_days)
  GROUP BY b.label, b.min_days, b.max_days
)
SELECT c.label AS active_days, c.min_days, c.max_days, c.users,
  CASE WHEN s.users > 0 THEN ((20000 * c.users + s.users) / (2 * s.users)) * 0.01 END AS share_pct,
  s.users AS active_users,
  CASE WHEN s.users > 0 THEN ((200 * s.day_sum + s.users) / (2 * s.users)) * 0.01 END AS average_days,
  CASE WHEN s.users > 0 THEN ((200 * s.mid_sum + s.mid_n) / (2 * s.mid_n)) * 0.01 END AS median_days
FROM counts c, summary s
ORDER BY c.min_days
