-- identities: which user each anonymous visitor became. For every
-- anonymous_id, the user_id of the earliest event (by event_at, then
-- event_id, then user_id) that carries both IDs: an identify call, an alias
-- call (previous ID as anonymous_id), or any event sent with both. The first
-- link wins: a later event of the same visitor with another user ID (a shared
-- browser) does not move the visitor's earlier anonymous history.
--
-- A person is coalesce(user_id, identities.user_id): events with a user ID
-- are that user's; anonymous events are the user's the visitor became, or
-- stay a visitor's when never identified. Every user-level query joins this
-- view so.
--
-- Without a materialization (a new lake, or the CDK's definition) the view
-- reads the two ID columns of every partition: a link may be old. With one
-- (the lake's maintenance replaces the view after writing it), it reads the
-- materialized first links of the days before the watermark and the links of
-- the events from the watermark on: the first link per anonymous_id of the
-- union is the first link of the whole history, because the materialized
-- rows are the first links of exactly the days before it. The watermark is a
-- literal, so both engines read only the partitions from it on.
CREATE OR REPLACE VIEW {{.Database}}.identities AS
{{- if .Links}}
SELECT anonymous_id, user_id, linked_at
FROM (
  SELECT anonymous_id, user_id, linked_at,
    row_number() OVER (PARTITION BY anonymous_id ORDER BY linked_at, event_id, user_id) AS nth
  FROM (
    SELECT anonymous_id, user_id, linked_at, event_id
    FROM {{.Database}}.identity_links
    WHERE run = '{{.Links.Run}}'
    UNION ALL
    SELECT anonymous_id, user_id, event_at AS linked_at, event_id
    FROM {{.Database}}.events
    WHERE dt >= '{{.Links.Watermark}}' AND anonymous_id IS NOT NULL AND user_id IS NOT NULL
  )
)
WHERE nth = 1
{{- else}}
SELECT anonymous_id, user_id, event_at AS linked_at
FROM (
  SELECT anonymous_id, user_id, event_at,
    row_number() OVER (PARTITION BY anonymous_id ORDER BY event_at, event_id, user_id) AS nth
  FROM {{.Database}}.events
  WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL
)
WHERE nth = 1
{{- end}}
