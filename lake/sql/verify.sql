-- verify: run after a rewrite's files were copied into the partition and
-- before the objects they replace are deleted. The rewrite is right when
-- written = expected, out_distinct = written (no event twice) and
-- union_distinct = expected (no event that was not in the inputs), where
-- expected is input_distinct - suppressed.
WITH checked AS (
  SELECT user_id, anonymous_id, event_at, event_id,
    {{if .Outputs}}"$path" IN ({{.Outputs}}){{else}}false{{end}} AS written,
    {{if .Suppressed}}coalesce({{.Suppressed}}, false){{else}}false{{end}} AS suppressed
  FROM {{.Source}}
  WHERE dt = '{{.Day}}' AND "$path" IN ({{.Inputs}}{{if .Outputs}}, {{.Outputs}}{{end}})
)
SELECT
  count(CASE WHEN NOT written THEN 1 END) AS input_rows,
  (SELECT count(*) FROM (SELECT DISTINCT user_id, anonymous_id, event_at, event_id FROM checked WHERE NOT written)) AS input_distinct,
  (SELECT count(*) FROM (SELECT DISTINCT user_id, anonymous_id, event_at, event_id FROM checked WHERE NOT written AND suppressed)) AS suppressed,
  count(CASE WHEN written THEN 1 END) AS written,
  (SELECT count(*) FROM (SELECT DISTINCT user_id, anonymous_id, event_at, event_id FROM checked WHERE written)) AS out_distinct,
  (SELECT count(*) FROM (SELECT DISTINCT user_id, anonymous_id, event_at, event_id FROM checked WHERE written OR NOT suppressed)) AS union_distinct
FROM checked
