-- Devices, browsers and operating systems between two UTC days
-- (inclusive), as the tracker classified each event's user agent when it
-- wrote it (device_type, browser, os; 'unknown' where none is stored: no
-- or an uninformative user agent, or a row older than the classification).
-- Per (device, browser, os): events, users (identified people; a person is
-- coalesce(user_id, identities.user_id)) and visitors (anonymous IDs never
-- identified). People's rows first, most events first; then the bots' rows
-- (device 'bot'), whose events are shown but who are never counted as
-- users or visitors (0).
--
-- Execution parameters: dates as varchar literals ('2026-11-22').
-- Parameters:
--   1. from_day  date  first day, e.g. '2026-11-01'
--   2. to_day    date  last day, e.g. '2026-11-22'
WITH clients AS (
  SELECT coalesce(e.device_type, 'unknown') AS device, coalesce(e.browser, 'unknown') AS browser,
    coalesce(e.os, 'unknown') AS os, e.is_bot,
    CASE WHEN NOT e.is_bot THEN coalesce(e.user_id, i.user_id) END AS user_id,
    CASE WHEN NOT e.is_bot AND e.user_id IS NULL AND i.user_id IS NULL THEN e.anonymous_id END AS visitor
  FROM events_dedup e
  LEFT JOIN identities i ON e.user_id IS NULL AND i.anonymous_id = e.anonymous_id
  WHERE e.dt >= ?
    AND e.dt <= ?
)
SELECT device, browser, os, count(*) AS events, count(DISTINCT user_id) AS users,
  count(DISTINCT visitor) AS visitors
FROM clients
GROUP BY is_bot, device, browser, os
ORDER BY is_bot, events DESC, users DESC, visitors DESC, device, browser, os
