-- linked: the anonymous IDs the identities view links to the given users
-- (first link wins), which an erasure forgets with them.
SELECT DISTINCT anonymous_id
FROM identities
WHERE {{.UserHashes}}
ORDER BY anonymous_id
