-- Signups between two UTC days (inclusive), each with its touches in the
-- lookback days before it: the person's page views that brought them from
-- outside (utm parameters, or a referrer on another host than the page's
-- url), their own and their anonymous ones through identities (a person is
-- coalesce(user_id, identities.user_id)), bots' excluded. First and last
-- touch are the earliest and latest (event_at, event_id) strictly before the
-- signup, with referrer, utm_source, utm_medium and utm_campaign; touches
-- counts them. NULL touches: none in the lookback (direct).
--
-- Execution parameters: dates as varchar literals ('2026-11-22'), numbers
-- as integer literals (30).
-- Parameters:
--   1. from_day  date    first signup day, e.g. '2026-11-01'
--   2. to_day    date    last signup day, e.g. '2026-11-22'
--   3. lookback  bigint  1..3650  days of page views before a signup that count, e.g. 30
--   4. from_day
--   5. to_day
--   6. lookback
WITH signups AS (
  SELECT user_id, event_at, event_id
  FROM events_dedup
  WHERE event_type = 'signup'
    AND dt >= ?
    AND dt <= ?
    AND user_id IS NOT NULL
    AND NOT is_bot
),
touches AS (
  SELECT coalesce(e.user_id, i.user_id) AS user_id, e.event_at, e.event_id,
    element_at(e.attributes, 'referrer') AS referrer,
    element_at(e.attributes, 'utm_source') AS utm_source,
    element_at(e.attributes, 'utm_medium') AS utm_medium,
    element_at(e.attributes, 'utm_campaign') AS utm_campaign
  FROM events_dedup e
  LEFT JOIN identities i ON e.user_id IS NULL AND i.anonymous_id = e.anonymous_id
  WHERE e.event_type = 'page_view'
    AND e.dt >= date_format(date_add('day', -?, CAST(? AS date)), '%Y-%m-%d')
    AND e.dt <= ?
    AND NOT e.is_bot
    AND coalesce(e.user_id, i.user_id) IS NOT NULL
    AND (element_at(e.attributes, 'utm_source') IS NOT NULL
      OR element_at(e.attributes, 'utm_medium') IS NOT NULL
      OR element_at(e.attributes, 'utm_campaign') IS NOT NULL
      OR (url_extract_host(element_at(e.attributes, 'referrer')) <> ''
        AND coalesce(url_extract_host(element_at(e.attributes, 'referrer'))
          <> url_extract_host(element_at(e.attributes, 'url')), true)))
),
ranked AS (
  SELECT s.user_id, s.event_at AS signup_at, s.event_id AS signup_id,
    t.event_at, t.referrer, t.utm_source, t.utm_medium, t.utm_campaign,
    row_number() OVER (PARTITION BY s.user_id, s.event_at, s.event_id
                       ORDER BY t.event_at, t.event_id) AS nth_first,
    row_number() OVER (PARTITION BY s.user_id, s.event_at, s.event_id
                       ORDER BY t.event_at DESC, t.event_id DESC) AS nth_last,
    count(*) OVER (PARTITION BY s.user_id, s.event_at, s.event_id) AS touches
  FROM signups s
  JOIN touches t ON t.user_id = s.user_id
  WHERE t.event_at < s.event_at
    AND from_iso8601_timestamp(t.event_at) >= date_add('day', -?, from_iso8601_timestamp(s.event_at))
)
SELECT s.user_id, s.event_at AS signed_up_at, coalesce(f.touches, 0) AS touches,
  f.event_at AS first_touch_at, f.referrer AS first_referrer, f.utm_source AS first_utm_source,
  f.utm_medium AS first_utm_medium, f.utm_campaign AS first_utm_campaign,
  l.event_at AS last_touch_at, l.referrer AS last_referrer, l.utm_source AS last_utm_source,
  l.utm_medium AS last_utm_medium, l.utm_campaign AS last_utm_campaign
FROM signups s
LEFT JOIN ranked f ON f.user_id = s.user_id AND f.signup_at = s.event_at
  AND f.signup_id = s.event_id AND f.nth_first = 1
LEFT JOIN ranked l ON l.user_id = s.user_id AND l.signup_at = s.event_at
  AND l.signup_id = s.event_id AND l.nth_last = 1
ORDER BY s.event_at, s.user_id, s.event_id
