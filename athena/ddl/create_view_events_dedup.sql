-- events_dedup: the events without duplicate deliveries. The pipeline is
-- at-least-once, so an event can land twice; the copies are identical. The
-- view keeps one row per event: per (dt, user_id, anonymous_id, event_at,
-- event_id), which is the event's identity (the DynamoDB key: the actor,
-- user_id or else anonymous_id, then event_at and event_id) plus dt.
--
-- dt is the UTC day of event_at (event-day partitions), so every copy of an
-- event lies in the same partition and the deduplication is exact. dt is
-- part of the window's PARTITION BY on purpose: both Trino and DuckDB push a
-- filter on dt below the window only when dt is a partition column of it,
-- so "WHERE dt >= '...'" on the view still reads only those partitions.
--
-- is_bot is false for rows written before the tracker classified user
-- agents (the column is NULL there), so those rows count as people.
CREATE OR REPLACE VIEW {{.Database}}.events_dedup AS
SELECT user_id, anonymous_id, event_at, event_id, event_type, user_agent, ip_address,
  device_type, browser, os, coalesce(is_bot, false) AS is_bot, attributes, dt
FROM (
  SELECT
    user_id, anonymous_id, event_at, event_id, event_type, user_agent, ip_address,
    device_type, browser, os, is_bot, attributes, dt,
    row_number() OVER (PARTITION BY dt, user_id, anonymous_id, event_at, event_id) AS copy
  FROM {{.Database}}.events
)
WHERE copy = 1
