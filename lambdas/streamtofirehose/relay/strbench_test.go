package relay

import "testing"

var sink []byte

// BenchmarkAppendString measures the JSON string encoder on a typical user
// agent (all safe ASCII) and on text that needs escaping.
func BenchmarkAppendString(b *testing.B) {
	for _, tc := range []struct{ name, s string }{
		{"user-agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
		{"escapes", "line\none \"quoted\" \\ tab\t café 中文 \x01\u2028 end"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.SetBytes(int64(len(tc.s)))
			b.ReportAllocs()
			for b.Loop() {
				buf = appendString(buf[:0], tc.s)
			}
			sink = buf
		})
	}
}
