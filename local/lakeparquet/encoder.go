package lakeparquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"

	"github.com/eventlake/eventlake/athena/local"
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

// Encoder converts NDJSON objects to Parquet with athena/local's
// ParquetWriter, the one converter, between scratch files. It is safe for
// concurrent use; Close releases its DuckDB and scratch folder.
type Encoder struct {
	w       *local.ParquetWriter
	dir     string
	ownsDir bool
	n       atomic.Int64
}

// NewEncoder starts the in-memory DuckDB that does the conversion.
func NewEncoder(opts Options) (*Encoder, error) {
	dir, owns := opts.TempDir, false
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "lakeparquet-"); err != nil {
			return nil, fmt.Errorf("lakeparquet: scratch folder: %w", err)
		}
		owns = true
	}
	w, err := local.NewParquetWriter()
	if err != nil {
		if owns {
			os.RemoveAll(dir)
		}
		return nil, fmt.Errorf("lakeparquet: %w", err)
	}
	w.Compression = "GZIP" // as the CDK app's record format conversion
	w.Threads = max(opts.Threads, 1)
	return &Encoder{w: w, dir: dir, ownsDir: owns}, nil
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
	src, dst := base+".json", base+Extension // plain NDJSON: not named .gz
	defer os.Remove(src)
	defer os.Remove(dst)
	if err := os.WriteFile(src, data, 0o600); err != nil {
		return fmt.Errorf("lakeparquet: %w", err)
	}
	if err := e.w.Convert(ctx, dst, src); err != nil {
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
	err := e.w.Close()
	if e.ownsDir {
		err = errors.Join(err, os.RemoveAll(e.dir))
	}
	return err
}
