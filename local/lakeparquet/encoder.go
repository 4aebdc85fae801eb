package lakeparquet

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/tracker"
)

// Extension is the suffix of the objects Encoder writes.
const Extension = ".parquet"

// Options configures NewEncoder. The zero value means defaults.
type Options struct {
	// TempDir is the folder of the encoder's scratch files: each object's
	// NDJSON and Parquet exist there only while it is converted, and are
	// removed as soon as it is; default os.TempDir(). The encoder creates no
	// folder, so a process killed between conversions (SIGKILL, where Close
	// never runs) leaves nothing behind; one killed during a conversion
	// leaves that object's two files (lakeparquet-*.json, *.parquet).
	TempDir string
	// Threads caps DuckDB's worker threads; 0 means 1, because objects are
	// encoded concurrently and each is small.
	Threads int
}

// Encoder converts NDJSON objects to Parquet. It is safe for concurrent use;
// Close releases its DuckDB.
type Encoder struct {
	conn  *duckdb.Connector
	db    *sql.DB
	dir   string // for scratch files; "" is os.TempDir()
	query string // the COPY statement with %s for the source and target
}

// NewEncoder starts the in-memory DuckDB that does the conversion.
func NewEncoder(opts Options) (*Encoder, error) {
	spec, err := local.ColumnsSpec()
	if err != nil {
		return nil, fmt.Errorf("lakeparquet: %w", err)
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = 1
	}
	conn, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("lakeparquet: open duckdb: %w", err)
	}
	e := &Encoder{conn: conn, db: sql.OpenDB(conn), dir: opts.TempDir}
	if _, err := e.db.Exec("SET threads = " + strconv.Itoa(threads)); err != nil {
		e.Close()
		return nil, fmt.Errorf("lakeparquet: configure duckdb: %w", err)
	}
	e.query = "COPY (SELECT " + strings.Join(tracker.FieldNames(), ", ") +
		" FROM read_json(%s, format = 'newline_delimited', records = true, compression = 'uncompressed', columns = " + spec + "))" +
		" TO %s (FORMAT PARQUET, COMPRESSION GZIP)"
	return e, nil
}

// Extension returns ".parquet".
func (e *Encoder) Extension() string { return Extension }

// Encode writes the Parquet object for data, newline-delimited JSON
// objects, to w. It fails, writing nothing, when a line is not a JSON object
// or a column has the wrong type.
func (e *Encoder) Encode(w io.Writer, data []byte) error {
	return e.EncodeContext(context.Background(), w, data)
}

// EncodeContext is Encode with a context that cancels the conversion.
func (e *Encoder) EncodeContext(ctx context.Context, w io.Writer, data []byte) error {
	src, err := scratch(e.dir, ".json", data)
	if err != nil {
		return err
	}
	defer os.Remove(src)
	dst, err := scratch(e.dir, ".parquet", nil)
	if err != nil {
		return err
	}
	defer os.Remove(dst)
	q := fmt.Sprintf(e.query, sqlString(filepath.ToSlash(src)), sqlString(filepath.ToSlash(dst)))
	if _, err := e.db.ExecContext(ctx, q); err != nil {
		return fmt.Errorf("lakeparquet: convert %d bytes of NDJSON: %w", len(data), err)
	}
	f, err := os.Open(dst)
	if err != nil {
		return fmt.Errorf("lakeparquet: %w", err)
	}
	defer f.Close()
	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("lakeparquet: write object: %w", err)
	}
	return nil
}

// scratch creates a file named lakeparquet-*ext in dir holding data and
// returns its name.
func scratch(dir, ext string, data []byte) (string, error) {
	f, err := os.CreateTemp(dir, "lakeparquet-*"+ext)
	if err != nil {
		return "", fmt.Errorf("lakeparquet: scratch file: %w", err)
	}
	_, werr := f.Write(data)
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("lakeparquet: scratch file: %w", err)
	}
	return f.Name(), nil
}

// Close releases the DuckDB.
func (e *Encoder) Close() error {
	return errors.Join(e.db.Close(), e.conn.Close())
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
