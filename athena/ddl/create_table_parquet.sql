-- The events as Firehose writes them with record format conversion: Parquet
-- (GZIP pages) objects under events/dt=YYYY-MM-DD/, dt being the UTC day of
-- each event's event_at (Firehose dynamic partitioning: late events land in
-- their own day). Partition projection computes the partitions from the dt
-- predicate of a query, so no crawler or MSCK REPAIR is needed. Athena reads
-- Parquet columns by name, so objects written before a column existed read
-- it as NULL.
-- The columns are tracker.EventFields() in order; a test keeps them in step.
CREATE EXTERNAL TABLE IF NOT EXISTS `{{.Database}}`.`events` (
  `user_id`      string,
  `anonymous_id` string,
  `event_at`     string,
  `event_id`     string,
  `event_type`   string,
  `user_agent`   string,
  `ip_address`   string,
  `device_type`  string,
  `browser`      string,
  `os`           string,
  `is_bot`       boolean,
  `attributes`   map<string,string>
)
PARTITIONED BY (`dt` string)
STORED AS PARQUET
LOCATION '{{.Location}}'
TBLPROPERTIES (
  'parquet.compression' = 'GZIP',
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '{{.ProjectionStart}},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{.Location}}dt=${dt}/'
)
