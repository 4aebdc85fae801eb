-- Logins per day over the last 7 days, today (UTC) included, oldest day
-- first; a day without logins shows 0. Days are UTC days of event_at; today
-- is current_date, which is UTC on Athena and in the local runner. Bots'
-- logins are not counted.
--
-- Parameters: none.
WITH days AS (
  SELECT date_format(date_add('day', -n, current_date), '%Y-%m-%d') AS day
  FROM (VALUES (0), (1), (2), (3), (4), (5), (6)) AS t (n)
),
logins AS (
  SELECT dt AS day, count(*) AS logins
  FROM events_dedup
  WHERE dt >= date_format(date_add('day', -6, current_date), '%Y-%m-%d')
    AND dt <= date_format(current_date, '%Y-%m-%d')
    AND event_type = 'login'
    AND NOT is_bot
  GROUP BY dt
)
SELECT d.day, coalesce(l.logins, 0) AS logins
FROM days d
LEFT JOIN logins l ON l.day = d.day
ORDER BY d.day
