package local

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// ParquetWriter converts NDJSON objects into Parquet objects with the schema
// of the Glue table (tracker.EventFields() in order, with the DuckDB types of
// ColumnsSpec: strings as VARCHAR, attributes as MAP(VARCHAR, VARCHAR)),
// GZIP-compressed by default, as eventlake's Firehose record
// format conversion writes them. As with the OpenX JSON SerDe, keys that are
// not columns are ignored and missing keys are null. It is eventlake's one
// NDJSON-to-Parquet converter: local/lakeparquet's Encoder, the local
// Firehose endpoint's Parquet output, uses it.
//
// It is safe for concurrent use; set its fields before the first Convert.
type ParquetWriter struct {
	// Compression is the Parquet codec: "GZIP" (the default, as eventlake's
	// Firehose), "SNAPPY" or "UNCOMPRESSED" (Firehose's other choices) or "ZSTD".
	Compression string
	// Threads caps DuckDB's worker threads; 0 means DuckDB's default, one
	// per core. A caller that converts many small objects at once does
	// better with 1. Read at the first Convert.
	Threads int

	conn     *duckdb.Connector
	db       *sql.DB
	setup    sync.Once
	setupErr error
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

// Convert reads the NDJSON objects srcs (in order; gzip-compressed when the
// name ends in .gz, as Firehose names them, plain otherwise) and writes their
// events to the Parquet object dst, through a temporary file renamed into
// place, so dst is complete or absent. Lines must be JSON objects whose
// values have the columns' types; a malformed line fails the conversion and
// writes nothing.
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
	w.setup.Do(func() {
		if w.Threads > 0 {
			// A setting of the whole database, so once for every connection.
			_, err := w.db.Exec("SET threads = " + strconv.Itoa(w.Threads))
			if err != nil {
				w.setupErr = fmt.Errorf("parquet writer: set threads: %w", err)
			}
		}
	})
	if w.setupErr != nil {
		return w.setupErr
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
		"COPY (SELECT %s FROM read_json([%s], format = 'newline_delimited', records = true, compression = 'auto_detect', columns = %s)) TO %s (FORMAT PARQUET, COMPRESSION %s)",
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

// ConvertTree converts each gzip NDJSON object of objects (paths under src)
// into a Parquet object of the same relative name, .gz replaced by
// .parquet, under dst, on workers goroutines (at least 1): a lake folder
// as Firehose's record format conversion would have written it. It stops
// starting objects after the first error and returns every error.
func (w *ParquetWriter) ConvertTree(ctx context.Context, src, dst string, objects []string, workers int) error {
	workers = max(workers, 1)
	work := make(chan string)
	errs := make(chan error, workers)
	for range workers {
		go func() {
			var first error
			for o := range work {
				if first != nil {
					continue
				}
				rel, err := filepath.Rel(src, o)
				if err == nil {
					out := filepath.Join(dst, strings.TrimSuffix(rel, ".gz")+".parquet")
					if err = os.MkdirAll(filepath.Dir(out), 0o755); err == nil {
						err = w.Convert(ctx, out, o)
					}
				}
				first = err
			}
			errs <- first
		}()
	}
	for _, o := range objects {
		work <- o
	}
	close(work)
	var all []error
	for range workers {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// sqlString quotes s as an SQL string literal.
func sqlString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
