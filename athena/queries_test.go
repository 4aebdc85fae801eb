package athena

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// wantQueries are the questions the library answers; a missing file fails.
var wantQueries = []string{
	"account_sharing", "active_users", "campaign_conversions", "devices", "hourly_clicks_impressions", "logins_per_day",
	"rotting_accounts", "sessions", "signup_attribution", "usage_frequency", "user_last_seen", "user_recent_activity",
}

func TestQueriesLibrary(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, q := range qs {
		names = append(names, q.Name)
	}
	if !slices.Equal(names, wantQueries) {
		t.Fatalf("queries %v, want %v", names, wantQueries)
	}
	dtLower := regexp.MustCompile(`\bdt >= `)
	for _, q := range qs {
		t.Run(q.Name, func(t *testing.T) {
			// Athena's CreateNamedQuery limits.
			if len(q.Name) > 128 || utf8.RuneCountInString(q.Description) > 1024 || q.Description == "" {
				t.Errorf("name %d bytes, description %d characters: Athena allows 128 and 1-1024",
					len(q.Name), utf8.RuneCountInString(q.Description))
			}
			if strings.Count(q.SQL, "?") != len(q.Params) {
				t.Errorf("%d question marks, %d parameters", strings.Count(q.SQL, "?"), len(q.Params))
			}
			body := stripComments(q.SQL)
			if !strings.Contains(body, "FROM events_dedup") {
				t.Error("does not read events_dedup")
			}
			// Every scan of the view restricts dt from below.
			if s, d := strings.Count(body, "FROM events_dedup"), len(dtLower.FindAllString(body, -1)); d < s {
				t.Errorf("%d scans of events_dedup but %d lower bounds on dt", s, d)
			}
			if strings.Contains(body, ";") {
				t.Error("has a semicolon: Athena runs one statement")
			}
			// Execution parameters are allowed only in WHERE clauses: no
			// "?" in a SELECT list, LIMIT or ON.
			for _, l := range strings.Split(body, "\n") {
				if strings.Contains(l, "?") && !regexp.MustCompile(`^\s*(WHERE|AND|OR)\b`).MatchString(l) {
					t.Errorf("a parameter outside a WHERE condition line: %q", l)
				}
			}
			for _, p := range q.Params {
				if p.Doc == "" {
					t.Errorf("parameter %s has no description", p.Name)
				}
			}
		})
	}
}

func stripComments(sql string) string {
	var out []string
	for _, l := range strings.Split(sql, "\n") {
		if i := strings.Index(l, "--"); i >= 0 {
			l = l[:i]
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func TestLookup(t *testing.T) {
	q, err := Lookup("logins_per_day")
	if err != nil || q.Name != "logins_per_day" || len(q.Params) != 0 {
		t.Fatalf("Lookup = %+v, %v", q, err)
	}
	if _, err := Lookup("nope"); !errors.Is(err, ErrUnknownQuery) {
		t.Errorf("Lookup(nope) error %v, want ErrUnknownQuery", err)
	}
}

func TestParseQueryParams(t *testing.T) {
	sql := `-- Something per day.
--
-- Parameters:
--   1. from_day  date    first day
--      continued here
--   2. to_day    date    last day
--   3. from_day
--   4. limit     bigint  how many
SELECT 1 FROM events_dedup WHERE dt >= ? AND dt <= ? AND x = ? AND n < ?`
	q, err := ParseQuery("x", sql)
	if err != nil {
		t.Fatal(err)
	}
	want := []Param{
		{"from_day", Date, "first day continued here"},
		{"to_day", Date, "last day"},
		{"from_day", Date, "first day continued here"},
		{"limit", Bigint, "how many"},
	}
	if !slices.Equal(q.Params, want) {
		t.Errorf("params %+v, want %+v", q.Params, want)
	}
	if got := q.Usage(); got != "<from_day:date> <to_day:date> <limit:bigint>" {
		t.Errorf("usage %q", got)
	}
	if !strings.HasPrefix(q.Description, "Something per day.") {
		t.Errorf("description %q", q.Description)
	}
}

func TestParseQueryErrors(t *testing.T) {
	tests := []struct{ name, sql, want string }{
		{"no header", "SELECT 1", "no \"Parameters:\""},
		{"count mismatch", "-- x\n-- Parameters: none.\nSELECT ?", "question mark"},
		{"too few marks", "-- Parameters:\n--   1. a  date  d\nSELECT 1", "question mark"},
		{"bad kind", "-- Parameters:\n--   1. a  timestamptz  d\nSELECT ?", "unknown kind"},
		{"bad number", "-- Parameters:\n--   2. a  date  d\nSELECT ?", "expected number 1"},
		{"repeat unknown", "-- Parameters:\n--   1. a\nSELECT ?", "not declared before"},
		{"declared twice", "-- Parameters:\n--   1. a  date  d\n--   2. a  date  d\nSELECT ?, ?", "declared twice"},
		{"empty block", "-- Parameters:\nSELECT 1", "lists no parameter"},
		{"junk after", "-- Parameters: some\nSELECT 1", "unexpected text"},
		{"malformed", "-- Parameters:\n--   one. a date d\nSELECT ?", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseQuery("q", tt.sql)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestArgs(t *testing.T) {
	q, err := ParseQuery("q", `-- Parameters:
--   1. user   varchar    u
--   2. since  timestamp  s
--   3. day    date       d
--   4. n      bigint     n
--   5. since
SELECT 1 WHERE a = ? AND b = ? AND c = ? AND d = ? AND e = ?`)
	if err != nil {
		t.Fatal(err)
	}
	args, err := q.Args("O'Brien", "2026-11-22T10:00:00+01:00", "2026-11-22", " 42")
	if err != nil {
		t.Fatal(err)
	}
	var lits []string
	var vals []any
	for _, a := range args {
		lits = append(lits, a.Literal())
		vals = append(vals, a.Value())
	}
	wantLits := []string{"'O''Brien'", "'2026-11-22T10:00:00+01:00'", "'2026-11-22'", "42", "'2026-11-22T10:00:00+01:00'"}
	if !slices.Equal(lits, wantLits) {
		t.Errorf("literals %q, want %q", lits, wantLits)
	}
	wantVals := []any{"O'Brien", "2026-11-22T10:00:00+01:00", "2026-11-22", int64(42), "2026-11-22T10:00:00+01:00"}
	if !slices.Equal(vals, wantVals) {
		t.Errorf("values %#v, want %#v", vals, wantVals)
	}

	bad := []struct {
		name   string
		values []string
		want   []string
	}{
		{"count", []string{"a"}, []string{"takes 4 argument(s) <user:varchar> <since:timestamp> <day:date> <n:bigint>, got 1"}},
		{"every bad value", []string{"u", "yesterday", "2026-02-30", "7.5"}, []string{"since (timestamp)", "day (date)", "n (bigint)"}},
		{"no zone", []string{"u", "2026-11-22T10:00:00", "2026-11-22", "1"}, []string{"since (timestamp)"}},
		{"invalid utf8", []string{"\xff", "2026-11-22", "2026-11-22", "1"}, []string{"user (varchar): is not valid UTF-8"}},
		{"too long", []string{strings.Repeat("x", 1025), "2026-11-22", "2026-11-22", "1"}, []string{"user (varchar): is 1025 bytes"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := q.Args(tt.values...)
			var aerr *ArgError
			if !errors.As(err, &aerr) || !errors.Is(err, ErrInvalidArgs) {
				t.Fatalf("error %v, want an *ArgError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// FuzzArgs checks that any value either fails with an *ArgError or yields a
// literal that is a single SQL string or integer token: a value can never
// close the quote and add SQL of its own.
func FuzzArgs(f *testing.F) {
	for _, s := range []string{"x", "O'Brien", "'; DROP TABLE events; --", "2026-11-22", "-7", "\x00", "''''"} {
		f.Add(s)
	}
	q, err := ParseQuery("q", `-- Parameters:
--   1. v  varchar  v
--   2. d  date  d
--   3. t  timestamp  t
--   4. n  bigint  n
SELECT 1 WHERE a = ? AND b = ? AND c = ? AND d = ?`)
	if err != nil {
		f.Fatal(err)
	}
	intRE := regexp.MustCompile(`^-?[0-9]+$`)
	f.Fuzz(func(t *testing.T, v string) {
		for i, p := range q.Params {
			vals := []string{"a", "2026-11-22", "2026-11-22T00:00:00Z", "1"}
			vals[i] = v
			args, err := q.Args(vals...)
			if err != nil {
				if !errors.Is(err, ErrInvalidArgs) {
					t.Fatalf("%s: error %v is not ErrInvalidArgs", p.Name, err)
				}
				continue
			}
			lit := args[i].Literal()
			if p.Kind == Bigint {
				if !intRE.MatchString(lit) {
					t.Fatalf("bigint literal %q", lit)
				}
				continue
			}
			n := stringTokenLen(lit)
			if n != len(lit) {
				t.Fatalf("literal %q of %q: the SQL string token ends at %d of %d", lit, v, n, len(lit))
			}
			if got := strings.ReplaceAll(lit[1:len(lit)-1], "''", "'"); got != v {
				t.Fatalf("literal %q does not round-trip %q", lit, v)
			}
		}
	})
}

// stringTokenLen returns the length of the SQL string literal at the start
// of s (quotes inside are written twice), or -1 when s does not start with one.
func stringTokenLen(s string) int {
	if !strings.HasPrefix(s, "'") {
		return -1
	}
	for i := 1; i < len(s); i++ {
		if s[i] != '\'' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			i++
			continue
		}
		return i + 1
	}
	return -1
}
