-- linked: the links of the identities view (first link wins) that concern
-- an erasure: the anonymous IDs linked to the users it forgets, and the
-- owners of the anonymous IDs the hot store saw on those users' events.
SELECT DISTINCT anonymous_id, user_id
FROM identities
WHERE {{.UserHashes}}
ORDER BY anonymous_id
