-- Accounts that look shared, between two UTC days (inclusive): users seen
-- from more distinct networks (IPv4 /24, IPv6 /48 of ip_address) than
-- max_networks, or more distinct devices (device_type, browser, os as the
-- tracker classified them) than max_devices. A person is coalesce(user_id,
-- identities.user_id); bots' events (scripts) are left out. Evidence: the
-- counts, the events, and the ten networks and devices with most events
-- ("81.2.69.0/24 (12)"). Most networks first.
--
-- Execution parameters: dates as varchar literals ('2026-11-22'), numbers
-- as integer literals (4).
-- Parameters:
--   1. from_day      date    first day, e.g. '2026-10-24'
--   2. to_day        date    last day, e.g. '2026-11-22'
--   3. max_networks  bigint  0..1000  networks one person normally uses, e.g. 4
--   4. max_devices   bigint  0..1000  devices one person normally uses, e.g. 3
WITH seen AS (
  SELECT coalesce(e.user_id, i.user_id) AS user_id,
    CASE
      WHEN e.ip_address IS NULL THEN NULL
      WHEN strpos(e.ip_address, ':') = 0
        THEN regexp_extract(e.ip_address, '^([0-9]+\.[0-9]+\.[0-9]+)\.', 1) || '.0/24'
      WHEN regexp_like(e.ip_address, '^[0-9a-f]+:[0-9a-f]+:[0-9a-f]+:')
        THEN regexp_extract(e.ip_address, '^([0-9a-f]+:[0-9a-f]+:[0-9a-f]+):', 1) || '::/48'
      WHEN regexp_like(e.ip_address, '^[0-9a-f]+:[0-9a-f]+::')
        THEN regexp_extract(e.ip_address, '^([0-9a-f]+:[0-9a-f]+)::', 1) || ':0::/48'
      WHEN regexp_like(e.ip_address, '^[0-9a-f]+::')
        THEN regexp_extract(e.ip_address, '^([0-9a-f]+)::', 1) || ':0:0::/48'
      WHEN regexp_like(e.ip_address, '^::[0-9a-f]+(:[0-9a-f]+){5}$')
        THEN '0:0:' || regexp_extract(e.ip_address, '^::([0-9a-f]+)', 1) || '::/48'
      ELSE '0:0:0::/48'
    END AS network,
    coalesce(e.device_type, 'unknown') || ' ' || coalesce(e.browser, 'unknown') || ' '
      || coalesce(e.os, 'unknown') AS device
  FROM events_dedup e
  LEFT JOIN identities i ON e.user_id IS NULL AND i.anonymous_id = e.anonymous_id
  WHERE e.dt >= ?
    AND e.dt <= ?
    AND NOT e.is_bot
    AND coalesce(e.user_id, i.user_id) IS NOT NULL
),
shared AS (
  SELECT user_id, count(DISTINCT network) AS networks, count(DISTINCT device) AS devices, count(*) AS events
  FROM seen
  GROUP BY user_id
),
flagged AS (
  SELECT user_id, networks, devices, events
  FROM shared
  WHERE networks > ?
    OR devices > ?
),
network_counts AS (
  SELECT s.user_id, s.network AS item, count(*) AS n
  FROM seen s
  JOIN flagged f ON f.user_id = s.user_id
  WHERE s.network IS NOT NULL
  GROUP BY s.user_id, s.network
),
device_counts AS (
  SELECT s.user_id, s.device AS item, count(*) AS n
  FROM seen s
  JOIN flagged f ON f.user_id = s.user_id
  GROUP BY s.user_id, s.device
),
network_lists AS (
  SELECT user_id, array_join(array_agg(item || ' (' || CAST(n AS varchar) || ')' ORDER BY nth), ', ') AS list
  FROM (SELECT user_id, item, n, row_number() OVER (PARTITION BY user_id ORDER BY n DESC, item) AS nth
        FROM network_counts) AS t
  WHERE nth <= 10
  GROUP BY user_id
),
device_lists AS (
  SELECT user_id, array_join(array_agg(item || ' (' || CAST(n AS varchar) || ')' ORDER BY nth), ', ') AS list
  FROM (SELECT user_id, item, n, row_number() OVER (PARTITION BY user_id ORDER BY n DESC, item) AS nth
        FROM device_counts) AS t
  WHERE nth <= 10
  GROUP BY user_id
)
SELECT f.user_id, f.networks, f.devices, f.events, nl.list AS top_networks, dl.list AS top_devices
FROM flagged f
LEFT JOIN network_lists nl ON nl.user_id = f.user_id
LEFT JOIN device_lists dl ON dl.user_id = f.user_id
ORDER BY f.networks DESC, f.devices DESC, f.user_id
