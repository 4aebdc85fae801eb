-- rewrite: the rows of one day partition that a rewrite (compaction,
-- erasure) keeps, in the files it writes. The engine writes them with
-- UNLOAD (Athena) or COPY (DuckDB) into a staging prefix, one folder per
-- bucket.
--
-- Only the objects listed when the rewrite began are read ("$path"), so an
-- object that arrives meanwhile is left for the next run. One row is kept
-- per event, with the identity events_dedup uses (dt is fixed here), so the
-- table itself counts exactly afterwards. The events of suppressed actors
-- are left out. Rows are sorted by user, then visitor, then time, and cut
-- into buckets of contiguous users, one file (or a few) per bucket.
SELECT {{.Columns}}, bucket
FROM (
  SELECT {{.Columns}},
    ntile({{.Buckets}}) OVER (ORDER BY {{.Order}}) AS bucket
  FROM (
    SELECT {{.Columns}},
      row_number() OVER (PARTITION BY user_id, anonymous_id, event_at, event_id) AS copy
    FROM {{.Source}}
    WHERE dt = '{{.Day}}' AND "$path" IN ({{.Inputs}})
  )
  WHERE copy = 1{{if .Suppressed}} AND NOT coalesce({{.Suppressed}}, false){{end}}
)
ORDER BY {{.Order}}
