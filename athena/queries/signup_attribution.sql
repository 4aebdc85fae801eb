-- Signups between two UTC days (inclusive), each with its first touch and its
-- last touch: the referrer and campaign attributes of the earliest and the
-- latest page_view of the same visitor in the lookback days before the
-- signup. A visitor is the fingerprint attribute when the event has one, else
-- the user_id: track anonymous page views with a fingerprint (a first-party
-- cookie) and put the same fingerprint on the signup. NULL touches: no page
-- view in the lookback (direct).
--
-- Athena execution parameters, one per question mark in order: date,
-- timestamp and varchar values go as varchar literals ('2026-11-22'),
-- bigint values as integer literals (30).
-- Parameters:
--   1. from_day  date    first signup day, e.g. '2026-11-01'
--   2. to_day    date    last signup day, e.g. '2026-11-22'
--   3. from_day
--   4. to_day
--   5. lookback  bigint  1..3650  days of page views before a signup that count, e.g. 30
--   6. from_day
--   7. to_day
--   8. lookback
WITH signups AS (
  SELECT user_id, event_at, event_id,
    coalesce(element_at(attributes, 'fingerprint'), user_id) AS visitor
  FROM events_dedup
  WHERE event_type = 'signup'
    AND dt >= ?
    AND dt <= date_format(date_add('day', 1, CAST(? AS date)), '%Y-%m-%d')
    AND CAST(from_iso8601_timestamp(event_at) AS date) >= CAST(? AS date)
    AND CAST(from_iso8601_timestamp(event_at) AS date) <= CAST(? AS date)
),
page_views AS (
  SELECT event_at, event_id,
    coalesce(element_at(attributes, 'fingerprint'), user_id) AS visitor,
    element_at(attributes, 'referrer') AS referrer,
    element_at(attributes, 'campaign') AS campaign
  FROM events_dedup
  WHERE event_type = 'page_view'
    AND dt >= date_format(date_add('day', -?, CAST(? AS date)), '%Y-%m-%d')
    AND dt <= date_format(date_add('day', 1, CAST(? AS date)), '%Y-%m-%d')
),
touches AS (
  SELECT s.user_id, s.event_at AS signup_at, s.event_id AS signup_id,
    p.event_at, p.referrer, p.campaign,
    row_number() OVER (PARTITION BY s.user_id, s.event_at, s.event_id
                       ORDER BY p.event_at, p.event_id) AS nth_first,
    row_number() OVER (PARTITION BY s.user_id, s.event_at, s.event_id
                       ORDER BY p.event_at DESC, p.event_id DESC) AS nth_last
  FROM signups s
  JOIN page_views p ON p.visitor = s.visitor
  WHERE from_iso8601_timestamp(p.event_at) < from_iso8601_timestamp(s.event_at)
    AND from_iso8601_timestamp(p.event_at) >= date_add('day', -?, from_iso8601_timestamp(s.event_at))
)
SELECT s.user_id, s.event_at AS signed_up_at,
  f.event_at AS first_touch_at, f.referrer AS first_referrer, f.campaign AS first_campaign,
  l.event_at AS last_touch_at, l.referrer AS last_referrer, l.campaign AS last_campaign
FROM signups s
LEFT JOIN touches f ON f.user_id = s.user_id AND f.signup_at = s.event_at
  AND f.signup_id = s.event_id AND f.nth_first = 1
LEFT JOIN touches l ON l.user_id = s.user_id AND l.signup_at = s.event_at
  AND l.signup_id = s.event_id AND l.nth_last = 1
ORDER BY s.event_at, s.user_id, s.event_id
