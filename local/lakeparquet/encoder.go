package lakeparquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/eventlake/eventlake/athena/local"
)

// Extension is the suffix of the objects Encoder writes.
const Extension = ".parquet"

// Options configures NewEncoder. The zero value means defaults.
type Options struct {
	// TempDir holds the encoder's scratch files (each object's NDJSON and
	// Parquet while it is converted); default os.TempDir().
	TempDir string
	// Threads caps DuckDB's worker threads; 0 means 1, because objects are
	// encoded concurrently and each is small.
	Threads int
}

// Encoder converts NDJSON objects to Parquet with athena/local's
// ParquetWriter, the one converter, between two scratch files per object
// that exist only while it is converted (no scratch folder that a killed
// process would leave behind). It is safe for concurrent use; Close
// releases its DuckDB.
type Encoder struct {
	w   *local.ParquetWriter
	dir string // for scratch files; "" is os.TempDir()
}

// NewEncoder starts the in-memory DuckDB that does the conversion.
func NewEncoder(opts Options) (*Encoder, error) {
	w, err := local.NewParquetWriter()
	if err != nil {
		return nil, fmt.Errorf("lakeparquet: %w", err)
	}
	w.Compression = "GZIP" // as the CDK app's record format conversion
	w.Threads = max(opts.Threads, 1)
	return &Encoder{w: w, dir: opts.TempDir}, nil
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
	src, err := scratch(e.dir, ".json", data) // plain NDJSON: not named .gz
	if err != nil {
		return err
	}
	defer os.Remove(src)
	dst, err := scratch(e.dir, Extension, nil)
	if err != nil {
		return err
	}
	defer os.Remove(dst)
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
	return e.w.Close()
}
