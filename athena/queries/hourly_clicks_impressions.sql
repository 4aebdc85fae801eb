-- For the hour before a given time, [at - 1 hour, at): the number of unique
-- users who clicked or saw an impression, the clicks and the impressions,
-- and the unique visitors among them. Users are identified people (a person
-- is coalesce(user_id, identities.user_id)); visitors are anonymous IDs
-- never identified; clicks and impressions count everyone's but bots'.
--
-- Execution parameters: times as varchar literals
-- ('2026-11-22T10:00:00Z').
-- Parameters:
--   1. at  timestamp  end of the hour (excluded), ISO 8601, e.g. '2026-11-22T10:00:00Z'
--   2. at
--   3. at
--   4. at
SELECT
  count(DISTINCT coalesce(e.user_id, i.user_id)) AS unique_users,
  count(CASE WHEN e.event_type = 'click' THEN 1 END) AS clicks,
  count(CASE WHEN e.event_type = 'impression' THEN 1 END) AS impressions,
  count(DISTINCT CASE WHEN e.user_id IS NULL AND i.user_id IS NULL THEN e.anonymous_id END) AS visitors
FROM events_dedup e
LEFT JOIN identities i ON e.user_id IS NULL AND i.anonymous_id = e.anonymous_id
WHERE e.event_type IN ('click', 'impression')
  AND e.dt >= date_format(date_add('hour', -1, from_iso8601_timestamp(?)) AT TIME ZONE 'UTC', '%Y-%m-%d')
  AND e.dt <= date_format(date_add('millisecond', -1, from_iso8601_timestamp(?)) AT TIME ZONE 'UTC', '%Y-%m-%d')
  AND from_iso8601_timestamp(e.event_at) >= date_add('hour', -1, from_iso8601_timestamp(?))
  AND from_iso8601_timestamp(e.event_at) < from_iso8601_timestamp(?)
  AND NOT e.is_bot
