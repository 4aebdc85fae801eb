-- The events as Firehose writes them without conversion: gzip-compressed
-- newline-delimited JSON (one flat object per line, optional fields omitted)
-- under events/dt=YYYY-MM-DD/, dt being the UTC day of each event's event_at
-- (Firehose dynamic partitioning: late events land in their own day).
-- Athena decompresses .gz objects by their extension. Partition projection
-- computes the partitions from the dt predicate of a query, so no crawler or
-- MSCK REPAIR is needed. 'case.insensitive' = 'false' keeps the case of
-- attribute keys (the column names are lower case already).
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
ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'
WITH SERDEPROPERTIES (
  'case.insensitive' = 'false'
)
STORED AS INPUTFORMAT 'org.apache.hadoop.mapred.TextInputFormat'
OUTPUTFORMAT 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat'
LOCATION '{{.Location}}'
TBLPROPERTIES (
  'projection.enabled' = 'true',
  'projection.dt.type' = 'date',
  'projection.dt.format' = 'yyyy-MM-dd',
  'projection.dt.range' = '{{.ProjectionStart}},NOW',
  'projection.dt.interval' = '1',
  'projection.dt.interval.unit' = 'DAYS',
  'storage.location.template' = '{{.Location}}dt=${dt}/'
)
