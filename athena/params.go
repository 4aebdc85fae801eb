package athena

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventlake/eventlake/tracker"
)

// Kind is the kind of a query parameter. Athena receives every execution
// parameter as the text of an SQL literal; the kind says which literal and
// what the value must look like.
type Kind string

// Parameter kinds. Date, Timestamp and Varchar values are passed to Athena as
// single-quoted varchar literals ('2026-11-22'); Bigint values as integer
// literals (7). The SQL converts them where it needs another type, so a value
// typed into the Athena console works the same way.
const (
	// Date is a UTC day, YYYY-MM-DD: '2026-11-22'.
	Date Kind = "date"
	// Timestamp is an ISO 8601 time with a zone, as from_iso8601_timestamp
	// reads it: '2026-11-22T10:00:00.000Z', '2026-11-22T11:00:00+01:00', a
	// day ('2026-11-22', midnight UTC), or Unix epoch seconds (1732269600),
	// which Args turns into '2024-11-22T10:00:00Z'.
	Timestamp Kind = "timestamp"
	// Varchar is any text: '42'.
	Varchar Kind = "varchar"
	// Bigint is a 64-bit integer within the parameter's range (Param.Min
	// and Param.Max): 7.
	Bigint Kind = "bigint"
)

// The range of a bigint parameter whose header declares none: a count
// (days, hours, rows) that is never negative and never near the engines'
// integer limits, so no value the checker accepts fails inside DuckDB or
// Athena (date_add with a day count beyond 32 bits does).
const (
	DefaultBigintMin = 0
	DefaultBigintMax = 1_000_000
)

// SQLType is the type of the literal Athena receives for a value of this kind.
func (k Kind) SQLType() string {
	if k == Bigint {
		return "bigint"
	}
	return "varchar"
}

func (k Kind) valid() bool {
	switch k {
	case Date, Timestamp, Varchar, Bigint:
		return true
	}
	return false
}

// Param is one "?" of a query, in order.
type Param struct {
	// Name identifies the parameter; a name that appears at several "?"
	// takes the same value at each.
	Name string
	// Kind says what the value looks like and which literal Athena receives.
	Kind Kind
	// Doc says what the parameter means.
	Doc string
	// Min and Max bound a Bigint value, inclusive: the range the header
	// declares ("days  bigint  1..3650  ..."), else DefaultBigintMin and
	// DefaultBigintMax. Both are zero for the other kinds.
	Min, Max int64
}

// Range returns "1..3650" for a Bigint parameter and "" for the others.
func (p Param) Range() string {
	if p.Kind != Bigint {
		return ""
	}
	return fmt.Sprintf("%d..%d", p.Min, p.Max)
}

// Arg is a checked value for one "?" of a query.
type Arg struct {
	Param Param
	// Text is the value as given (for Date, Varchar and ISO 8601
	// timestamps), RFC 3339 in UTC for a Timestamp given in epoch seconds,
	// or in canonical decimal form (for Bigint).
	Text string
	n    int64
}

// Literal returns the SQL literal Athena receives as the execution parameter:
// a single-quoted string with quotes doubled, or a decimal integer.
func (a Arg) Literal() string {
	if a.Param.Kind == Bigint {
		return a.Text
	}
	return "'" + strings.ReplaceAll(a.Text, "'", "''") + "'"
}

// Value returns the value to bind to the "?" with database/sql: int64 for
// Bigint, string otherwise.
func (a Arg) Value() any {
	if a.Param.Kind == Bigint {
		return a.n
	}
	return a.Text
}

// ErrInvalidArgs is matched (errors.Is) by every *ArgError.
var ErrInvalidArgs = errors.New("invalid query arguments")

// ArgError reports arguments that do not fit a query's parameters. Problems
// names each bad parameter.
type ArgError struct {
	Query    string
	Problems []string
}

func (e *ArgError) Error() string {
	return fmt.Sprintf("query %s: %s", e.Query, strings.Join(e.Problems, "; "))
}

// Is makes errors.Is(err, ErrInvalidArgs) hold.
func (e *ArgError) Is(target error) bool { return target == ErrInvalidArgs }

// Inputs returns the query's distinct parameters in order of first
// appearance: the values Args expects.
func (q Query) Inputs() []Param {
	var out []Param
	seen := map[string]bool{}
	for _, p := range q.Params {
		if !seen[p.Name] {
			seen[p.Name] = true
			out = append(out, p)
		}
	}
	return out
}

// Usage returns the inputs as "<name:kind> ..." for command-line help.
func (q Query) Usage() string {
	var b strings.Builder
	for i, p := range q.Inputs() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "<%s:%s>", p.Name, p.Kind)
	}
	return b.String()
}

// Args checks values, one per input (see Inputs) in order, and returns one
// Arg per "?" of the query. The error is an *ArgError naming every bad
// parameter: a value of the wrong form, a Bigint outside its range, a
// Timestamp outside years 0000-9999.
func (q Query) Args(values ...string) ([]Arg, error) {
	inputs := q.Inputs()
	verr := &ArgError{Query: q.Name}
	if len(values) != len(inputs) {
		verr.Problems = append(verr.Problems, fmt.Sprintf("takes %d argument(s) %s, got %d", len(inputs), q.Usage(), len(values)))
		return nil, verr
	}
	byName := make(map[string]Arg, len(inputs))
	for i, p := range inputs {
		a, err := checkArg(p, values[i])
		if err != nil {
			verr.Problems = append(verr.Problems, fmt.Sprintf("%s (%s): %v", p.Name, p.Kind, err))
			continue
		}
		byName[p.Name] = a
	}
	if len(verr.Problems) > 0 {
		return nil, verr
	}
	out := make([]Arg, len(q.Params))
	for i, p := range q.Params {
		out[i] = byName[p.Name]
	}
	return out, nil
}

// Check checks arguments built elsewhere than by Args, as the runners do
// before they send anything: one per "?" of the query, each for its
// parameter and within its range. The error is an *ArgError.
func (q Query) Check(args []Arg) error {
	verr := &ArgError{Query: q.Name}
	if len(args) != len(q.Params) {
		verr.Problems = append(verr.Problems, fmt.Sprintf("takes %d argument(s) (one per \"?\"), got %d", len(q.Params), len(args)))
		return verr
	}
	for i, a := range args {
		p := q.Params[i]
		if a.Param != p {
			verr.Problems = append(verr.Problems, fmt.Sprintf("argument %d is for %s (%s), not %s (%s)", i+1, a.Param.Name, a.Param.Kind, p.Name, p.Kind))
			continue
		}
		c, err := checkArg(p, a.Text)
		if err == nil && c != a {
			err = fmt.Errorf("%q was not checked by Args", a.Text)
		}
		if err != nil {
			verr.Problems = append(verr.Problems, fmt.Sprintf("%s (%s): %v", p.Name, p.Kind, err))
		}
	}
	if len(verr.Problems) > 0 {
		return verr
	}
	return nil
}

// maxArgBytes bounds a varchar argument; Athena's limit for one execution
// parameter is 1024 characters.
const maxArgBytes = 1024

func checkArg(p Param, v string) (Arg, error) {
	a := Arg{Param: p, Text: v}
	if !utf8.ValidString(v) {
		return a, errors.New("is not valid UTF-8")
	}
	if len(v) > maxArgBytes {
		return a, fmt.Errorf("is %d bytes, the limit is %d", len(v), maxArgBytes)
	}
	if strings.ContainsRune(v, 0) {
		return a, errors.New("contains a NUL character")
	}
	switch p.Kind {
	case Bigint:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return a, fmt.Errorf("%q is not an integer", v)
		}
		if err != nil || n < p.Min || n > p.Max {
			return a, fmt.Errorf("%s is outside %s", strings.TrimSpace(v), p.Range())
		}
		a.n, a.Text = n, strconv.FormatInt(n, 10)
	case Date:
		if _, err := time.Parse(tracker.DateLayout, v); err != nil {
			return a, fmt.Errorf("%q is not a day YYYY-MM-DD", v)
		}
	case Timestamp:
		t, err := ParseTimestamp(v)
		if err != nil {
			return a, err
		}
		if isDigits(v) {
			// Epoch seconds go to the engines as the ISO 8601 text they read.
			a.Text = t.Format(time.RFC3339)
		}
	case Varchar:
	default:
		return a, fmt.Errorf("unknown kind %q", p.Kind)
	}
	return a, nil
}

// ParseTimestamp parses a Timestamp argument: RFC 3339 with a zone
// ("2026-11-22T10:00:00Z", fractions allowed), a day "2026-11-22" (midnight
// UTC), or Unix epoch seconds ("1732269600", as seed 001's API takes them),
// from 0 to 253402300799 (9999-12-31T23:59:59Z). Args passes epoch seconds
// on as RFC 3339 text in UTC, the form that Athena's from_iso8601_timestamp
// and the local runner read alike.
func ParseTimestamp(v string) (time.Time, error) {
	if isDigits(v) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > maxEpochSeconds {
			hint := ""
			if len(v) >= 13 {
				hint = " (milliseconds? give seconds)"
			}
			return time.Time{}, fmt.Errorf("%s epoch seconds is after 9999-12-31T23:59:59Z (%d)%s", v, maxEpochSeconds, hint)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	if t, err := time.Parse(tracker.DateLayout, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time with a zone (2026-11-22T10:00:00Z), a day or epoch seconds", v)
	}
	return t, nil
}

// maxEpochSeconds is 9999-12-31T23:59:59Z, the last second RFC 3339 writes.
const maxEpochSeconds = 253402300799

// isDigits reports whether s is one or more ASCII digits.
func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
