package pipeline

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"sync"
	"testing"
)

func TestPooledGzipRoundTrip(t *testing.T) {
	enc := newPooledGzip()
	if enc.Extension() != ".gz" {
		t.Fatalf("extension %q", enc.Extension())
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				data := bytes.Repeat([]byte(fmt.Sprintf(`{"user_id":"u%d","event_id":"e%d"}`+"\n", g, i)), i+1)
				var buf bytes.Buffer
				if err := enc.Encode(&buf, data); err != nil {
					t.Error(err)
					return
				}
				zr, err := gzip.NewReader(&buf)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := io.ReadAll(zr)
				if err != nil || !bytes.Equal(got, data) {
					t.Errorf("round trip of %d bytes: %v", len(data), err)
				}
			}
		})
	}
	wg.Wait()
}
