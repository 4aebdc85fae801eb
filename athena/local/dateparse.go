package local

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"
)

// DuckDB's strptime needs a constant format, so a macro cannot translate
// Trino's MySQL specifiers before calling it; date_parse is a Go function
// registered with DuckDB instead.

// dateParseUDF is Trino's date_parse(varchar, varchar) -> timestamp.
type dateParseUDF struct{}

func (dateParseUDF) Config() duckdb.ScalarFuncConfig {
	varchar, _ := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	ts, _ := duckdb.NewTypeInfo(duckdb.TYPE_TIMESTAMP)
	return duckdb.ScalarFuncConfig{InputTypeInfos: []duckdb.TypeInfo{varchar, varchar}, ResultTypeInfo: ts}
}

func (dateParseUDF) Executor() duckdb.ScalarFuncExecutor {
	return duckdb.ScalarFuncExecutor{RowExecutor: func(values []driver.Value) (any, error) {
		s, _ := values[0].(string)
		f, _ := values[1].(string)
		return DateParse(s, f)
	}}
}

func registerUDFs(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("duckdb connection: %w", err)
	}
	defer conn.Close()
	if err := duckdb.RegisterScalarUDF(conn, "date_parse", &dateParseUDF{}); err != nil {
		return fmt.Errorf("register date_parse: %w", err)
	}
	return nil
}

// DateParse parses s with a Trino (MySQL) date_parse format, as Trino does:
// %Y year, %y two-digit year (70-99 are 19xx), %m %c month, %d %e day,
// %H %k hour, %h %I %l 12-hour hour with %p AM/PM, %i minutes, %s %S seconds,
// %f fraction (up to 9 digits), %j day of year, %b %M month names, %a %W weekday
// names (read, not checked), %T = %H:%i:%s, %r = %h:%i:%s %p, %% a percent
// sign; other characters must match themselves. The result is UTC. It fails
// when s does not match f in full.
func DateParse(s, f string) (time.Time, error) {
	p := dateParser{in: s}
	year, month, day := 1970, 1, 1
	hour, minute, second, nanos := 0, 0, 0, 0
	yday := 0
	pm, twelve := false, false
	for i := 0; i < len(f); i++ {
		c := f[i]
		if c != '%' {
			if !p.literal(c) {
				return time.Time{}, p.fail(f)
			}
			continue
		}
		i++
		if i == len(f) {
			return time.Time{}, fmt.Errorf("date_parse: format %q ends with %%", f)
		}
		var ok bool
		switch f[i] {
		case 'Y':
			year, ok = p.number(4, 4)
		case 'y':
			year, ok = p.number(2, 2)
			if year < 70 {
				year += 2000
			} else {
				year += 1900
			}
		case 'm', 'c':
			month, ok = p.number(1, 2)
		case 'd', 'e':
			day, ok = p.number(1, 2)
		case 'H', 'k':
			hour, ok = p.number(1, 2)
		case 'h', 'I', 'l':
			hour, ok = p.number(1, 2)
			twelve = true
		case 'i':
			minute, ok = p.number(1, 2)
		case 's', 'S':
			second, ok = p.number(1, 2)
		case 'f':
			start := p.pos
			var n int
			n, ok = p.number(1, 9)
			for d := p.pos - start; ok && d < 9; d++ {
				n *= 10
			}
			nanos = n
		case 'j':
			yday, ok = p.number(1, 3)
		case 'p':
			var v int
			v, ok = p.word([]string{"AM", "PM"})
			pm = v == 1
		case 'b':
			var v int
			v, ok = p.word(shortMonths)
			month = v + 1
		case 'M':
			var v int
			v, ok = p.word(longMonths)
			month = v + 1
		case 'a':
			_, ok = p.word(shortDays)
		case 'W':
			_, ok = p.word(longDays)
		case 'T':
			hour, ok = p.number(1, 2)
			ok = ok && p.literal(':')
			if ok {
				minute, ok = p.number(1, 2)
			}
			ok = ok && p.literal(':')
			if ok {
				second, ok = p.number(1, 2)
			}
		case 'r':
			hour, ok = p.number(1, 2)
			twelve = true
			ok = ok && p.literal(':')
			if ok {
				minute, ok = p.number(1, 2)
			}
			ok = ok && p.literal(':')
			if ok {
				second, ok = p.number(1, 2)
			}
			ok = ok && p.literal(' ')
			if ok {
				var v int
				v, ok = p.word([]string{"AM", "PM"})
				pm = v == 1
			}
		case '%':
			ok = p.literal('%')
		default:
			return time.Time{}, fmt.Errorf("date_parse: format %q: unsupported specifier %%%c", f, f[i])
		}
		if !ok {
			return time.Time{}, p.fail(f)
		}
	}
	if p.pos != len(s) {
		return time.Time{}, p.fail(f)
	}
	if twelve {
		if hour < 1 || hour > 12 {
			return time.Time{}, fmt.Errorf("date_parse: %q: hour %d out of range 1-12", s, hour)
		}
		hour %= 12
		if pm {
			hour += 12
		}
	}
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59 {
		return time.Time{}, fmt.Errorf("date_parse: %q: a field is out of range", s)
	}
	t := time.Date(year, time.Month(month), day, hour, minute, second, nanos, time.UTC)
	if t.Day() != day {
		return time.Time{}, fmt.Errorf("date_parse: %q: day %d does not exist in %d-%02d", s, day, year, month)
	}
	if yday > 0 {
		t = time.Date(year, 1, yday, hour, minute, second, nanos, time.UTC)
		if t.Year() != year {
			return time.Time{}, fmt.Errorf("date_parse: %q: day of year %d out of range", s, yday)
		}
	}
	return t, nil
}

var (
	shortMonths = []string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}
	longMonths  = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	shortDays   = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}
	longDays    = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
)

type dateParser struct {
	in  string
	pos int
}

func (p *dateParser) fail(f string) error {
	return fmt.Errorf("date_parse: invalid format: %q is malformed at %q (format %q)", p.in, p.in[p.pos:], f)
}

func (p *dateParser) literal(c byte) bool {
	if p.pos < len(p.in) && p.in[p.pos] == c {
		p.pos++
		return true
	}
	return false
}

// number reads between min and max decimal digits.
func (p *dateParser) number(min, max int) (int, bool) {
	n, d := 0, 0
	for d < max && p.pos < len(p.in) && p.in[p.pos] >= '0' && p.in[p.pos] <= '9' {
		n = n*10 + int(p.in[p.pos]-'0')
		p.pos++
		d++
	}
	return n, d >= min
}

// word reads one of words, case-insensitively, and returns its index.
func (p *dateParser) word(words []string) (int, bool) {
	for i, w := range words {
		if len(p.in)-p.pos >= len(w) && strings.EqualFold(p.in[p.pos:p.pos+len(w)], w) {
			p.pos += len(w)
			return i, true
		}
	}
	return 0, false
}
