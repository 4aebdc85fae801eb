package athena

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

//go:embed queries/*.sql
var queryFiles embed.FS

// Query is one named query of athena/queries.
type Query struct {
	// Name is the file name without .sql, for example "logins_per_day".
	Name string
	// Description is the header comment: what the query answers and its
	// parameters.
	Description string
	// SQL is the file's text, unchanged.
	SQL string
	// Params has one entry per "?" of SQL, in order, as the header's
	// "Parameters:" block declares them.
	Params []Param
}

// ErrUnknownQuery is returned by Lookup for a name with no query file.
var ErrUnknownQuery = errors.New("unknown query")

// Queries returns every query of athena/queries, sorted by name. It fails if
// a header's parameter block is malformed or does not match the number of "?"
// in the file.
func Queries() ([]Query, error) {
	entries, err := fs.Glob(queryFiles, "queries/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(entries)
	out := make([]Query, 0, len(entries))
	for _, p := range entries {
		b, err := queryFiles.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read query %s: %w", p, err)
		}
		q, err := ParseQuery(strings.TrimSuffix(path.Base(p), ".sql"), string(b))
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// Lookup returns the query called name. The error wraps ErrUnknownQuery when
// there is none.
func Lookup(name string) (Query, error) {
	qs, err := Queries()
	if err != nil {
		return Query{}, err
	}
	for _, q := range qs {
		if q.Name == name {
			return q, nil
		}
	}
	return Query{}, fmt.Errorf("%w %q", ErrUnknownQuery, name)
}

// ParseQuery reads a query file's text. The header is the leading block of
// "--" lines. It holds a "Parameters:" line, either "Parameters: none." or
// followed by one line per "?" in order:
//
//	--   1. from_day  date       first UTC day
//	--   2. to_day    date       last UTC day, inclusive
//	--   3. from_day
//	--   4. days      bigint  1..3650  days without any event
//
// A numbered line that names an earlier parameter and nothing else declares
// another "?" with the same value. Kinds are date, timestamp, varchar and
// bigint (see Kind). A bigint may declare its inclusive range MIN..MAX
// before its description; without one it is DefaultBigintMin to
// DefaultBigintMax. Question marks may appear nowhere else in the file, not
// even in comments, so that counting them counts the parameters exactly as
// Athena's console does.
func ParseQuery(name, sql string) (Query, error) {
	q := Query{Name: name, SQL: sql, Description: headerComment(sql)}
	params, err := parseParams(q.Description)
	if err != nil {
		return Query{}, fmt.Errorf("query %s: %w", name, err)
	}
	q.Params = params
	if n := strings.Count(sql, "?"); n != len(params) {
		return Query{}, fmt.Errorf("query %s: the header declares %d parameter(s) but the text has %d question mark(s)", name, len(params), n)
	}
	return q, nil
}

// headerComment returns the leading "--" comment lines without the markers.
func headerComment(sql string) string {
	var lines []string
	for _, l := range strings.Split(sql, "\n") {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "--") {
			break
		}
		lines = append(lines, strings.TrimRight(strings.TrimPrefix(strings.TrimPrefix(t, "--"), " "), " \t\r"))
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}

var (
	paramLine = regexp.MustCompile(`^\s*(\d+)\.\s+([a-z][a-z0-9_]*)(?:\s+([a-z]+)(?:\s+(-?\d+)\.\.(-?\d+))?\s+(.*\S))?\s*$`)
	nameRE    = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// parseParams reads the "Parameters:" block of a header.
func parseParams(header string) ([]Param, error) {
	lines := strings.Split(header, "\n")
	start := -1
	for i, l := range lines {
		if strings.HasPrefix(l, "Parameters:") {
			if start >= 0 {
				return nil, errors.New(`the header has two "Parameters:" lines`)
			}
			start = i
		}
	}
	if start < 0 {
		return nil, errors.New(`the header has no "Parameters:" line`)
	}
	if rest := strings.TrimSpace(strings.TrimPrefix(lines[start], "Parameters:")); rest != "" {
		if rest == "none." {
			return nil, nil
		}
		return nil, fmt.Errorf("unexpected text after Parameters: %q", rest)
	}
	var params []Param
	byName := map[string]Param{}
	for _, l := range lines[start+1:] {
		if strings.TrimSpace(l) == "" {
			break
		}
		if !strings.HasPrefix(l, "  ") {
			// Not indented: the parameter block has ended.
			break
		}
		m := paramLine.FindStringSubmatch(l)
		if m == nil {
			if len(params) > 0 && strings.HasPrefix(l, "    ") {
				// Continuation of the previous parameter's doc.
				p := &params[len(params)-1]
				p.Doc += " " + strings.TrimSpace(l)
				byName[p.Name] = *p
				continue
			}
			return nil, fmt.Errorf("malformed parameter line %q", l)
		}
		n, _ := strconv.Atoi(m[1])
		if n != len(params)+1 {
			return nil, fmt.Errorf("parameter line %q: expected number %d", l, len(params)+1)
		}
		name := m[2]
		if m[3] == "" {
			prev, ok := byName[name]
			if !ok {
				return nil, fmt.Errorf("parameter %d (%s) repeats a parameter that was not declared before", n, name)
			}
			params = append(params, prev)
			continue
		}
		if _, dup := byName[name]; dup {
			return nil, fmt.Errorf("parameter %d (%s) is declared twice; repeat it by name alone", n, name)
		}
		kind := Kind(m[3])
		if !kind.valid() || !nameRE.MatchString(name) {
			return nil, fmt.Errorf("parameter %d (%s): unknown kind %q (want date, timestamp, varchar or bigint)", n, name, m[3])
		}
		p := Param{Name: name, Kind: kind, Doc: m[6]}
		if kind == Bigint {
			p.Min, p.Max = DefaultBigintMin, DefaultBigintMax
		}
		if m[4] != "" {
			if kind != Bigint {
				return nil, fmt.Errorf("parameter %d (%s): a range %s..%s applies to bigint parameters only", n, name, m[4], m[5])
			}
			lo, err1 := strconv.ParseInt(m[4], 10, 64)
			hi, err2 := strconv.ParseInt(m[5], 10, 64)
			if err1 != nil || err2 != nil || lo > hi {
				return nil, fmt.Errorf("parameter %d (%s): range %s..%s is not MIN..MAX with 64-bit integers, MIN <= MAX", n, name, m[4], m[5])
			}
			p.Min, p.Max = lo, hi
		}
		byName[name] = p
		params = append(params, p)
	}
	if len(params) == 0 {
		return nil, errors.New(`"Parameters:" lists no parameter; write "Parameters: none."`)
	}
	// The continuation lines above may have extended a doc after it was
	// copied into a repeat; refresh the repeats.
	for i := range params {
		params[i] = byName[params[i].Name]
	}
	return params, nil
}
