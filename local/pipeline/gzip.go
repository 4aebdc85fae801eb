package pipeline

import (
	"compress/gzip"
	"fmt"
	"io"
	"sync"
)

// pooledGzip is the lake's gzip encoder (a firehoselocal.Encoder): the same
// bytes as firehoselocal.GzipEncoder at BestSpeed, with the compressors
// reused. Backfilled history is filed under one object per day and buffer,
// so the endpoint writes many small objects, and a new compressor per object
// (about 1 MB of state) would cost more than the compression. Firehose does
// not document its GZIP level; the local lake favours CPU, which the demo's
// DynamoDB Local needs more. Safe for concurrent use.
type pooledGzip struct{ pool sync.Pool }

func newPooledGzip() *pooledGzip {
	return &pooledGzip{pool: sync.Pool{New: func() any {
		zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed) // a valid level: no error
		return zw
	}}}
}

// Extension returns ".gz".
func (*pooledGzip) Extension() string { return ".gz" }

// Encode compresses data to w.
func (g *pooledGzip) Encode(w io.Writer, data []byte) error {
	zw := g.pool.Get().(*gzip.Writer)
	defer g.pool.Put(zw)
	zw.Reset(w)
	if _, err := zw.Write(data); err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	return nil
}
