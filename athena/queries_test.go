package athena

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// wantQueries are the questions the library answers; a missing file fails.
var wantQueries = []string{
	"account_sharing", "active_users", "active_users_by_day", "campaign_conversions", "clicks_impressions_by_hour", "devices",
	"hourly_clicks_impressions", "logins_by_day", "logins_per_day", "rotting_accounts", "sessions", "signup_attribution",
	"usage_frequency", "user_last_seen", "user_recent_activity",
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
		{Name: "from_day", Kind: Date, Doc: "first day continued here"},
		{Name: "to_day", Kind: Date, Doc: "last day"},
		{Name: "from_day", Kind: Date, Doc: "first day continued here"},
		{Name: "limit", Kind: Bigint, Doc: "how many", Min: DefaultBigintMin, Max: DefaultBigintMax},
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
		{"range on a date", "-- Parameters:\n--   1. a  date  1..5  d\nSELECT ?", "bigint parameters only"},
		{"inverted range", "-- Parameters:\n--   1. a  bigint  5..1  d\nSELECT ?", "MIN <= MAX"},
		{"range beyond int64", "-- Parameters:\n--   1. a  bigint  0..9223372036854775808  d\nSELECT ?", "64-bit"},
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

// TestEpochSecondsTimestamps: seed 001's epoch seconds are accepted
// wherever a timestamp is, and reach the engines as the ISO 8601 text they
// read; days and ISO 8601 times pass unchanged.
func TestEpochSecondsTimestamps(t *testing.T) {
	q, err := Lookup("hourly_clicks_impressions")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"1732269600":           "2024-11-22T10:00:00Z",
		"0":                    "1970-01-01T00:00:00Z",
		"253402300799":         "9999-12-31T23:59:59Z",
		"2026-11-22T10:00:00Z": "2026-11-22T10:00:00Z",
		"2026-11-22":           "2026-11-22",
	} {
		args, err := q.Args(in)
		if err != nil {
			t.Errorf("Args(%q): %v", in, err)
			continue
		}
		if args[0].Text != want || args[0].Literal() != "'"+want+"'" || args[0].Value() != want {
			t.Errorf("Args(%q) = %q, literal %s, want %q", in, args[0].Text, args[0].Literal(), want)
		}
		if err := q.Check(args); err != nil {
			t.Errorf("Check(Args(%q)): %v", in, err)
		}
	}
	for in, want := range map[string]string{
		"253402300800":            "at (timestamp): 253402300800 epoch seconds is after 9999-12-31T23:59:59Z",
		"1732269600000":           "(milliseconds? give seconds)",
		"-1":                      `at (timestamp): "-1" is not an ISO 8601 time`,
		"1732269600.5":            `"1732269600.5" is not an ISO 8601 time with a zone (2026-11-22T10:00:00Z), a day or epoch seconds`,
		"99999999999999999999999": "epoch seconds is after",
	} {
		if _, err := q.Args(in); !errors.Is(err, ErrInvalidArgs) || !strings.Contains(err.Error(), want) {
			t.Errorf("Args(%q) = %v, want an error containing %q", in, err, want)
		}
	}
	// Dates stay days: epoch seconds are a timestamp's form only.
	d, _ := Lookup("active_users")
	if _, err := d.Args("1732269600"); err == nil {
		t.Error("a date parameter accepted epoch seconds")
	}
}

// TestBigintRanges: a bigint is checked against the range its header
// declares (or the default one), the error names the parameter and the
// range, and values beyond int64 are out of range rather than "not an
// integer".
func TestBigintRanges(t *testing.T) {
	q, err := ParseQuery("q", `-- Parameters:
--   1. days   bigint  1..3650  days without any event, e.g. 30
--   2. n      bigint           how many
--   3. delta  bigint  -5..5    a signed shift
SELECT 1 WHERE a = ? AND b = ? AND c = ?`)
	if err != nil {
		t.Fatal(err)
	}
	want := []Param{
		{Name: "days", Kind: Bigint, Doc: "days without any event, e.g. 30", Min: 1, Max: 3650},
		{Name: "n", Kind: Bigint, Doc: "how many", Min: DefaultBigintMin, Max: DefaultBigintMax},
		{Name: "delta", Kind: Bigint, Doc: "a signed shift", Min: -5, Max: 5},
	}
	if !slices.Equal(q.Params, want) {
		t.Fatalf("params %+v, want %+v", q.Params, want)
	}
	if r := q.Params[0].Range(); r != "1..3650" {
		t.Errorf("Range() = %q", r)
	}
	for _, ok := range [][]string{{"1", "0", "-5"}, {"3650", "1000000", "5"}, {" 30 ", "7", "0"}} {
		if _, err := q.Args(ok...); err != nil {
			t.Errorf("Args(%q): %v", ok, err)
		}
	}
	for _, tt := range []struct {
		values []string
		want   string
	}{
		{[]string{"0", "1", "0"}, "days (bigint): 0 is outside 1..3650"},
		{[]string{"3651", "1", "0"}, "days (bigint): 3651 is outside 1..3650"},
		{[]string{"-30", "1", "0"}, "days (bigint): -30 is outside 1..3650"},
		{[]string{"9223372036854775807", "1", "0"}, "days (bigint): 9223372036854775807 is outside 1..3650"},
		{[]string{"-9223372036854775808", "1", "0"}, "days (bigint): -9223372036854775808 is outside 1..3650"},
		{[]string{"99999999999999999999", "1", "0"}, "days (bigint): 99999999999999999999 is outside 1..3650"},
		{[]string{"1", "-1", "0"}, "n (bigint): -1 is outside 0..1000000"},
		{[]string{"1", "1000001", "0"}, "n (bigint): 1000001 is outside 0..1000000"},
		{[]string{"1", "1", "-6"}, "delta (bigint): -6 is outside -5..5"},
		{[]string{"1", "1", "1e3"}, `delta (bigint): "1e3" is not an integer`},
	} {
		_, err := q.Args(tt.values...)
		if !errors.Is(err, ErrInvalidArgs) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Args(%q) = %v, want an error containing %q", tt.values, err, tt.want)
		}
	}
}

// TestLibraryBigintRanges: every bigint of the library declares a range
// that is not negative and ends by 3650, so the values (the int64
// extremes, negative days) are refused with the parameter's name, whichever
// runner is used.
func TestLibraryBigintRanges(t *testing.T) {
	qs, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range qs {
		for _, p := range q.Inputs() {
			if p.Kind == Bigint && (p.Min < 0 || p.Max > 3650 || p.Min == DefaultBigintMin && p.Max == DefaultBigintMax) {
				t.Errorf("%s.%s: range %s, want a declared range within 0..3650", q.Name, p.Name, p.Range())
			}
		}
	}
	for _, tt := range []struct {
		query  string
		values []string
		want   string
	}{
		{"rotting_accounts", []string{"2026-11-01", "2026-11-29", "9223372036854775807"}, "days (bigint): 9223372036854775807 is outside 0..3650"},
		{"rotting_accounts", []string{"2026-11-01", "2026-11-29", "-9223372036854775808"}, "days (bigint): -9223372036854775808 is outside"},
		{"rotting_accounts", []string{"2026-11-01", "2026-11-29", "-30"}, "days (bigint): -30 is outside"},
		{"signup_attribution", []string{"2026-11-01", "2026-11-29", "-7"}, "lookback (bigint): -7 is outside 1..3650"},
	} {
		q, err := Lookup(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		_, err = q.Args(tt.values...)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "query "+tt.query+": ") {
			t.Errorf("%s %q: %v, want %q", tt.query, tt.values, err, tt.want)
		}
	}
}

// TestCheck: the runners' check refuses arguments that Args did not make:
// out of range, for another parameter, or too few.
func TestCheck(t *testing.T) {
	q, err := Lookup("rotting_accounts")
	if err != nil {
		t.Fatal(err)
	}
	args, err := q.Args("2026-11-01", "2026-11-29", "30")
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Check(args); err != nil {
		t.Fatalf("Check(Args(...)) = %v", err)
	}
	days := slices.IndexFunc(q.Params, func(p Param) bool { return p.Name == "days" })
	if days < 1 {
		t.Fatalf("rotting_accounts has no days parameter after the first: %+v", q.Params)
	}
	forged := slices.Clone(args)
	forged[days] = Arg{Param: q.Params[days], Text: "9223372036854775807"}
	swapped := slices.Clone(args)
	swapped[0], swapped[days] = swapped[days], swapped[0]
	unchecked := slices.Clone(args)
	unchecked[days] = Arg{Param: q.Params[days], Text: "30"} // no value behind the text
	for name, tt := range map[string]struct {
		args []Arg
		want string
	}{
		"out of range": {forged, "days (bigint): 9223372036854775807 is outside 0..3650"},
		"swapped":      {swapped, "argument 1 is for days (bigint), not since (date)"},
		"too few":      {args[:2], fmt.Sprintf("takes %d argument(s)", len(q.Params))},
		"unchecked":    {unchecked, `days (bigint): "30" was not checked by Args`},
	} {
		err := q.Check(tt.args)
		if !errors.Is(err, ErrInvalidArgs) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Check = %v, want %q", name, err, tt.want)
		}
	}
}

// FuzzArgs checks that any value either fails with an *ArgError or yields a
// literal that is a single SQL string or integer token: a value can never
// close the quote and add SQL of its own.
func FuzzArgs(f *testing.F) {
	for _, s := range []string{"x", "O'Brien", "'; DROP TABLE events; --", "2026-11-22", "-7", "\x00", "''''",
		"9223372036854775807", "1732269600", "253402300800", " 12 ", "1000001"} {
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
			if err := q.Check(args); err != nil {
				t.Fatalf("Check(Args(%q)): %v", vals, err)
			}
			lit := args[i].Literal()
			if p.Kind == Bigint {
				n, err := strconv.ParseInt(lit, 10, 64)
				if !intRE.MatchString(lit) || err != nil || n < p.Min || n > p.Max {
					t.Fatalf("bigint literal %q outside %s", lit, p.Range())
				}
				continue
			}
			if p.Kind == Timestamp {
				if _, err := time.Parse(time.RFC3339Nano, args[i].Text); err != nil && args[i].Text != v {
					t.Fatalf("timestamp %q became %q", v, args[i].Text)
				}
				v = args[i].Text // epoch seconds are passed on as RFC 3339
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

// FuzzParseQuery: any query text either fails to parse or gives parameters
// that fit it: one per "?", known kinds, ranges only on bigints with
// MIN <= MAX, repeats equal to their first declaration; and the values at
// the edges of each range pass Args and Check.
func FuzzParseQuery(f *testing.F) {
	qs, err := Queries()
	if err != nil {
		f.Fatal(err)
	}
	for _, q := range qs {
		f.Add(q.SQL)
	}
	f.Add("-- Parameters:\n--   1. n  bigint  -9223372036854775808..9223372036854775807  all\nSELECT ?")
	f.Add("-- Parameters:\n--   1. a  date  1..2  d\nSELECT ?")
	f.Add("-- Parameters:\n--   1. a  bigint  5..1  d\n--   2. a\nSELECT ?, ?")
	f.Fuzz(func(t *testing.T, sql string) {
		q, err := ParseQuery("q", sql)
		if err != nil {
			return
		}
		if len(q.Params) != strings.Count(sql, "?") {
			t.Fatalf("%d parameters for %d question marks", len(q.Params), strings.Count(sql, "?"))
		}
		first := map[string]Param{}
		for _, p := range q.Params {
			if !p.Kind.valid() || !nameRE.MatchString(p.Name) {
				t.Fatalf("parameter %+v", p)
			}
			if p.Kind == Bigint && p.Min > p.Max || p.Kind != Bigint && (p.Min != 0 || p.Max != 0) {
				t.Fatalf("range of %+v", p)
			}
			if f, ok := first[p.Name]; ok && f != p {
				t.Fatalf("repeat %+v differs from %+v", p, f)
			}
			first[p.Name] = p
		}
		inputs := q.Inputs()
		for _, edge := range []func(Param) int64{func(p Param) int64 { return p.Min }, func(p Param) int64 { return p.Max }} {
			values := make([]string, len(inputs))
			for i, p := range inputs {
				switch p.Kind {
				case Bigint:
					values[i] = strconv.FormatInt(edge(p), 10)
				case Date, Timestamp:
					values[i] = "2026-11-22"
				default:
					values[i] = "x"
				}
			}
			args, err := q.Args(values...)
			if err != nil {
				t.Fatalf("Args(%q): %v", values, err)
			}
			if err := q.Check(args); err != nil {
				t.Fatalf("Check(Args(%q)): %v", values, err)
			}
		}
	})
}
