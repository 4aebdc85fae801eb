-- Sessions between two UTC days (inclusive), 30-minute inactivity rule (as
-- Snowplow and Clickstream Analytics on AWS): a person's events in time
-- order (event_at, then event_id) make one session until a gap of more than
-- 30 minutes starts the next; a session may cross midnight; only events in
-- the window count. Per person across devices: a user is coalesce(user_id,
-- identities.user_id), a visitor an anonymous ID never identified; bots are
-- left out. Two rows, users and visitors: people, sessions, sessions per
-- person, duration (last event minus first, seconds; a one-event session
-- lasts 0) and pages (page_view and screen events) per session, average and
-- median, rounded half up to 2 places.
--
-- Execution parameters: dates as varchar literals ('2026-11-22').
-- Parameters:
--   1. from_day  date  first day, e.g. '2026-11-01'
--   2. to_day    date  last day, e.g. '2026-11-22'
WITH ev AS (
  SELECT CASE WHEN coalesce(e.user_id, i.user_id) IS NULL THEN 'visitors' ELSE 'users' END AS audience,
    coalesce(e.user_id, i.user_id, e.anonymous_id) AS person,
    e.event_at, e.event_id, e.event_type, from_iso8601_timestamp(e.event_at) AS ts
  FROM events_dedup e
  LEFT JOIN identities i ON e.user_id IS NULL AND i.anonymous_id = e.anonymous_id
  WHERE e.dt >= ?
    AND e.dt <= ?
    AND NOT e.is_bot
),
marked AS (
  SELECT audience, person, event_at, event_id, event_type, ts,
    CASE WHEN ts > date_add('minute', 30, lag(ts) OVER (PARTITION BY audience, person ORDER BY event_at, event_id))
      THEN 1 ELSE 0 END AS starts
  FROM ev
),
numbered AS (
  SELECT audience, person, event_type, ts,
    sum(starts) OVER (PARTITION BY audience, person ORDER BY event_at, event_id
      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS session
  FROM marked
),
visits AS (
  SELECT audience, person, session, date_diff('millisecond', min(ts), max(ts)) AS duration_ms,
    count(CASE WHEN event_type IN ('page_view', 'screen') THEN 1 END) AS pages
  FROM numbered
  GROUP BY audience, person, session
),
ranked AS (
  SELECT audience, duration_ms, pages,
    row_number() OVER (PARTITION BY audience ORDER BY duration_ms) AS dn,
    row_number() OVER (PARTITION BY audience ORDER BY pages) AS pn,
    count(*) OVER (PARTITION BY audience) AS total
  FROM visits
),
summary AS (
  SELECT audience, count(*) AS sessions, sum(duration_ms) AS duration_sum, sum(pages) AS page_sum,
    sum(CASE WHEN dn IN ((total + 1) / 2, (total + 2) / 2) THEN duration_ms END) AS dmid,
    count(CASE WHEN dn IN ((total + 1) / 2, (total + 2) / 2) THEN 1 END) AS dmid_n,
    sum(CASE WHEN pn IN ((total + 1) / 2, (total + 2) / 2) THEN pages END) AS pmid,
    count(CASE WHEN pn IN ((total + 1) / 2, (total + 2) / 2) THEN 1 END) AS pmid_n
  FROM ranked
  GROUP BY audience
),
people AS (
  SELECT audience, count(DISTINCT person) AS people
  FROM ev
  GROUP BY audience
)
SELECT a.audience, coalesce(p.people, 0) AS people, coalesce(s.sessions, 0) AS sessions,
  CASE WHEN p.people > 0 THEN ((200 * s.sessions + p.people) / (2 * p.people)) * 0.01 END AS sessions_per_person,
  CASE WHEN s.sessions > 0 THEN ((2 * s.duration_sum + 10 * s.sessions) / (20 * s.sessions)) * 0.01 END AS avg_duration_s,
  CASE WHEN s.sessions > 0 THEN ((2 * s.dmid + 10 * s.dmid_n) / (20 * s.dmid_n)) * 0.01 END AS median_duration_s,
  CASE WHEN s.sessions > 0 THEN ((200 * s.page_sum + s.sessions) / (2 * s.sessions)) * 0.01 END AS avg_pages,
  CASE WHEN s.sessions > 0 THEN ((200 * s.pmid + s.pmid_n) / (2 * s.pmid_n)) * 0.01 END AS median_pages
FROM (VALUES ('users'), ('visitors')) AS a (audience)
LEFT JOIN summary s ON s.audience = a.audience
LEFT JOIN people p ON p.audience = a.audience
ORDER BY a.audience
