-- identities: which user each anonymous visitor became. For every
-- anonymous_id, the user_id of the earliest event (by event_at, then
-- event_id) that carries both IDs: an identify call, an alias call
-- (previous ID as anonymous_id), or any event sent with both. The first link
-- wins: a later event of the same visitor with another user ID (a shared
-- browser) does not move the visitor's earlier anonymous history.
--
-- A person is coalesce(user_id, identities.user_id): events with a user ID
-- are that user's; anonymous events are the user's the visitor became, or
-- stay a visitor's when never identified. Every user-level query joins this
-- view so.
--
-- The view reads the two ID columns of every partition (a link may be
-- old): on Parquet a few bytes per event.
CREATE OR REPLACE VIEW {{.Database}}.identities AS
SELECT anonymous_id, user_id, event_at AS linked_at
FROM (
  SELECT anonymous_id, user_id, event_at,
    row_number() OVER (PARTITION BY anonymous_id ORDER BY event_at, event_id) AS nth
  FROM {{.Database}}.events
  WHERE anonymous_id IS NOT NULL AND user_id IS NOT NULL
)
WHERE nth = 1
