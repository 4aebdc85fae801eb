-- identities: the identity links a materialization holds (the
-- identity_links table, under identities/run=<run>/): for every
-- anonymous_id, the first link (the earliest event carrying both IDs, by
-- event_at, then event_id, then user_id: the order of the identities view)
-- among the events of the days before the watermark. Duplicate deliveries
-- change no first link, so the events are read as stored; the links of
-- suppressed actors are left out, as every rewrite leaves their events out.
-- The engine writes the rows with UNLOAD (Athena) or COPY (DuckDB) into a
-- staging prefix, in one bucket.
SELECT anonymous_id, user_id, linked_at, event_id, 1 AS bucket
FROM (
  SELECT anonymous_id, user_id, event_at AS linked_at, event_id,
    row_number() OVER (PARTITION BY anonymous_id ORDER BY event_at, event_id, user_id) AS nth
  FROM {{.Source}}
  WHERE dt < '{{.Day}}' AND anonymous_id IS NOT NULL AND user_id IS NOT NULL{{if .Suppressed}}
    AND NOT coalesce({{.Suppressed}}, false){{end}}
)
WHERE nth = 1
ORDER BY anonymous_id
