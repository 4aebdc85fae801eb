-- Conversions per source, medium and campaign between two UTC days
-- (inclusive). Visitors: people first seen (first page view in the window)
-- before they were ever identified (never-identified anonymous IDs, and
-- users whose earliest identities link is later); bots excluded. Each is
-- grouped by the utm_source, utm_medium, utm_campaign of their first touch
-- (see signup_attribution) before signing up; a touch without utm is
-- (referrer host, 'referral', '(none)'), no touch ('(direct)', '(none)',
-- '(none)'). Signups: visitors whose first signup in the window follows; time
-- to convert from first page view to signup (hours: average, fastest,
-- longest); pages viewed before the signup (average). Rounded half up.
--
-- Execution parameters: dates as varchar literals ('2026-11-22').
-- Parameters:
--   1. from_day  date  first day, e.g. '2026-10-24'
--   2. to_day    date  last day, e.g. '2026-11-22'
--   3. from_day
--   4. to_day
WITH views AS (
  SELECT coalesce(e.user_id, i.user_id) AS user_id,
    CASE WHEN coalesce(e.user_id, i.user_id) IS NULL THEN 'a#' || e.anonymous_id
      ELSE 'u#' || coalesce(e.user_id, i.user_id) END AS person,
    e.event_at, e.event_id,
    element_at(e.attributes, 'referrer') AS referrer,
    element_at(e.attributes, 'utm_source') AS utm_source,
    element_at(e.attributes, 'utm_medium') AS utm_medium,
    element_at(e.attributes, 'utm_campaign') AS utm_campaign,
    element_at(e.attributes, 'url') AS url
  FROM events_dedup e
  LEFT JOIN identities i ON e.user_id IS NULL AND i.anonymous_id = e.anonymous_id
  WHERE e.event_type = 'page_view'
    AND e.dt >= ?
    AND e.dt <= ?
    AND NOT e.is_bot
),
signups AS (
  SELECT user_id, min(event_at) AS signed_up_at
  FROM events_dedup
  WHERE event_type = 'signup'
    AND dt >= ?
    AND dt <= ?
    AND user_id IS NOT NULL
    AND NOT is_bot
  GROUP BY user_id
),
first_links AS (
  SELECT user_id, min(linked_at) AS linked_at
  FROM identities
  GROUP BY user_id
),
visitors AS (
  SELECT v.person, v.first_seen_at, s.signed_up_at
  FROM (SELECT person, user_id, min(event_at) AS first_seen_at FROM views GROUP BY person, user_id) v
  LEFT JOIN first_links l ON l.user_id = v.user_id
  LEFT JOIN signups s ON s.user_id = v.user_id AND s.signed_up_at >= v.first_seen_at
  WHERE v.user_id IS NULL OR l.linked_at > v.first_seen_at
),
touches AS (
  SELECT person, source, medium, campaign
  FROM (
    SELECT w.person,
      CASE WHEN w.utm_source IS NULL AND w.utm_medium IS NULL AND w.utm_campaign IS NULL
        THEN url_extract_host(w.referrer) ELSE coalesce(w.utm_source, '(not set)') END AS source,
      CASE WHEN w.utm_source IS NULL AND w.utm_medium IS NULL AND w.utm_campaign IS NULL
        THEN 'referral' ELSE coalesce(w.utm_medium, '(not set)') END AS medium,
      CASE WHEN w.utm_source IS NULL AND w.utm_medium IS NULL AND w.utm_campaign IS NULL
        THEN '(none)' ELSE coalesce(w.utm_campaign, '(not set)') END AS campaign,
      row_number() OVER (PARTITION BY w.person ORDER BY w.event_at, w.event_id) AS nth
    FROM views w
    JOIN visitors v ON v.person = w.person
    WHERE (v.signed_up_at IS NULL OR w.event_at < v.signed_up_at)
      AND (w.utm_source IS NOT NULL OR w.utm_medium IS NOT NULL OR w.utm_campaign IS NOT NULL
        OR (url_extract_host(w.referrer) <> ''
          AND coalesce(url_extract_host(w.referrer) <> url_extract_host(w.url), true)))
  ) AS t
  WHERE nth = 1
),
pages AS (
  SELECT v.person, count(*) AS pages
  FROM visitors v
  JOIN views w ON w.person = v.person AND w.event_at < v.signed_up_at
  GROUP BY v.person
),
journeys AS (
  SELECT coalesce(t.source, '(direct)') AS source, coalesce(t.medium, '(none)') AS medium,
    coalesce(t.campaign, '(none)') AS campaign, v.signed_up_at,
    date_diff('millisecond', from_iso8601_timestamp(v.first_seen_at), from_iso8601_timestamp(v.signed_up_at)) AS ms,
    p.pages
  FROM visitors v
  LEFT JOIN touches t ON t.person = v.person
  LEFT JOIN pages p ON p.person = v.person
)
SELECT source, medium, campaign, count(*) AS visitors, count(signed_up_at) AS signups,
  ((20000 * count(signed_up_at) + count(*)) / (2 * count(*))) * 0.01 AS conversion_pct,
  CASE WHEN count(signed_up_at) > 0
    THEN ((2 * sum(ms) + 36000 * count(signed_up_at)) / (72000 * count(signed_up_at))) * 0.01 END AS avg_hours_to_signup,
  CASE WHEN count(signed_up_at) > 0 THEN ((2 * min(ms) + 36000) / 72000) * 0.01 END AS fastest_hours,
  CASE WHEN count(signed_up_at) > 0 THEN ((2 * max(ms) + 36000) / 72000) * 0.01 END AS longest_hours,
  CASE WHEN count(signed_up_at) > 0
    THEN ((200 * sum(pages) + count(signed_up_at)) / (2 * count(signed_up_at))) * 0.01 END AS avg_pages_before_signup
FROM journeys
GROUP BY source, medium, campaign
ORDER BY visitors DESC, signups DESC, source, medium, campaign
