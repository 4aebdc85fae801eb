package local

import (
	"context"
	"strings"
	"testing"
	"time"
)

// TestMacros checks each Trino function the macros provide against the
// values the Trino documentation gives (docs/functions/datetime, regexp,
// json, map, aggregate), and the MySQL date_format examples that Trino's
// specifiers follow. Inputs are written as DuckDB literals; results are
// rendered as Athena renders them.
func TestMacros(t *testing.T) {
	db := openEmpty(t)
	tests := []struct {
		macro, expr, want string
	}{
		// from_iso8601_timestamp / from_iso8601_date / to_iso8601
		{"from_iso8601_timestamp", "from_iso8601_timestamp('2020-05-11T11:15:05.055+01:00')", "2020-05-11 10:15:05.055 UTC"},
		{"from_iso8601_timestamp", "from_iso8601_timestamp('2020-05-11T11:15:05')", "2020-05-11 11:15:05.000 UTC"},
		{"from_iso8601_timestamp", "from_iso8601_timestamp('2026-11-22T10:04:05.123Z')", "2026-11-22 10:04:05.123 UTC"},
		{"from_iso8601_timestamp", "from_iso8601_timestamp('2026-11-22')", "2026-11-22 00:00:00.000 UTC"},
		{"from_iso8601_date", "from_iso8601_date('2020-05-11')", "2020-05-11"},
		{"to_iso8601", "to_iso8601(from_iso8601_timestamp('2020-03-01T00:00:00.123+01:00'))", "2020-02-29T23:00:00.123Z"},
		{"to_iso8601", "to_iso8601(DATE '2020-03-01')", "2020-03-01"},
		{"to_iso8601", "to_iso8601(TIMESTAMP '2020-03-01 10:20:30.5')", "2020-03-01T10:20:30.500"},
		// date_format: Trino's example, then MySQL's DATE_FORMAT examples
		// restricted to the specifiers Trino supports.
		{"date_format", "date_format(TIMESTAMP '2022-10-20 05:10:00', '%m-%d-%Y %H')", "10-20-2022 05"},
		{"date_format", "date_format(TIMESTAMP '2009-10-04 22:23:00', '%W %M %Y')", "Sunday October 2009"},
		{"date_format", "date_format(TIMESTAMP '2007-10-04 22:23:00', '%H:%i:%s')", "22:23:00"},
		{"date_format", "date_format(TIMESTAMP '1997-10-04 22:23:00', '%H %k %I %r %T %S')", "22 22 10 10:23:00 PM 22:23:00 00"},
		{"date_format", "date_format(TIMESTAMP '2006-06-01 08:05:09', '%c/%e %l:%i %p %a %b %j %y')", "6/1 8:05 AM Thu Jun 152 06"},
		{"date_format", "date_format(TIMESTAMP '2001-08-22 03:04:05.321', '%Y-%m-%d %H:%i:%s.%f')", "2001-08-22 03:04:05.321000"},
		{"date_format", "date_format(DATE '2026-11-22', '%Y-%m-%d')", "2026-11-22"},
		{"date_format", "date_format(TIMESTAMP '2026-01-01 00:00:00', '100%% %Y')", "100% 2026"},
		{"date_format", "date_format(from_iso8601_timestamp('2026-11-22T00:30:00+01:00'), '%Y-%m-%d %H:%i')", "2026-11-21 23:30"},
		// date_parse (a Go function; see dateparse.go)
		{"date_parse", "date_parse('2022/10/20/05', '%Y/%m/%d/%H')", "2022-10-20 05:00:00.000"},
		{"date_parse", "date_parse('2013-05-17 12:35:10', '%Y-%m-%d %H:%i:%s')", "2013-05-17 12:35:10.000"},
		// date_add: Trino's examples.
		{"date_add", "date_add('second', 86, TIMESTAMP '2020-03-01 00:00:00')", "2020-03-01 00:01:26.000"},
		{"date_add", "date_add('hour', 9, TIMESTAMP '2020-03-01 00:00:00')", "2020-03-01 09:00:00.000"},
		{"date_add", "date_add('day', -1, TIMESTAMPTZ '2020-03-01 00:00:00+00')", "2020-02-29 00:00:00.000 UTC"},
		{"date_add", "date_add('month', 1, TIMESTAMP '2026-01-31 12:00:00')", "2026-02-28 12:00:00.000"},
		{"date_add", "date_add('millisecond', 1, TIMESTAMP '2026-01-31 23:59:59.999')", "2026-02-01 00:00:00.000"},
		{"date_add", "date_add('quarter', 1, TIMESTAMP '2026-01-15 00:00:00')", "2026-04-15 00:00:00.000"},
		{"date_add", "date_add('year', -1, TIMESTAMP '2024-02-29 00:00:00')", "2023-02-28 00:00:00.000"},
		{"date_add", "date_format(date_add('day', -6, DATE '2026-03-02'), '%Y-%m-%d')", "2026-02-24"},
		// date_diff: Trino's examples, and whole units (not boundaries).
		{"date_diff", "date_diff('second', TIMESTAMP '2020-03-01 00:00:00', TIMESTAMP '2020-03-02 00:00:00')", "86400"},
		{"date_diff", "date_diff('hour', TIMESTAMPTZ '2020-03-01 00:00:00+00', TIMESTAMPTZ '2020-03-02 00:00:00+00')", "24"},
		{"date_diff", "date_diff('day', DATE '2020-03-01', DATE '2020-03-02')", "1"},
		{"date_diff", "date_diff('second', TIMESTAMP '2020-06-01 12:30:45.000000', TIMESTAMP '2020-06-02 12:30:45.123456')", "86400"},
		{"date_diff", "date_diff('millisecond', TIMESTAMP '2020-06-01 12:30:45.000000', TIMESTAMP '2020-06-02 12:30:45.123456')", "86400123"},
		{"date_diff", "date_diff('day', TIMESTAMP '2026-01-01 23:00:00', TIMESTAMP '2026-01-02 01:00:00')", "0"},
		{"date_diff", "date_diff('day', DATE '2020-03-02', DATE '2020-03-01')", "-1"},
		// date_trunc is DuckDB's own, with Trino's results (the table in
		// Trino's docs for 2001-08-22 03:04:05.321).
		{"date_trunc", "date_trunc('second', TIMESTAMP '2001-08-22 03:04:05.321')", "2001-08-22 03:04:05.000"},
		{"date_trunc", "date_trunc('minute', TIMESTAMP '2001-08-22 03:04:05.321')", "2001-08-22 03:04:00.000"},
		{"date_trunc", "date_trunc('hour', TIMESTAMP '2001-08-22 03:04:05.321')", "2001-08-22 03:00:00.000"},
		{"date_trunc", "date_trunc('day', TIMESTAMP '2001-08-22 03:04:05.321')", "2001-08-22 00:00:00.000"},
		{"date_trunc", "date_trunc('week', TIMESTAMP '2001-08-22 03:04:05.321')", "2001-08-20 00:00:00.000"},
		{"date_trunc", "date_trunc('month', TIMESTAMP '2001-08-22 03:04:05.321')", "2001-08-01 00:00:00.000"},
		{"date_trunc", "date_trunc('quarter', TIMESTAMP '2001-08-22 03:04:05.321')", "2001-07-01 00:00:00.000"},
		{"date_trunc", "date_trunc('year', TIMESTAMP '2001-08-22 03:04:05.321')", "2001-01-01 00:00:00.000"},
		// approx_distinct: exact for small sets in both engines.
		{"approx_distinct", "(SELECT approx_distinct(x) FROM (VALUES (1), (2), (2), (3), (NULL)) AS t (x))", "3"},
		// regexp_like / regexp_extract: Trino's examples.
		{"regexp_like", "regexp_like('1a 2b 14m', '\\d+b')", "true"},
		{"regexp_like", "regexp_like('1a 2b 14m', '^\\d+b')", "false"},
		{"regexp_extract", "regexp_extract('1a 2b 14m', '\\d+')", "1"},
		{"regexp_extract", "regexp_extract('1a 2b 14m', '(\\d+)([a-z]+)', 2)", "a"},
		{"regexp_extract", "regexp_extract('abc', '\\d+')", "NULL"},
		{"regexp_extract", "regexp_extract('abc', '(\\d+)', 1)", "NULL"},
		// json_extract_scalar: Trino's examples; non-scalars are NULL.
		{"json_extract_scalar", "json_extract_scalar('[1, 2, 3]', '$[2]')", "3"},
		{"json_extract_scalar", `json_extract_scalar('{"store": {"book": [{"author": "Nigel Rees"}]}}', '$.store.book[0].author')`, "Nigel Rees"},
		{"json_extract_scalar", `json_extract_scalar('{"a": {"b": 1}}', '$.a')`, "NULL"},
		{"json_extract_scalar", `json_extract_scalar('{"a": [1]}', '$.a')`, "NULL"},
		{"json_extract_scalar", `json_extract_scalar('{"a": true}', '$.a')`, "true"},
		{"json_extract_scalar", `json_extract_scalar('{"a": 1}', '$.b')`, "NULL"},
		// element_at: a missing key is NULL; arrays are 1-based, negative
		// from the end.
		{"element_at", "element_at(MAP {'referrer': 'x'}, 'referrer')", "x"},
		{"element_at", "element_at(MAP {'referrer': 'x'}, 'campaign')", "NULL"},
		{"element_at", "element_at(CAST(NULL AS MAP(VARCHAR, VARCHAR)), 'campaign')", "NULL"},
		{"element_at", "element_at([1, 2, 3], 2)", "2"},
		{"element_at", "element_at([1, 2, 3], -1)", "3"},
		// url_extract_host: the cases of Trino's TestUrlFunctions and the
		// invalid URIs of its documentation.
		{"url_extract_host", "url_extract_host('http://example.com/path1/p.php?k1=v1&k2=v2#Ref1')", "example.com"},
		{"url_extract_host", "url_extract_host('http://example.com/path1/p.php?')", "example.com"},
		{"url_extract_host", "url_extract_host('http://example.com/path1/p.php')", "example.com"},
		{"url_extract_host", "url_extract_host('http://example.com:8080/path1/p.php?k1=v1&k2=v2#Ref1')", "example.com"},
		{"url_extract_host", "url_extract_host('https://username@example.com')", "example.com"},
		{"url_extract_host", "url_extract_host('https://username:password@example.com')", "example.com"},
		{"url_extract_host", "url_extract_host('mailto:test@example.com')", ""},
		{"url_extract_host", "url_extract_host('foo')", ""},
		{"url_extract_host", "url_extract_host('http://example.com/^')", "NULL"},
		{"url_extract_host", "url_extract_host('http://www.foo.com ')", "NULL"},
		{"url_extract_host", "url_extract_host('https://www.ucu.edu.uy/agenda/evento/%%UCUrlCompartir%%')", "NULL"},
		{"url_extract_host", "url_extract_host('https://app.example.com/pricing?utm_source=a%20b')", "app.example.com"},
		{"url_extract_host", "url_extract_host('//cdn.example.com/x.js')", "cdn.example.com"},
		{"url_extract_host", "url_extract_host('http://[2001:db8::1]:8080/')", "[2001:db8::1]"},
		{"url_extract_host", "url_extract_host(NULL)", "NULL"},
		// array_join: NULL elements are left out (Trino's documentation).
		{"array_join", "array_join(['a', NULL, 'b'], ', ')", "a, b"},
		{"array_join", "array_join(CAST([] AS VARCHAR[]), ', ')", ""},
		{"array_join", "array_join(['x'], '|')", "x"},
		// Decimals render with every digit of their scale, as Athena
		// returns them.
		{"decimal", "CAST(3.5 AS DECIMAL(5,2))", "3.50"},
		{"decimal", "CAST(7 AS BIGINT) * 0.01", "0.07"},
		{"decimal", "CAST(-1234 AS BIGINT) * 0.01", "-12.34"},
		{"decimal", "CAST(0 AS DECIMAL(4,1))", "0.0"},
		// Session: Trino's integer division.
		{"integer division", "7 / 2", "3"},
		{"integer division", "-7 / 2", "-3"},
	}
	for _, tt := range tests {
		t.Run(tt.macro+"/"+tt.expr, func(t *testing.T) {
			res, err := db.Query(context.Background(), "SELECT "+tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			got := "NULL"
			if v := res.Rows[0][0]; v.Valid {
				got = v.String
			}
			if got != tt.want {
				t.Errorf("%s = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}
}

// TestCurrentDateIsUTC checks the session time zone: current_date is the UTC
// day, as on Athena.
func TestCurrentDateIsUTC(t *testing.T) {
	db := openEmpty(t)
	before := time.Now().UTC().Format("2006-01-02")
	res, err := db.Query(context.Background(), "SELECT date_format(current_date, '%Y-%m-%d'), current_setting('TimeZone')")
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now().UTC().Format("2006-01-02")
	if got := res.Rows[0][0].String; got != before && got != after {
		t.Errorf("current_date %s, UTC today %s", got, before)
	}
	if tz := res.Rows[0][1].String; tz != "UTC" {
		t.Errorf("TimeZone %q", tz)
	}
}

func TestDateParseErrors(t *testing.T) {
	db := openEmpty(t)
	for _, expr := range []string{
		"date_parse('2022/10/20', '%Y-%m-%d')",
		"date_parse('2022-02-30', '%Y-%m-%d')",
		"date_parse('2022-10-20 extra', '%Y-%m-%d')",
	} {
		if _, err := db.Query(context.Background(), "SELECT "+expr); err == nil || !strings.Contains(err.Error(), "date_parse") {
			t.Errorf("%s: error %v, want a date_parse error", expr, err)
		}
	}
}

func openEmpty(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), Config{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
