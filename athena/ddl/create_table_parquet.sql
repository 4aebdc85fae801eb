-- The events as Firehose writes them with record format conversion: Parquet
-- (GZIP pages) objects under events/dt=YYYY-MM-DD/, dt being the UTC day the
-- events arrived at Firehose. Partition projection computes the partitions
-- from the dt predicate of a query, so no crawler or MSCK REPAIR is needed.
-- The columns are tracker.EventFields in order; a test keeps them in step.
CREATE EXTERNAL TABLE IF NOT EXISTS `{{.Database}}`.`events` (
  `user_id`    string,
  `event_at`   string,
  `event_id`   string,
  `event_type` string,
  `user_agent` string,
  `ip_address` string,
  `attributes` map<string,string>
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
