-- Logins per day over the last 7 days (today included), oldest day first.
-- Parameters: none.
SELECT dt AS day, count(*) AS logins
FROM events_dedup
WHERE dt >= date_format(current_date - INTERVAL '6' DAY, '%Y-%m-%d')
  AND event_type = 'login'
GROUP BY dt
ORDER BY dt
