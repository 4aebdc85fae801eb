-- identities: the identity links a materialization holds (the
-- identity_links table, under identities/run=<run>/): for every
-- anonymous_id, the first link (the earliest event carrying both IDs, by
-- event_at, then event_id, then user_id: the order of the identities view)
-- among the events of the days before the watermark. Duplicate deliveries
-- change no first link, so the events are read as stored; the links of
-- suppressed actors are left out, as every rewrite leaves their events out.
-- The engine writes the rows with UNLOAD (Athena) or COPY (DuckDB) into a
-- staging prefix, in one bucket.
--
-- Incremental (Run and Since set): the previous materialization (run Run,
-- the first links of the days before Since, none of which changed since it
-- read them) stands for those days, and only the days from Since to the
-- watermark are read. The first link per anonymous_id of the union is the
-- first link of every day before the watermark, because the materialized
-- rows are the first links of exactly the days before Since.
SELECT anonymous_id, user_id, linked_at, event_id, 1 AS bucket
FROM (
  SELECT anonymous_id, user_id, linked_at, event_id,
    row_number() OVER (PARTITION BY anonymous_id ORDER BY linked_at, event_id, user_id) AS nth
  FROM (
{{- if .Run}}
    SELECT anonymous_id, user_id, linked_at, event_id
    FROM identity_links
    WHERE run = '{{.Run}}'
    UNION ALL
{{- end}}
    SELECT anonymous_id, user_id, event_at AS linked_at, event_id
    FROM {{.Source}}
    WHERE {{if .Run}}dt >= '{{.Since}}' AND {{end}}dt < '{{.Day}}' AND anonymous_id IS NOT NULL AND user_id IS NOT NULL
  )
{{- if .Suppressed}}
  WHERE NOT coalesce({{.Suppressed}}, false)
{{- end}}
)
WHERE nth = 1
ORDER BY anonymous_id
