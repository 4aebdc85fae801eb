-- The Glue database that holds the events table and the events_dedup view.
CREATE DATABASE IF NOT EXISTS `{{.Database}}`
COMMENT 'eventlake: user activity events landed by Firehose'
