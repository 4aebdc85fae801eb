package streamsource

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzMembers: for any valid JSON object, members finds the keys and
// values encoding/json finds when it decodes into a map (exact keys, the
// last of duplicates), and fails on anything that is not an object.
func FuzzMembers(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, ` { "a" : [1,{"b":"}"}] , "c\"d" : "x\\"y" , "e":null } `,
		`{"\u0053equenceNumber":"7","a":{"a":{}},"a":true}`, `[1]`, `"s"`, `{"k":-1.5e3,"t":false}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if !json.Valid(data) {
			return
		}
		var want map[string]json.RawMessage
		isObject := json.Unmarshal(data, &want) == nil && bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{"))
		got := map[string]json.RawMessage{}
		err := members(data, func(k, v []byte) { got[string(k)] = append(json.RawMessage(nil), v...) })
		if !isObject {
			if err == nil {
				t.Fatalf("members accepted %q", data)
			}
			return
		}
		if err != nil {
			t.Fatalf("members(%q): %v", data, err)
		}
		if len(got) != len(want) {
			t.Fatalf("members found %d keys, encoding/json %d: %q", len(got), len(want), data)
		}
		for k, v := range want {
			if !bytes.Equal(bytes.TrimSpace(got[k]), bytes.TrimSpace(v)) {
				t.Fatalf("key %q: %q, encoding/json %q", k, got[k], v)
			}
		}
	})
}
