-- find: the objects of the lake that hold events of the given actors, with
-- their day and how many of those events each holds. Erasure rewrites
-- exactly these partitions.
SELECT "$path" AS path, dt, count(*) AS events
FROM {{.Source}}
WHERE {{if .Since}}dt >= '{{.Since}}' AND {{end}}({{.Suppressed}})
GROUP BY "$path", dt
ORDER BY dt, "$path"
