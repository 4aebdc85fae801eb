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
	"sync/atomic"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/tracker"
)

// Extension is the suffix of the objects Encoder writes.
const Extension = ".parquet"

// Options configures NewEncoder. The zero value means defaults.
type Options struct {
	// TempDir holds the encoder's scratch files (each object's NDJSON and
	// Parquet while it is converted); default a new folder under
	// os.TempDir(), removed by Close.
	TempDir string
	// Threads caps DuckDB's worker threads; 0 means 1, because objects are
	// encoded concurrently and each is small.
	Threads int
}

// Encoder converts NDJSON objects to Parquet. It is safe for concurrent use;
// Close releases its DuckDB and scratch folder.
type Encoder struct {
	conn    *duckdb.Connector
	db      *sql.DB
	dir     string
	ownsDir bool
	query   string // the COPY statement with %s for the source and target
	n       atomic.Int64
}

// NewEncoder starts the in-memory DuckDB that does the conversion.
func NewEncoder(opts Options) (*Encoder, error) {
	spec, err := local.ColumnsSpec()
	if err != nil {
		return nil, fmt.Errorf("lakeparquet: %w", err)
	}
	dir, owns := opts.TempDir, false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "lakeparquet-"); err != nil {
			return nil, fmt.Errorf("lakeparquet: scratch folder: %w", err)
		}
		owns = true
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = 1
	}
	conn, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("lakeparquet: open duckdb: %w", err)
	}
	e := &Encoder{conn: conn, db: sql.OpenDB(conn), dir: dir, ownsDir: owns}
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
	base := filepath.Join(e.dir, strconv.FormatInt(e.n.Add(1), 10))
	src, dst := base+".json", base+".parquet"
	defer os.Remove(src)
	defer os.Remove(dst)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		return fmt.Errorf("lakeparquet: %w", err)
	}
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

// Close releases the DuckDB and removes the scratch folder it created.
func (e *Encoder) Close() error {
	err := errors.Join(e.db.Close(), e.conn.Close())
	if e.ownsDir {
		err = errors.Join(err, os.RemoveAll(e.dir))
	}
	return err
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
