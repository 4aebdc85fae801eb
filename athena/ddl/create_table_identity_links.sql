-- identity_links: the identity links materialized by the lake's maintenance
-- (lake.Lake.MaterializeIdentities, run by the daily compaction, an erasure
-- and an expiry): for every anonymous_id, the first link (the earliest event
-- carrying both IDs, by event_at, then event_id, then user_id) among the
-- events of the days before the materialization's watermark. Each
-- materialization is written whole under identities/run=<run>/ (Parquet,
-- GZIP pages); the identities view names the run it reads and its watermark
-- as literals, so replacing the view switches to a new materialization at
-- once. Injected partition projection: a query must name its run, as the
-- view does, and Athena lists that folder only.
CREATE EXTERNAL TABLE IF NOT EXISTS `{{.Database}}`.`identity_links` (
  `anonymous_id` string,
  `user_id`      string,
  `linked_at`    string,
  `event_id`     string
)
PARTITIONED BY (`run` string)
STORED AS PARQUET
LOCATION '{{.LinksLocation}}'
TBLPROPERTIES (
  'parquet.compression' = 'GZIP',
  'projection.enabled' = 'true',
  'projection.run.type' = 'injected',
  'storage.location.template' = '{{.LinksLocation}}run=${run}/'
)
