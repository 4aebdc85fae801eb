package tracker

import (
	"errors"
	"strings"
	"testing"
)

func testCodec() cursorCodec {
	return cursorCodec{keys: [][]byte{[]byte("0123456789abcdef0123456789abcdef")}}
}

func TestCursorRoundTrip(t *testing.T) {
	c := testCodec()
	d := queryDigest("events", "42", []string{"login"}, "2026-01-01T00:00:00.000Z", "")
	positions := []string{
		"2026-03-01T12:00:00.000Z#0195f0c2-7d3a-7c4e-9f00-0123456789ab",
		"2026-03-01T12:00:00.000Z#" + strings.Repeat("x", MaxEventIDBytes),
		"a",
	}
	for _, pos := range positions {
		s := c.encode(d, pos)
		if len(s) > cursorMaxLen {
			t.Errorf("cursor of %d bytes for a %d-byte position exceeds the accepted %d", len(s), len(pos), cursorMaxLen)
		}
		if strings.ContainsAny(s, "+/=%&?# ") {
			t.Errorf("cursor %q is not URL-safe", s)
		}
		got, err := c.decode(s, d)
		if err != nil || got != pos {
			t.Errorf("decode(encode(%q)) = %q, %v", pos, got, err)
		}
	}
}

func TestQueryDigestSeparatesQueries(t *testing.T) {
	base := queryDigest("t", "u", nil, "", "")
	others := map[string][cursorDigestLen]byte{
		"table":          queryDigest("t2", "u", nil, "", ""),
		"user":           queryDigest("t", "u2", nil, "", ""),
		"type":           queryDigest("t", "u", []string{"login"}, "", ""),
		"from":           queryDigest("t", "u", nil, "2026", ""),
		"to":             queryDigest("t", "u", nil, "", "2026"),
		"user/table mix": queryDigest("tu", "", nil, "", ""),
		"types split":    queryDigest("t", "u", []string{"a", "b"}, "", ""),
		"types joined":   queryDigest("t", "u", []string{"ab"}, "", ""),
	}
	seen := map[[cursorDigestLen]byte]string{base: "base"}
	for name, d := range others {
		if prev, dup := seen[d]; dup {
			t.Errorf("digest of %s equals that of %s", name, prev)
		}
		seen[d] = name
	}
}

// FuzzCursorDecode feeds decode arbitrary text: it must never panic, and it
// must reject everything but a cursor it signed for the same query.
func FuzzCursorDecode(f *testing.F) {
	c := testCodec()
	d := queryDigest("events", "42", nil, "", "")
	valid := c.encode(d, "2026-03-01T12:00:00.000Z#id")
	f.Add(valid)
	f.Add("")
	f.Add("AQ")
	f.Add(strings.Repeat("A", 300))
	f.Add(valid[:len(valid)-1] + "A")
	f.Fuzz(func(t *testing.T, s string) {
		pos, err := c.decode(s, d)
		if err != nil {
			var ce *CursorError
			if !errors.Is(err, ErrInvalidCursor) || !errors.As(err, &ce) {
				t.Fatalf("decode(%q) error %v is not a CursorError", s, err)
			}
			return
		}
		if s != valid || pos != "2026-03-01T12:00:00.000Z#id" {
			t.Fatalf("decode accepted %q as position %q", s, pos)
		}
	})
}

// BenchmarkCursor measures signing and verifying one cursor.
func BenchmarkCursor(b *testing.B) {
	c := testCodec()
	d := queryDigest("events", "42", []string{"login"}, "", "")
	pos := "2026-03-01T12:00:00.000Z#0195f0c2-7d3a-7c4e-9f00-0123456789ab"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.decode(c.encode(d, pos), d); err != nil {
			b.Fatal(err)
		}
	}
}
