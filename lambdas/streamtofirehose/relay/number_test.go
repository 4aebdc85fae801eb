package relay

import (
	"encoding/json"
	"testing"
)

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
