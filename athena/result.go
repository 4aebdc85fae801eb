package athena

import (
	"context"
	"database/sql"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// Runner runs a query of the library with checked arguments (Query.Args).
// remote.Runner runs it on Athena, local.DB on DuckDB over a folder.
type Runner interface {
	Run(ctx context.Context, q Query, args []Arg) (*Result, error)
}

// Column is a result column.
type Column struct {
	Name string
	// Type is the engine's type name, lower case: "varchar", "bigint", ...
	Type string
}

// Result is a query's rows with the statistics of its run. Values are text as
// Athena returns them; a NULL has Valid false.
type Result struct {
	Columns []Column
	Rows    [][]sql.NullString
	Stats   Stats
}

// Stats describes one run.
type Stats struct {
	// Engine is "athena" or "duckdb".
	Engine string
	// QueryID is Athena's query execution ID (empty locally).
	QueryID string
	// BytesScanned is what the engine read: Athena's DataScannedInBytes, or
	// the bytes DuckDB read from the files (-1: unknown).
	BytesScanned int64
	// FilesRead is the number of objects the local scans opened (0 for
	// Athena, which does not report it).
	FilesRead int
	// Elapsed is the wall time from submission to the last row.
	Elapsed time.Duration
}

// Athena pricing: $5 per TB scanned, at least 10 MB per query, rounded up to
// the next MB.
const (
	PricePerTB      = 5.0
	minBilledBytes  = 10 << 20
	billedIncrement = 1 << 20
)

// Cost returns what Athena charges for scanning n bytes at PricePerTB (TB =
// 10^12 bytes), after its 10 MB minimum and rounding up to whole MB.
func Cost(n int64) float64 {
	billed := max(n, minBilledBytes)
	billed = (billed + billedIncrement - 1) / billedIncrement * billedIncrement
	return float64(billed) / 1e12 * PricePerTB
}

// Summary is one line about the run: bytes scanned and, for Athena, the cost.
func (s Stats) Summary() string {
	switch s.Engine {
	case "athena":
		return fmt.Sprintf("data scanned: %s, cost: $%.6f (at $%.0f/TB, 10 MB minimum), query %s, %s",
			FormatBytes(s.BytesScanned), Cost(s.BytesScanned), PricePerTB, s.QueryID, s.Elapsed.Round(time.Millisecond))
	default:
		read := "unknown"
		if s.BytesScanned >= 0 {
			read = FormatBytes(s.BytesScanned)
		}
		return fmt.Sprintf("data read: %s from %d file%s (%s, local), %s",
			read, s.FilesRead, plural(s.FilesRead), s.Engine, s.Elapsed.Round(time.Millisecond))
	}
}

// FormatBytes renders n in binary units: "512 B", "1.5 KiB", "12.3 MiB".
func FormatBytes(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	v := float64(n)
	i := -1
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", math.Round(v*10)/10, units[i])
}

// nullText is how WriteTable shows NULL, as the Trino CLI does.
const nullText = "NULL"

// WriteTable writes the rows as an aligned text table with a header and a
// separator line; numeric columns are right-aligned.
func (r *Result) WriteTable(w io.Writer) error {
	widths := make([]int, len(r.Columns))
	for i, c := range r.Columns {
		widths[i] = utf8.RuneCountInString(c.Name)
	}
	cell := func(v sql.NullString) string {
		if !v.Valid {
			return nullText
		}
		return strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == '\t' {
				return ' '
			}
			return r
		}, v.String)
	}
	for _, row := range r.Rows {
		for i := range r.Columns {
			if i < len(row) {
				widths[i] = max(widths[i], utf8.RuneCountInString(cell(row[i])))
			}
		}
	}
	var b strings.Builder
	line := func(vals []string) {
		for i, v := range vals {
			if i > 0 {
				b.WriteString(" | ")
			}
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(v))
			if numeric(r.Columns[i].Type) {
				b.WriteString(pad + v)
			} else if i == len(vals)-1 {
				b.WriteString(v)
			} else {
				b.WriteString(v + pad)
			}
		}
		b.WriteString("\n")
	}
	names := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		names[i] = c.Name
	}
	line(names)
	for i, wd := range widths {
		if i > 0 {
			b.WriteString("-+-")
		}
		b.WriteString(strings.Repeat("-", wd))
	}
	b.WriteString("\n")
	for _, row := range r.Rows {
		vals := make([]string, len(r.Columns))
		for i := range vals {
			if i < len(row) {
				vals[i] = cell(row[i])
			}
		}
		line(vals)
	}
	fmt.Fprintf(&b, "(%d row%s)\n", len(r.Rows), plural(len(r.Rows)))
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCSV writes the rows as RFC 4180 CSV with a header line; NULL is an
// empty field.
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	names := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		names[i] = c.Name
	}
	if err := cw.Write(names); err != nil {
		return err
	}
	rec := make([]string, len(r.Columns))
	for _, row := range r.Rows {
		for i := range rec {
			rec[i] = ""
			if i < len(row) && row[i].Valid {
				rec[i] = row[i].String
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

func numeric(t string) bool {
	switch strings.ToLower(t) {
	case "tinyint", "smallint", "integer", "int", "bigint", "hugeint", "double", "real", "float", "decimal":
		return true
	}
	return strings.HasPrefix(strings.ToLower(t), "decimal(")
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
