package tracker

import (
	"testing"
	"time"
)

// BenchmarkNormalize measures validation and normalization alone, the
// larger part of AsyncWriter.Put's cost.
func BenchmarkNormalize(b *testing.B) {
	v := validator{types: map[string]struct{}{"page_view": {}}, skew: DefaultMaxFutureSkew, now: time.Now}
	e := Event{
		UserID:     "bench-serial",
		Type:       "page_view",
		UserAgent:  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36",
		IP:         "203.0.113.42",
		Attributes: map[string]string{"url": "https://shop.example/products/42", "referrer": "https://www.google.com/"},
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.normalize(e); err != nil {
			b.Fatal(err)
		}
	}
}
