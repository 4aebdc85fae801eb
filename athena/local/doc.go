// Package local runs the Athena queries of athena/queries, unchanged, on
// DuckDB (github.com/duckdb/duckdb-go/v2, in process) over a local folder
// laid out like the lake bucket:
//
//	<root>/events/dt=YYYY-MM-DD/*.gz       gzip NDJSON, one event per line
//	<root>/events/dt=YYYY-MM-DD/*.parquet  Parquet with the Glue table's schema
//
// Open defines the events view over those files (read_json with the columns
// pinned to tracker.EventFields(), read_parquet, hive partitioning on dt as a
// string, so a string comparison on dt prunes files as partition projection
// does on Athena), runs the same events_dedup view DDL as Athena, and loads
// macros that give DuckDB the Trino functions and semantics the queries use
// (MacrosSQL). Every connection uses TimeZone UTC and integer division, as
// Athena does.
//
// ParquetWriter converts NDJSON objects (gzip or plain) to Parquet with the
// exact schema, as Firehose record format conversion would; it is
// eventlake's one NDJSON-to-Parquet converter (local/lakeparquet wraps it for
// the local Firehose endpoint).
package local
