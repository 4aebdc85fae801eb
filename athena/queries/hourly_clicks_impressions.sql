-- For the hour before a given time, [at - 1 hour, at): the number of unique
-- users who clicked or saw an impression, the clicks and the impressions.
--
-- Athena execution parameters, one per question mark in order: date,
-- timestamp and varchar values go as varchar literals ('2026-11-22'),
-- bigint values as integer literals (30).
-- Parameters:
--   1. at  timestamp  end of the hour (excluded), ISO 8601, e.g. '2026-11-22T10:00:00Z'
--   2. at
--   3. at
--   4. at
SELECT
  count(DISTINCT user_id) AS unique_users,
  count(CASE WHEN event_type = 'click' THEN 1 END) AS clicks,
  count(CASE WHEN event_type = 'impression' THEN 1 END) AS impressions
FROM events_dedup
WHERE event_type IN ('click', 'impression')
  AND dt >= date_format(date_add('hour', -1, from_iso8601_timestamp(?)) AT TIME ZONE 'UTC', '%Y-%m-%d')
  AND dt <= date_format(date_add('day', 1, from_iso8601_timestamp(?)) AT TIME ZONE 'UTC', '%Y-%m-%d')
  AND from_iso8601_timestamp(event_at) >= date_add('hour', -1, from_iso8601_timestamp(?))
  AND from_iso8601_timestamp(event_at) < from_iso8601_timestamp(?)
