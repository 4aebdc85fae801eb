// Package lake keeps the lake right: compaction, erasure (forget),
// retention (expire) and the suppression list that everything that lets
// events in or sends them again honours after an erasure (the tracker, the
// collector, the relay, the summary consumer, the recovery tools). Its
// Store is the project's one object store.
//
// The lake is the bucket Firehose writes, laid out as
//
//	events/dt=YYYY-MM-DD/<Firehose objects>        Parquet (GZIP pages) or gzip NDJSON
//	events/dt=YYYY-MM-DD/compacted-<run>-<n>.<ext> what compaction wrote
//	maintenance/manifests/dt=YYYY-MM-DD/<run>.json what each rewrite replaced
//	maintenance/staging/<run>/...                  the engine's output before the swap
//	maintenance/locks/dt=YYYY-MM-DD                one rewrite of a day at a time
//	maintenance/audit/<request>.json               one record per erasure
//	maintenance/suppression.json                   the forgotten actors (SHA-256 of their keys)
//	errors/<type>/dt=YYYY-MM-DD/...                Firehose's error output (scrubbed by forget)
//	errors/relay/dt=YYYY-MM-DD/<id>.ndjson         the relay's kept-aside records (scrubbed by forget)
//
// Everything goes through a Store: S3Store (aws-sdk-go-v2) against AWS,
// FolderStore against a local folder laid out like the bucket. The rows are
// rewritten by an Engine: Athena (UNLOAD of a SELECT into the staging
// prefix) against AWS, DuckDB (COPY of the same SELECT) locally. See
// docs/lake.md for the design, the guarantees and the costs.
package lake
