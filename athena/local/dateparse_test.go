package local

import (
	"context"
	"testing"
	"time"
)

func TestDateParse(t *testing.T) {
	tests := []struct {
		s, f string
		want time.Time
	}{
		{"2022/10/20/05", "%Y/%m/%d/%H", time.Date(2022, 10, 20, 5, 0, 0, 0, time.UTC)},
		{"2013-05-17 12:35:10", "%Y-%m-%d %H:%i:%s", time.Date(2013, 5, 17, 12, 35, 10, 0, time.UTC)},
		{"2013-05-17 12:35:10.123", "%Y-%m-%d %H:%i:%S.%f", time.Date(2013, 5, 17, 12, 35, 10, 123000000, time.UTC)},
		{"5/7/99 1:02 PM", "%c/%e/%y %l:%i %p", time.Date(1999, 5, 7, 13, 2, 0, 0, time.UTC)},
		{"12:00:00 AM", "%r", time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"Sunday October 04 2009 22:23:00", "%W %M %d %Y %T", time.Date(2009, 10, 4, 22, 23, 0, 0, time.UTC)},
		{"Thu, 01 jun 2006", "%a, %d %b %Y", time.Date(2006, 6, 1, 0, 0, 0, 0, time.UTC)},
		{"2024 060", "%Y %j", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)},
		{"100% 2026", "100%% %Y", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		got, err := DateParse(tt.s, tt.f)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("DateParse(%q, %q) = %v, %v; want %v", tt.s, tt.f, got, err, tt.want)
		}
	}
	for _, bad := range [][2]string{
		{"2022-10-20", "%Y/%m/%d"},
		{"2022-13-01", "%Y-%m-%d"},
		{"2022-02-29", "%Y-%m-%d"},
		{"13:00 PM", "%h:%i %p"},
		{"2022", "%Y%"},
		{"2022", "%Q"},
		{"2022-10-20x", "%Y-%m-%d"},
		{"2023 366", "%Y %j"},
	} {
		if _, err := DateParse(bad[0], bad[1]); err == nil {
			t.Errorf("DateParse(%q, %q) accepted", bad[0], bad[1])
		}
	}
}

// FuzzDateParse feeds arbitrary strings and formats: DateParse must return a
// UTC time or an error, never panic, and a zero-padded timestamp must format
// back to itself.
func FuzzDateParse(f *testing.F) {
	f.Add("2022/10/20/05", "%Y/%m/%d/%H")
	f.Add("12:00:00 AM", "%r")
	f.Add("", "%")
	f.Add("99", "%y%j%f")
	f.Add("2026-11-22 10:04:05", "%Y-%m-%d %H:%i:%s")
	f.Fuzz(func(t *testing.T, s, format string) {
		got, err := DateParse(s, format)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Errorf("DateParse(%q, %q) = %v, not UTC", s, format, got)
		}
		if format == "%Y-%m-%d %H:%i:%s" && len(s) == 19 {
			if back := got.Format("2006-01-02 15:04:05"); back != s {
				t.Errorf("DateParse(%q) = %v, formats back as %q", s, got, back)
			}
		}
	})
}

// TestDateParseOnEveryConnection checks that the Go function is registered
// for the database, not just the connection that registered it.
func TestDateParseOnEveryConnection(t *testing.T) {
	db := openEmpty(t)
	ctx := context.Background()
	var conns []any
	for range 3 {
		c, err := db.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var s string
		if err := c.QueryRowContext(ctx, "SELECT CAST(date_parse('2022/10/20', '%Y/%m/%d') AS VARCHAR)").Scan(&s); err != nil {
			t.Fatal(err)
		}
		if s != "2022-10-20 00:00:00" {
			t.Errorf("date_parse on connection %d = %q", len(conns), s)
		}
		conns = append(conns, c)
	}
}
