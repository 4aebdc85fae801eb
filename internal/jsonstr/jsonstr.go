// Package jsonstr appends Go strings as JSON strings: the one string encoder
// of eventlake's NDJSON lines, shared by the tracker (the lake route's lines)
// and the stream Lambda (lines from DynamoDB images), so both write the same
// bytes for the same event. The text decodes to what encoding/json's would
// (invalid UTF-8 replaced by U+FFFD); '<', '>' and '&' are not escaped.
package jsonstr

import "unicode/utf8"

const hexDigits = "0123456789abcdef"

// safe marks the bytes that appear in a JSON string unescaped and need no
// UTF-8 check: printable ASCII other than '"' and '\\'.
var safe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Append appends s to dst as a JSON string and returns the extended buffer:
// quotes, backslashes and control characters escaped (\n, \r, \t, else
// \u00XX), U+2028 and U+2029 escaped (as encoding/json does), each byte of
// invalid UTF-8 replaced by \ufffd. It allocates only to grow dst.
func Append(dst []byte, s string) []byte {
	i := SafePrefix(s)
	if i == len(s) { // the common case: printable ASCII only
		dst = append(dst, '"')
		dst = append(dst, s...)
		return append(dst, '"')
	}
	dst = append(dst, '"')
	return appendEscaped(dst, s, i)
}

// SafePrefix returns the length of the longest prefix of s made of bytes
// that need no escaping and no UTF-8 check: printable ASCII other than '"'
// and '\\'. It is a leaf with no appends, so the scan stays in registers.
func SafePrefix[T string | []byte](s T) int {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		t := s[i : i+8]
		w := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
			uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
		if hasUnsafe(w) {
			break
		}
	}
	for ; i < len(s) && safe[s[i]]; i++ {
	}
	return i
}

// appendEscaped appends s[i:] escaped and the closing quote, s[:i] being
// safe; dst already holds the opening quote.
func appendEscaped(dst []byte, s string, i int) []byte {
	start := 0
	for i < len(s) {
		c := s[i]
		if safe[c] {
			i += SafePrefix(s[i:])
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// hasUnsafe reports whether any byte of w is below 0x20, '"', '\\' or
// non-ASCII. It may report true for a safe word (the caller then looks at
// single bytes) but never false for an unsafe one.
func hasUnsafe(w uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	below := (w - lo*0x20) &^ w // high bit set where a byte < 0x20 (or >= 0x80)
	quote := w ^ (lo * '"')
	quote = (quote - lo) &^ quote
	bslash := w ^ (lo * '\\')
	bslash = (bslash - lo) &^ bslash
	return (below|quote|bslash|w)&hi != 0
}
