package api

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/tracker"
)

// Request parameters that are not query parameters.
const (
	// ParamFormat selects the answer's format: json (the default) or csv.
	ParamFormat = "format"
	// ParamMaxAge is the oldest result, in seconds, the caller accepts:
	// 0 to Config.MaxAge; 0 asks for a fresh run.
	ParamMaxAge = "max_age"
	// ParamRows shapes the JSON rows: arrays (the default) or objects.
	ParamRows = "rows"
)

var reserved = []string{ParamFormat, ParamMaxAge, ParamRows}

// example returns the example a parameter's header gives ("e.g. '2026-11-22'"
// gives 2026-11-22), or "".
func example(p athena.Param) string {
	m := exampleRE.FindStringSubmatch(p.Doc)
	if m == nil {
		return ""
	}
	return m[1]
}

var exampleRE = regexp.MustCompile(`e\.g\. '?([^' ,;]+)'?`)

// defaultValue returns the value a parameter takes when a request leaves
// it out, at now, or "" when it has none (the request must give it):
//
//   - dates: to_day, as_of and other days: today (UTC); from_day and since:
//     29 days before today, so that the default window is the last 30 days;
//   - timestamps: at: the start of the current hour (the last full hour is
//     the one before); from and since: midnight 29 days before today; to:
//     midnight tomorrow;
//   - bigints: the example of the query's header (30 days, 4 networks);
//   - varchar (a user ID): none.
func defaultValue(p athena.Param, now time.Time) string {
	today := now.UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -29)
	switch p.Kind {
	case athena.Date:
		if p.Name == "from_day" || p.Name == "since" || p.Name == "from" {
			return first.Format(tracker.DateLayout)
		}
		return today.Format(tracker.DateLayout)
	case athena.Timestamp:
		switch p.Name {
		case "from", "since", "from_day":
			return first.Format(time.RFC3339)
		case "to", "to_day":
			return today.AddDate(0, 0, 1).Format(time.RFC3339)
		default:
			return now.UTC().Truncate(time.Hour).Format(time.RFC3339)
		}
	case athena.Bigint:
		if ex := example(p); ex != "" {
			if n, err := strconv.ParseInt(ex, 10, 64); err == nil && n >= p.Min && n <= p.Max {
				return ex
			}
		}
	}
	return ""
}

// ParamValue is one of a query's parameters as a request resolved it.
type ParamValue struct {
	Name  string
	Value string
	// Default is true when the request left the parameter out.
	Default bool
}

// resolve turns a request's values into the query's arguments: each input
// of the query from values or its default, checked by Query.Args. Keys that
// are neither inputs nor reserved, inputs given twice or missing without a
// default, and bad values are all reported in one *athena.ArgError.
func resolve(q athena.Query, values url.Values, now time.Time) ([]athena.Arg, []ParamValue, error) {
	inputs := q.Inputs()
	verr := &athena.ArgError{Query: q.Name}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if slices.Contains(reserved, k) {
			continue
		}
		if !slices.ContainsFunc(inputs, func(p athena.Param) bool { return p.Name == k }) {
			verr.Problems = append(verr.Problems, fmt.Sprintf("%s: unknown parameter; %s", printable(k), takes(q)))
		}
	}
	vals := make([]string, len(inputs))
	params := make([]ParamValue, len(inputs))
	reported := map[string]bool{}
	for i, p := range inputs {
		given := values[p.Name]
		switch {
		case len(given) > 1:
			verr.Problems = append(verr.Problems, fmt.Sprintf("%s (%s): given %d times", p.Name, p.Kind, len(given)))
			reported[p.Name] = true
			vals[i] = given[0]
		case len(given) == 1:
			vals[i] = given[0]
			params[i] = ParamValue{Name: p.Name, Value: given[0]}
		default:
			d := defaultValue(p, now)
			if d == "" {
				verr.Problems = append(verr.Problems, fmt.Sprintf("%s (%s): required", p.Name, p.Kind))
				reported[p.Name] = true
			}
			vals[i] = d
			params[i] = ParamValue{Name: p.Name, Value: d, Default: true}
		}
	}
	// The values are checked even when the request has other problems, so
	// that one answer names every bad parameter.
	args, err := q.Args(vals...)
	var argErr *athena.ArgError
	if errors.As(err, &argErr) {
		for _, pr := range argErr.Problems {
			name, _, _ := strings.Cut(pr, " ")
			if !reported[name] {
				verr.Problems = append(verr.Problems, pr)
			}
		}
	} else if err != nil {
		return nil, nil, err
	}
	if len(verr.Problems) > 0 {
		return nil, nil, verr
	}
	// Args may have rewritten a value (epoch seconds to RFC 3339, a
	// bigint to its canonical form): report what runs.
	for i, p := range inputs {
		for _, a := range args {
			if a.Param.Name == p.Name {
				params[i].Value = a.Text
				break
			}
		}
	}
	return args, params, nil
}

func takes(q athena.Query) string {
	inputs := q.Inputs()
	if len(inputs) == 0 {
		return "the query takes none"
	}
	names := make([]string, len(inputs))
	for i, p := range inputs {
		names[i] = p.Name
	}
	return "the query takes " + strings.Join(names, ", ")
}

// printable shortens and quotes a client-supplied name for an error
// message when it is not a plain identifier.
func printable(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	if identRE.MatchString(s) {
		return s
	}
	return strconv.Quote(s)
}

var identRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)
