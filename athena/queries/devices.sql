-- Devices, browsers and operating systems between two UTC days (inclusive):
-- events and distinct users per (device, browser, os), parsed from the user
-- agent with regular expressions. device: desktop, mobile, tablet, bot or
-- unknown (no user agent); browser and os: a family name or 'other'.
-- Most events first.
--
-- Athena execution parameters, one per question mark in order: date,
-- timestamp and varchar values go as varchar literals ('2026-11-22'),
-- bigint values as integer literals (30).
-- Parameters:
--   1. from_day  date  first day, e.g. '2026-11-01'
--   2. to_day    date  last day, e.g. '2026-11-22'
--   3. from_day
--   4. to_day
WITH agents AS (
  SELECT user_id, coalesce(user_agent, '') AS ua
  FROM events_dedup
  WHERE dt >= ?
    AND dt <= date_format(date_add('day', 1, CAST(? AS date)), '%Y-%m-%d')
    AND CAST(from_iso8601_timestamp(event_at) AS date) >= CAST(? AS date)
    AND CAST(from_iso8601_timestamp(event_at) AS date) <= CAST(? AS date)
),
parsed AS (
  SELECT user_id,
    CASE
      WHEN ua = '' THEN 'unknown'
      WHEN regexp_like(lower(ua), 'bot|crawl|spider|slurp|curl/|wget/|python-requests|go-http-client') THEN 'bot'
      WHEN regexp_like(ua, 'iPad|Tablet') THEN 'tablet'
      WHEN regexp_like(ua, 'Mobi|iPhone|iPod|Windows Phone') THEN 'mobile'
      WHEN regexp_like(ua, 'Android') THEN 'tablet'
      ELSE 'desktop'
    END AS device,
    CASE
      WHEN ua = '' THEN 'unknown'
      WHEN regexp_like(ua, 'Edge/|Edg/|EdgA/|EdgiOS/') THEN 'Edge'
      WHEN regexp_like(ua, 'OPR/|Opera') THEN 'Opera'
      WHEN regexp_like(ua, 'SamsungBrowser/') THEN 'Samsung Internet'
      WHEN regexp_like(ua, 'Firefox/|FxiOS/') THEN 'Firefox'
      WHEN regexp_like(ua, 'Chrome/|CriOS/') THEN 'Chrome'
      WHEN regexp_like(ua, 'Version/[0-9.]+.*Safari/') THEN 'Safari'
      WHEN regexp_like(ua, 'MSIE |Trident/') THEN 'Internet Explorer'
      ELSE 'other'
    END AS browser,
    CASE
      WHEN ua = '' THEN 'unknown'
      WHEN regexp_like(ua, 'Windows Phone') THEN 'Windows Phone'
      WHEN regexp_like(ua, 'Windows') THEN 'Windows'
      WHEN regexp_like(ua, 'iPhone|iPad|iPod') THEN 'iOS'
      WHEN regexp_like(ua, 'Android') THEN 'Android'
      WHEN regexp_like(ua, 'CrOS') THEN 'Chrome OS'
      WHEN regexp_like(ua, 'Mac OS X|Macintosh') THEN 'macOS'
      WHEN regexp_like(ua, 'Linux') THEN 'Linux'
      ELSE 'other'
    END AS os
  FROM agents
)
SELECT device, browser, os, count(*) AS events, count(DISTINCT user_id) AS users
FROM parsed
GROUP BY device, browser, os
ORDER BY events DESC, users DESC, device, browser, os
