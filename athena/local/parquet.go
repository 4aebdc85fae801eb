package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ParquetWriter converts gzip NDJSON objects into Parquet objects with the
// schema of the Glue table (tracker.EventFields(): strings, and attributes as
// MAP(VARCHAR, VARCHAR)), GZIP-compressed, as eventlake's Firehose record
// format conversion writes them. It is safe for concurrent use.
type ParquetWriter struct {
	// Compression is the Parquet codec: "GZIP" (the default, as eventlake's
	// Firehose), "SNAPPY" or "UNCOMPRESSED" (Firehose's other choices) or "ZSTD".
	Compression string

	conn *duckdb.Connector
	db   *sql.DB
}

// NewParquetWriter starts the in-memory DuckDB that does the conversion.
func NewParquetWriter() (*ParquetWriter, error) {
	c, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("parquet writer: open duckdb: %w", err)
	}
	return &ParquetWriter{conn: c, db: sql.OpenDB(c)}, nil
}

// Close releases the DuckDB.
func (w *ParquetWriter) Close() error {
	err := w.db.Close()
	if cerr := w.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

// Convert reads the gzip NDJSON objects srcs (in order) and writes their
// events to the Parquet object dst, through a temporary file renamed into
// place, so dst is complete or absent. Lines must be JSON objects; a
// malformed line fails the conversion and writes nothing.
func (w *ParquetWriter) Convert(ctx context.Context, dst string, srcs ...string) error {
	if len(srcs) == 0 {
		return errors.New("parquet writer: no source objects")
	}
	codec := w.Compression
	switch codec {
	case "":
		codec = "GZIP"
	case "SNAPPY", "GZIP", "UNCOMPRESSED", "ZSTD":
	default:
		return fmt.Errorf("parquet writer: compression %q: want SNAPPY, GZIP, UNCOMPRESSED or ZSTD", codec)
	}
	spec, err := ColumnsSpec()
	if err != nil {
		return err
	}
	quoted := make([]string, len(srcs))
	for i, s := range srcs {
		quoted[i] = sqlString(filepath.ToSlash(s))
	}
	tmp := dst + ".tmp"
	query := fmt.Sprintf(
		"COPY (SELECT %s FROM read_json([%s], format = 'newline_delimited', records = true, compression = 'gzip', columns = %s)) TO %s (FORMAT PARQUET, COMPRESSION %s)",
		columnList(), strings.Join(quoted, ", "), spec, sqlString(filepath.ToSlash(tmp)), codec)
	if _, err := w.db.ExecContext(ctx, query); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("parquet writer: convert %s: %w", srcs[0], err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("parquet writer: %w", err)
	}
	return nil
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
