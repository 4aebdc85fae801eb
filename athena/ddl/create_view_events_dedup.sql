-- events_dedup: the events without duplicate deliveries. The pipeline is
-- at-least-once, so an event can land twice; the copies are identical. The
-- view keeps one row per event and arrival day: per (dt, user_id, event_at,
-- event_id), which is the event's identity (user_id, event_at, event_id as in
-- the DynamoDB key) plus dt.
--
-- dt is part of the window's PARTITION BY on purpose: both Trino and DuckDB
-- push a filter on dt below the window only when dt is a partition column of
-- it, so "WHERE dt >= '...'" on the view still reads only those partitions.
-- A window over the event identity alone would read every partition for every
-- query. The price: two copies that arrived on different UTC days (a retry
-- that straddles midnight) are both kept. Retries happen within seconds to
-- minutes, so such pairs are rare.
CREATE OR REPLACE VIEW {{.Database}}.events_dedup AS
SELECT user_id, event_at, event_id, event_type, user_agent, ip_address, attributes, dt
FROM (
  SELECT
    user_id, event_at, event_id, event_type, user_agent, ip_address, attributes, dt,
    row_number() OVER (PARTITION BY dt, user_id, event_at, event_id) AS copy
  FROM {{.Database}}.events
)
WHERE copy = 1
