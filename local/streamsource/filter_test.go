package streamsource

import (
	"errors"
	"testing"
)

func TestFilterMatch(t *testing.T) {
	insert := `{"eventName":"INSERT","dynamodb":{"NewImage":{"event_type":{"S":"login"},"n":{"N":"5"}},"SizeBytes":41,"Tags":["a","b"]}}`
	remove := `{"eventName":"REMOVE","dynamodb":{"Keys":{"user_id":{"S":"42"}},"SizeBytes":10},"userIdentity":{"type":"Service"}}`
	cases := []struct {
		pattern        string
		insert, remove bool
	}{
		{InsertOnly, true, false},
		{`{"eventName":["INSERT","MODIFY"]}`, true, false},
		{`{"eventName":[{"anything-but":["INSERT"]}]}`, false, true},
		{`{"eventName":[{"anything-but":"REMOVE"}]}`, true, false},
		{`{"dynamodb":{"NewImage":{"event_type":{"S":["login"]}}}}`, true, false},
		{`{"dynamodb":{"NewImage":{"event_type":{"S":[{"prefix":"log"}]}}}}`, true, false},
		{`{"dynamodb":{"NewImage":{"event_type":{"S":[{"suffix":"gin"}]}}}}`, true, false},
		{`{"eventName":[{"equals-ignore-case":"insert"}]}`, true, false},
		{`{"userIdentity":[{"exists":true}]}`, false, true},
		{`{"userIdentity":[{"exists":false}]}`, true, false},
		{`{"dynamodb":{"SizeBytes":[{"numeric":[">",20,"<=",41]}]}}`, true, false},
		{`{"dynamodb":{"SizeBytes":[{"numeric":["=",10]}]}}`, false, true},
		{`{"dynamodb":{"Tags":["b"]}}`, true, false}, // any element of an array
		{`{"eventName":["INSERT"],"dynamodb":{"SizeBytes":[10]}}`, false, false},
		{`{"dynamodb":{"NewImage":{"missing":{"S":["x"]}}}}`, false, false},
		{`{"eventName":[null]}`, false, false},
	}
	for _, c := range cases {
		t.Run(c.pattern, func(t *testing.T) {
			f, err := ParseFilter(c.pattern)
			if err != nil {
				t.Fatal(err)
			}
			if got := f.Match([]byte(insert)); got != c.insert {
				t.Errorf("insert: match = %v, want %v", got, c.insert)
			}
			if got := f.Match([]byte(remove)); got != c.remove {
				t.Errorf("remove: match = %v, want %v", got, c.remove)
			}
		})
	}
}

func TestParseFilterErrors(t *testing.T) {
	cases := []struct {
		pattern, path string
	}{
		{`not json`, ""},
		{`["INSERT"]`, ""},
		{`{}`, ""},
		{`{"eventName":"INSERT"}`, "eventName"},
		{`{"eventName":[]}`, "eventName"},
		{`{"dynamodb":{"NewImage":{}}}`, "dynamodb.NewImage"},
		{`{"eventName":[{"prefix":1}]}`, "eventName"},
		{`{"eventName":[{"regex":"."}]}`, "eventName"},
		{`{"eventName":[{"prefix":"a","suffix":"b"}]}`, "eventName"},
		{`{"n":[{"numeric":[">"]}]}`, "n"},
		{`{"n":[{"numeric":["!=",1]}]}`, "n"},
		{`{"n":[{"exists":"yes"}]}`, "n"},
		{`{"n":[["a"]]}`, "n"},
		{`{"$or":[{"a":["b"]}]}`, "$or"},
		{`{"a":["b"]} {}`, ""},
	}
	for _, c := range cases {
		t.Run(c.pattern, func(t *testing.T) {
			_, err := ParseFilter(c.pattern)
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a *FilterError", err)
			}
			if fe.Path != c.path {
				t.Errorf("path = %q, want %q (%v)", fe.Path, c.path, err)
			}
		})
	}
}

func FuzzParseFilter(f *testing.F) {
	for _, p := range []string{InsertOnly, `{"a":{"b":[{"numeric":[">",1,"<",2]}]}}`, `{"a":[{"anything-but":[1,"x",null]}]}`, `{"a":[{"exists":false}]}`} {
		f.Add(p, `{"eventName":"INSERT","a":{"b":1.5}}`)
	}
	f.Fuzz(func(t *testing.T, pattern, record string) {
		flt, err := ParseFilter(pattern)
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FilterError", err)
			}
			return
		}
		flt.Match([]byte(record)) // must not panic
	})
}
