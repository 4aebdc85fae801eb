package relay

import (
	"encoding/json"
	"testing"
)

// FuzzAppendString checks the hand-written JSON string encoder against
// encoding/json: same decoded value (invalid UTF-8 replaced), valid JSON,
// no raw control characters.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "quote\" back\\", "\x00\x01\x1f\x7f", "é中😀", "\u2028\u2029", "\xff\xfe", "bad \xe2\x82 utf8", "12345678\"12345678"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := appendString([]byte("x"), s)[1:]
		if !json.Valid(out) {
			t.Fatalf("appendString(%q) = %s, not valid JSON", s, out)
		}
		for _, c := range out {
			if c < 0x20 {
				t.Fatalf("appendString(%q) = %q holds a raw control character", s, out)
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
			t.Fatalf("appendString(%q) decodes to %q; encoding/json gives %q", s, got, want)
		}
	})
}

func TestValidNumber(t *testing.T) {
	for s, want := range map[string]bool{
		"0": true, "-0": true, "42": true, "-3.25": true, "1e5": true, "1E+2": true, "2.5e-3": true,
		"": false, ".5": false, "5.": false, "01": false, "+1": false, "1e": false, "NaN": false, "1.2.3": false, "-": false,
	} {
		if got := validNumber(s); got != want {
			t.Errorf("validNumber(%q) = %v, want %v", s, got, want)
		}
		if want {
			var f float64
			if err := json.Unmarshal([]byte(s), &f); err != nil {
				t.Errorf("%q is not a JSON number after all: %v", s, err)
			}
		}
	}
}
