package jsonstr

import (
	"encoding/json"
	"testing"
)

// FuzzAppend checks the hand-written JSON string encoder against
// encoding/json: same decoded value (invalid UTF-8 replaced), valid JSON,
// no raw control characters.
func FuzzAppend(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\", "\x00\x01\x1f\x7f", "é中😀", "\u2028\u2029", "\xff\xfe", "bad \xe2\x82 utf8", "12345678\"12345678", "<a href='x'>&</a>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Append([]byte("x"), s)[1:]
		if !json.Valid(out) {
			t.Fatalf("Append(%q) = %s, not valid JSON", s, out)
		}
		for _, c := range out {
			if c < 0x20 {
				t.Fatalf("Append(%q) = %q holds a raw control character", s, out)
			}
		}
		var got, want string
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatal(err)
		}
		ref, _ := json.Marshal(s)
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("Append(%q) decodes to %q; encoding/json gives %q", s, got, want)
		}
	})
}

func TestSafePrefix(t *testing.T) {
	for s, want := range map[string]int{
		"": 0, "abc": 3, "0123456789abcdef": 16, "01234567\"": 8, "a\\b": 1, "ab\n": 2, "é": 0, "abcdefgh\x7f": 9,
	} {
		if got := SafePrefix(s); got != want {
			t.Errorf("SafePrefix(%q) = %d, want %d", s, got, want)
		}
		if got := SafePrefix([]byte(s)); got != want {
			t.Errorf("SafePrefix([]byte(%q)) = %d, want %d", s, got, want)
		}
	}
}

var sink []byte

// BenchmarkAppend measures the encoder on a typical user agent (all safe
// ASCII) and on text that needs escaping.
func BenchmarkAppend(b *testing.B) {
	for _, tc := range []struct{ name, s string }{
		{"user-agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
		{"escapes", "line\none \"quoted\" \\ tab\t café 中文 \x01\u2028 end"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 0, 256)
			b.SetBytes(int64(len(tc.s)))
			b.ReportAllocs()
			for b.Loop() {
				buf = Append(buf[:0], tc.s)
			}
			sink = buf
		})
	}
}
