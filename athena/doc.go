// Package athena holds the Athena DDL (athena/ddl, rendered by DDL) and the
// query library (athena/queries, embedded; Queries, Lookup), with typed,
// checked arguments for each query's "?" parameters (Query.Args) and results
// that print as a table or CSV with their cost (Result, Cost).
//
// The queries run on Athena with athena/remote and, unchanged, on DuckDB over
// a local folder laid out like the S3 bucket with athena/local; both
// implement Runner. See docs/athena.md.
package athena
