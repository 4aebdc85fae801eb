// Package athena holds the Athena DDL and the query library (the .sql files
// beside this file, embedded), and runs them on Athena or, unchanged, on
// DuckDB over a local folder laid out like the S3 bucket.
package athena
