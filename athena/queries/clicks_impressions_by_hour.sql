-- Clicks and impressions per UTC hour between two days (inclusive), as
-- hourly_clicks_impressions answers them for one hour: for each hour
-- [hour, hour + 1 hour), the identified people who clicked or saw an
-- impression (a person is coalesce(user_id, identities.user_id)), the
-- clicks and impressions of everyone but bots, and the visitors (anonymous
-- IDs never identified) among them. One row per hour, oldest first, zeros
-- shown; hour is written '2026-11-22T10:00:00Z'. Days run from 1970-01-01
-- to 2243-10-16 (the calendar the query builds from digits).
--
-- Execution parameters: dates as varchar literals ('2026-11-22').
-- Parameters:
--   1. from_day  date  first day, e.g. '2026-11-15'
--   2. to_day    date  last day, e.g. '2026-11-22'
--   3. from_day
--   4. to_day
WITH hits AS (
  SELECT date_format(from_iso8601_timestamp(e.event_at) AT TIME ZONE 'UTC', '%Y-%m-%dT%H:00:00Z') AS hour,
    coalesce(e.user_id, i.user_id) AS user_id,
    CASE WHEN e.user_id IS NULL AND i.user_id IS NULL THEN e.anonymous_id END AS visitor,
    e.event_type
  FROM events_dedup e
  LEFT JOIN identities i ON e.user_id IS NULL AND i.anonymous_id = e.anonymous_id
  WHERE e.event_type IN ('click', 'impression')
    AND e.dt >= ?
    AND e.dt <= ?
    AND NOT e.is_bot
),
counts AS (
  SELECT hour, count(DISTINCT user_id) AS unique_users,
    count(CASE WHEN event_type = 'click' THEN 1 END) AS clicks,
    count(CASE WHEN event_type = 'impression' THEN 1 END) AS impressions,
    count(DISTINCT visitor) AS visitors
  FROM hits
  GROUP BY hour
),
digits AS (
  SELECT n FROM (VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) AS t (n)
),
calendar AS (
  SELECT date_add('day', d1.n + 10 * d2.n + 100 * d3.n + 1000 * d4.n + 10000 * d5.n, DATE '1970-01-01') AS d
  FROM digits d1, digits d2, digits d3, digits d4, digits d5
),
hours AS (
  SELECT date_format(c.d, '%Y-%m-%d') || 'T' || h.hh || ':00:00Z' AS hour
  FROM calendar c, (VALUES ('00'), ('01'), ('02'), ('03'), ('04'), ('05'), ('06'), ('07'), ('08'), ('09'), ('10'), ('11'),
    ('12'), ('13'), ('14'), ('15'), ('16'), ('17'), ('18'), ('19'), ('20'), ('21'), ('22'), ('23')) AS h (hh)
  WHERE c.d >= CAST(? AS date)
    AND c.d <= CAST(? AS date)
)
SELECT h.hour, coalesce(c.unique_users, 0) AS unique_users, coalesce(c.clicks, 0) AS clicks,
  coalesce(c.impressions, 0) AS impressions, coalesce(c.visitors, 0) AS visitors
FROM hours h
LEFT JOIN counts c ON c.hour = h.hour
ORDER BY h.hour
