-- links_check: run after a materialization's files were copied under
-- identities/run=<run>/ and before the identities view reads them. They are
-- right when links = anonymous_ids (no anonymous ID twice) and suppressed =
-- 0 (no link of a forgotten actor).
SELECT count(*) AS links, count(DISTINCT anonymous_id) AS anonymous_ids,
  {{if .Suppressed}}count(CASE WHEN coalesce({{.Suppressed}}, false) THEN 1 END){{else}}0{{end}} AS suppressed
FROM identity_links
WHERE run = '{{.Run}}'
