package athena

import (
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
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
	// Reused is true when Athena answered with the result of an earlier run
	// of the same query (query result reuse): this run scanned nothing and
	// is not billed, and ComputedAt is the earlier run's.
	Reused bool
	// ComputedAt is when the run that computed the rows was submitted: this
	// run's, or for a reused result the earlier run's. Zero when the runner
	// does not know.
	ComputedAt time.Time
}

// Billed returns what Athena charges for the run: Cost of the bytes
// scanned, nothing for a reused result.
func (s Stats) Billed() float64 {
	if s.Reused {
		return 0
	}
	return Cost(s.BytesScanned)
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
		if s.Reused {
			return fmt.Sprintf("reused the result of an earlier run (computed %s): nothing scanned, cost: $0, query %s, %s",
				s.ComputedAt.UTC().Format(time.RFC3339), s.QueryID, s.Elapsed.Round(time.Millisecond))
		}
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

// TableOptions shapes WriteTableOptions's table. The zero value means every
// row, whole cells and a "(n rows)" footer.
type TableOptions struct {
	// Indent starts every line.
	Indent string
	// MaxRows, when positive, shows the first MaxRows rows only; the footer
	// then says how many were shown.
	MaxRows int
	// MaxCellWidth, when positive, shortens cells wider than this many
	// terminal columns; a shortened cell ends with "…".
	MaxCellWidth int
	// NoFooter leaves out the "(n rows)" line.
	NoFooter bool
}

// WriteTable writes the rows as an aligned text table for a terminal (see
// WriteTableOptions).
func (r *Result) WriteTable(w io.Writer) error { return r.WriteTableOptions(w, TableOptions{}) }

// WriteTableOptions writes the rows as an aligned text table with a header
// and a separator line; numeric columns are right-aligned. Every name and
// cell goes through TerminalText, so values from the data cannot act on the
// terminal, and columns are aligned by terminal width (DisplayWidth), so
// wide characters do not shift the columns after them. NULL shows as NULL.
func (r *Result) WriteTableOptions(w io.Writer, o TableOptions) error {
	rows := r.Rows
	if o.MaxRows > 0 && len(rows) > o.MaxRows {
		rows = rows[:o.MaxRows]
	}
	text := func(s string) string { return truncateWidth(TerminalText(s), o.MaxCellWidth) }
	names := make([]string, len(r.Columns))
	widths := make([]int, len(r.Columns))
	for i, c := range r.Columns {
		names[i] = text(c.Name)
		widths[i] = DisplayWidth(names[i])
	}
	cells := make([][]string, len(rows))
	for j, row := range rows {
		cells[j] = make([]string, len(r.Columns))
		for i := range r.Columns {
			v := ""
			switch {
			case i >= len(row):
			case !row[i].Valid:
				v = nullText
			default:
				v = text(row[i].String)
			}
			cells[j][i] = v
			widths[i] = max(widths[i], DisplayWidth(v))
		}
	}
	var b strings.Builder
	line := func(vals []string) {
		b.WriteString(o.Indent)
		for i, v := range vals {
			if i > 0 {
				b.WriteString(" | ")
			}
			pad := strings.Repeat(" ", widths[i]-DisplayWidth(v))
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
	line(names)
	b.WriteString(o.Indent)
	for i, wd := range widths {
		if i > 0 {
			b.WriteString("-+-")
		}
		b.WriteString(strings.Repeat("-", wd))
	}
	b.WriteString("\n")
	for _, vals := range cells {
		line(vals)
	}
	if !o.NoFooter {
		shown := ""
		if len(rows) < len(r.Rows) {
			shown = fmt.Sprintf(", %d shown", len(rows))
		}
		fmt.Fprintf(&b, "%s(%d row%s%s)\n", o.Indent, len(r.Rows), plural(len(r.Rows)), shown)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteCSV writes the rows as RFC 4180 CSV with a header line, safe to open
// in a spreadsheet: a cell that a spreadsheet would run as a formula (it
// starts with = + - @ TAB or CR, or a fullwidth = + - @) gets a leading
// single quote, as OWASP recommends, except a number in a numeric column
// ("-5" stays). NULL is an empty field. WriteRawCSV writes the values
// unchanged.
func (r *Result) WriteCSV(w io.Writer) error { return r.writeCSV(w, false) }

// WriteRawCSV is WriteCSV without the formula guard: every value exactly as
// the engine returned it.
func (r *Result) WriteRawCSV(w io.Writer) error { return r.writeCSV(w, true) }

func (r *Result) writeCSV(w io.Writer, raw bool) error {
	cw := csv.NewWriter(w)
	cell := func(col int, v string) string {
		if raw || v == "" {
			return v
		}
		first, _ := utf8.DecodeRuneInString(v)
		if !csvFormulaStart(first) {
			return v
		}
		if col >= 0 && numeric(r.Columns[col].Type) {
			if _, err := strconv.ParseFloat(v, 64); err == nil {
				return v
			}
		}
		return "'" + v
	}
	names := make([]string, len(r.Columns))
	for i, c := range r.Columns {
		names[i] = cell(-1, c.Name)
	}
	if err := cw.Write(names); err != nil {
		return err
	}
	rec := make([]string, len(r.Columns))
	for _, row := range r.Rows {
		for i := range rec {
			rec[i] = ""
			if i < len(row) && row[i].Valid {
				rec[i] = cell(i, row[i].String)
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the result as one JSON object and a newline:
//
//	{"columns":[{"name":"day","type":"varchar"},...],
//	 "rows":[["2026-11-22","7"],...],
//	 "stats":{"engine":"athena","query_id":"...","bytes_scanned":4194304,"cost_usd":0.000052,...}}
//
// Values are the engine's text (as in every output), NULL is null; the
// column types say how to read them. encoding/json escapes control
// characters and replaces invalid UTF-8, so the output needs no other
// guard. cost_usd is present for Athena runs only (0 for a reused result,
// which also has "reused":true).
func (r *Result) WriteJSON(w io.Writer) error {
	return json.NewEncoder(w).Encode(r.JSON())
}

// ResultJSON is the JSON form of a Result, as WriteJSON writes it; other
// documents (the analytics API's answers) embed it.
type ResultJSON struct {
	Columns []ColumnJSON `json:"columns"`
	// Rows holds the values as text, nil for NULL.
	Rows  [][]*string `json:"rows"`
	Stats StatsJSON   `json:"stats"`
}

// ColumnJSON is a column of ResultJSON.
type ColumnJSON struct {
	Name string `json:"name"`
	Type string `json:"type"`
}

// StatsJSON is the statistics of ResultJSON.
type StatsJSON struct {
	Engine       string `json:"engine"`
	QueryID      string `json:"query_id,omitempty"`
	BytesScanned int64  `json:"bytes_scanned"`
	FilesRead    int    `json:"files_read,omitempty"`
	// CostUSD is what Athena bills for the run; nil for other engines.
	CostUSD   *float64 `json:"cost_usd,omitempty"`
	ElapsedMS int64    `json:"elapsed_ms"`
	Reused    bool     `json:"reused,omitempty"`
}

// JSON returns the result's JSON form (see WriteJSON). The rows point into
// r's values: r must not change while the value is in use.
func (r *Result) JSON() ResultJSON {
	out := ResultJSON{
		Columns: make([]ColumnJSON, len(r.Columns)),
		Rows:    make([][]*string, len(r.Rows)),
		Stats: StatsJSON{Engine: r.Stats.Engine, QueryID: r.Stats.QueryID, BytesScanned: r.Stats.BytesScanned,
			FilesRead: r.Stats.FilesRead, ElapsedMS: r.Stats.Elapsed.Milliseconds(), Reused: r.Stats.Reused},
	}
	for i, c := range r.Columns {
		out.Columns[i] = ColumnJSON{c.Name, c.Type}
	}
	for j, row := range r.Rows {
		vals := make([]*string, len(r.Columns))
		for i := range vals {
			if i < len(row) && row[i].Valid {
				vals[i] = &row[i].String
			}
		}
		out.Rows[j] = vals
	}
	if r.Stats.Engine == "athena" {
		c := r.Stats.Billed()
		out.Stats.CostUSD = &c
	}
	return out
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
