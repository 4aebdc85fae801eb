package athena

import (
	"database/sql"
	"math"
	"strings"
	"testing"
)

func sampleResult() *Result {
	v := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
	return &Result{
		Columns: []Column{{"day", "varchar"}, {"logins", "bigint"}, {"note", "varchar"}},
		Rows: [][]sql.NullString{
			{v("2026-11-21"), v("7"), v("a, \"quoted\"\nline")},
			{v("2026-11-22"), v("1234"), {}},
		},
	}
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	if err := sampleResult().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `day        | logins | note
-----------+--------+-----------------
2026-11-21 |      7 | a, "quoted" line
2026-11-22 |   1234 | NULL
(2 rows)
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestWriteCSV(t *testing.T) {
	var b strings.Builder
	if err := sampleResult().WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := "day,logins,note\n2026-11-21,7,\"a, \"\"quoted\"\"\nline\"\n2026-11-22,1234,\n"
	if b.String() != want {
		t.Errorf("csv %q, want %q", b.String(), want)
	}
}

func TestCost(t *testing.T) {
	tests := []struct {
		bytes int64
		want  float64
	}{
		{0, 10 * (1 << 20) / 1e12 * 5},
		{10<<20 + 1, 11 * (1 << 20) / 1e12 * 5},
		{1e12, float64(((int64(1e12)+(1<<20)-1)>>20)<<20) / 1e12 * 5},
	}
	for _, tt := range tests {
		if got := Cost(tt.bytes); math.Abs(got-tt.want) > 1e-15 {
			t.Errorf("Cost(%d) = %v, want %v", tt.bytes, got, tt.want)
		}
	}
	s := Stats{Engine: "athena", QueryID: "q-1", BytesScanned: 3 << 20}.Summary()
	if !strings.Contains(s, "data scanned: 3.0 MiB") || !strings.Contains(s, "cost: $0.000052") || !strings.Contains(s, "q-1") {
		t.Errorf("summary %q", s)
	}
	if s := (Stats{Engine: "duckdb", BytesScanned: 2048, FilesRead: 3}).Summary(); !strings.Contains(s, "2.0 KiB from 3 files") {
		t.Errorf("local summary %q", s)
	}
}
