-- verify: run after a rewrite's files were copied into the partition and
-- before the objects they replace are deleted. The rewrite is right when
-- written = expected, out_distinct = written (no event twice) and union_distinct =
-- expected (no event that was not in the inputs), where expected is
-- input_distinct - suppressed.
SELECT
  (SELECT count(*) FROM {{.Source}}
     WHERE dt = '{{.Day}}' AND "$path" IN ({{.Inputs}})) AS input_rows,
  (SELECT count(*) FROM (SELECT DISTINCT user_id, anonymous_id, event_at, event_id FROM {{.Source}}
     WHERE dt = '{{.Day}}' AND "$path" IN ({{.Inputs}}))) AS input_distinct,
  {{if .Suppressed}}(SELECT count(*) FROM (SELECT DISTINCT user_id, anonymous_id, event_at, event_id FROM {{.Source}}
     WHERE dt = '{{.Day}}' AND "$path" IN ({{.Inputs}}) AND ({{.Suppressed}}))){{else}}0{{end}} AS suppressed,
  {{if .Outputs}}(SELECT count(*) FROM {{.Source}}
     WHERE dt = '{{.Day}}' AND "$path" IN ({{.Outputs}})){{else}}0{{end}} AS written,
  {{if .Outputs}}(SELECT count(*) FROM (SELECT DISTINCT user_id, anonymous_id, event_at, event_id FROM {{.Source}}
     WHERE dt = '{{.Day}}' AND "$path" IN ({{.Outputs}}))){{else}}0{{end}} AS out_distinct,
  (SELECT count(*) FROM (SELECT DISTINCT user_id, anonymous_id, event_at, event_id FROM {{.Source}}
     WHERE dt = '{{.Day}}' AND ({{if .Outputs}}"$path" IN ({{.Outputs}}) OR {{end}}("$path" IN ({{.Inputs}}){{if .Suppressed}} AND NOT ({{.Suppressed}}){{end}})))) AS union_distinct
