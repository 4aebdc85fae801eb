package athena

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/eventlake/eventlake/tracker"
)

// tableColumns parses the column list of a rendered CREATE EXTERNAL TABLE:
// the "`name` type" lines between the first "(" line and PARTITIONED BY, and
// the partition columns.
func tableColumns(t *testing.T, sql string) (cols, parts [][2]string) {
	t.Helper()
	colRE := regexp.MustCompile("^\\s*`([a-z_]+)`\\s+([a-z<>,]+?),?$")
	body, rest, ok := strings.Cut(sql, "PARTITIONED BY (")
	if !ok {
		t.Fatalf("no PARTITIONED BY in\n%s", sql)
	}
	_, body, _ = strings.Cut(body, "(\n")
	for _, l := range strings.Split(body, "\n") {
		if m := colRE.FindStringSubmatch(l); m != nil {
			cols = append(cols, [2]string{m[1], m[2]})
		}
	}
	partRE := regexp.MustCompile("`([a-z_]+)` ([a-z]+)")
	partList, _, _ := strings.Cut(rest, ")")
	for _, m := range partRE.FindAllStringSubmatch(partList, -1) {
		parts = append(parts, [2]string{m[1], m[2]})
	}
	return cols, parts
}

func TestDDLColumnsMatchEventSchema(t *testing.T) {
	var want [][2]string
	for _, f := range tracker.EventFields() {
		want = append(want, [2]string{f.Name, strings.ReplaceAll(f.AthenaType, " ", "")})
	}
	for _, format := range []Format{FormatParquet, FormatJSON} {
		t.Run(string(format), func(t *testing.T) {
			stmts, err := DDL(DDLConfig{Location: "s3://my-lake/events/", Format: format})
			if err != nil {
				t.Fatal(err)
			}
			if len(stmts) != 5 {
				t.Fatalf("got %d statements, want database, table, links table, two views", len(stmts))
			}
			cols, parts := tableColumns(t, stmts[1].SQL)
			if len(cols) != len(want) {
				t.Fatalf("table columns %v, want %v (tracker.EventFields())", cols, want)
			}
			for i := range want {
				if cols[i] != want[i] {
					t.Errorf("column %d: DDL has %v, tracker.EventFields() has %v", i, cols[i], want[i])
				}
			}
			if len(parts) != 1 || parts[0] != [2]string{tracker.PartitionColumn, "string"} {
				t.Errorf("partition columns %v, want [[%s string]]", parts, tracker.PartitionColumn)
			}

			// The links table: LinksColumns, partitioned by run.
			lcols, lparts := tableColumns(t, stmts[2].SQL)
			var wantLinks [][2]string
			for _, c := range LinksColumns() {
				wantLinks = append(wantLinks, [2]string{c.Name, c.HiveType})
			}
			if fmt.Sprint(lcols) != fmt.Sprint(wantLinks) || len(lparts) != 1 || lparts[0] != [2]string{LinksPartition, "string"} {
				t.Errorf("links table columns %v partitions %v, want %v by %s", lcols, lparts, wantLinks, LinksPartition)
			}

			// The view selects every column of the table and dt, in order.
			view := stmts[3].SQL
			sel := regexp.MustCompile(`(?s)AS\s+SELECT (.*?)\nFROM`).FindStringSubmatch(view)
			if sel == nil {
				t.Fatalf("no select list in view\n%s", view)
			}
			// (is_bot with a default for rows written before it existed).
			wantSel := strings.Join(append(tracker.FieldNames(), tracker.PartitionColumn), ", ")
			gotSel := strings.Join(strings.Fields(strings.ReplaceAll(sel[1], "coalesce(is_bot, false) AS is_bot", "is_bot")), " ")
			if gotSel != wantSel {
				t.Errorf("view selects %q, want %q", sel[1], wantSel)
			}
		})
	}
}

func TestDDLRender(t *testing.T) {
	stmts, err := DDL(DDLConfig{Database: "analytics", Location: "s3://my-lake/events", Format: FormatJSON, ProjectionStart: "2024-05-01"})
	if err != nil {
		t.Fatal(err)
	}
	var sqls []string
	for _, s := range stmts {
		sqls = append(sqls, s.SQL)
	}
	all := strings.Join(sqls, "\n")
	for _, want := range []string{
		"CREATE DATABASE IF NOT EXISTS `analytics`",
		"CREATE EXTERNAL TABLE IF NOT EXISTS `analytics`.`events`",
		"ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe'",
		"LOCATION 's3://my-lake/events/'",
		"'projection.enabled' = 'true'",
		"'projection.dt.type' = 'date'",
		"'projection.dt.format' = 'yyyy-MM-dd'",
		"'projection.dt.range' = '2024-05-01,NOW'",
		"'storage.location.template' = 's3://my-lake/events/dt=${dt}/'",
		"CREATE OR REPLACE VIEW analytics.events_dedup AS",
		"FROM analytics.events",
		"PARTITION BY dt, user_id, anonymous_id, event_at, event_id",
		"CREATE EXTERNAL TABLE IF NOT EXISTS `analytics`.`identity_links`",
		"LOCATION 's3://my-lake/identities/'",
		"'projection.run.type' = 'injected'",
		"'storage.location.template' = 's3://my-lake/identities/run=${run}/'",
		"CREATE OR REPLACE VIEW analytics.identities AS",
		"PARTITION BY anonymous_id ORDER BY event_at, event_id, user_id",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("rendered DDL lacks %q:\n%s", want, all)
		}
	}
	for _, s := range stmts {
		if strings.HasPrefix(s.SQL, "--") || strings.Contains(s.SQL, "{{") {
			t.Errorf("statement %s keeps a comment header or a placeholder:\n%s", s.Name, s.SQL)
		}
	}

	parquet, err := DDL(DDLConfig{Location: "s3://my-lake/events/"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(parquet[1].SQL, "STORED AS PARQUET") || !strings.Contains(parquet[0].SQL, "`eventlake`") ||
		!strings.Contains(parquet[1].SQL, "'projection.dt.range' = '2020-01-01,NOW'") {
		t.Errorf("defaults not applied:\n%s\n%s", parquet[0].SQL, parquet[1].SQL)
	}
}

func TestDDLConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  DDLConfig
		want []string
	}{
		{"no location", DDLConfig{}, []string{"Location"}},
		{"not s3", DDLConfig{Location: "https://x/events/"}, []string{"Location"}},
		{"quote injection", DDLConfig{Location: "s3://my-lake/events/' ) DROP TABLE x; --/"}, []string{"Location"}},
		{"database", DDLConfig{Database: "Events-DB", Location: "s3://my-lake/events/"}, []string{"Database"}},
		{"database injection", DDLConfig{Database: "x`; DROP", Location: "s3://my-lake/events/"}, []string{"Database"}},
		{"format", DDLConfig{Location: "s3://my-lake/events/", Format: "csv"}, []string{"Format"}},
		{"projection start", DDLConfig{Location: "s3://my-lake/events/", ProjectionStart: "2020-13-01"}, []string{"ProjectionStart"}},
		{"links location", DDLConfig{Location: "s3://my-lake/events/", LinksLocation: "s3://my-lake/x'y/"}, []string{"LinksLocation"}},
		{"links location is the events'", DDLConfig{Location: "s3://my-lake/events/", LinksLocation: "s3://my-lake/events"}, []string{"LinksLocation"}},
		{"every field", DDLConfig{Database: "A", Location: "x", Format: "orc", ProjectionStart: "y"},
			[]string{"Database", "Location", "Format", "ProjectionStart"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DDL(tt.cfg)
			if err == nil {
				t.Fatal("DDL accepted a bad config")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

func TestDedupViewForGlue(t *testing.T) {
	v, err := NewDedupView("eventlake")
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != ViewName || !strings.HasPrefix(v.SQL, "SELECT user_id,") || !strings.HasSuffix(v.SQL, "WHERE copy = 1") {
		t.Errorf("view %s SQL:\n%s", v.Name, v.SQL)
	}
	wantTypes := map[string]string{"map<string,string>": "map(varchar,varchar)", "string": "varchar", "boolean": "boolean"}
	if len(v.Columns) != len(tracker.EventFields())+1 {
		t.Fatalf("%d columns, want %d", len(v.Columns), len(tracker.EventFields())+1)
	}
	for i, f := range tracker.EventFields() {
		c := v.Columns[i]
		if c.Name != f.Name || c.HiveType != f.AthenaType || c.TrinoType != wantTypes[f.AthenaType] {
			t.Errorf("column %d = %+v, field %s %s", i, c, f.Name, f.AthenaType)
		}
	}
	text, err := v.PrestoViewOriginalText("awsdatacatalog")
	if err != nil {
		t.Fatal(err)
	}
	enc, ok := strings.CutPrefix(text, "/* Presto View: ")
	if !ok || !strings.HasSuffix(enc, " */") {
		t.Fatalf("original text %q", text)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSuffix(enc, " */"))
	if err != nil {
		t.Fatal(err)
	}
	var def struct {
		OriginalSQL string `json:"originalSql"`
		Catalog     string `json:"catalog"`
		Schema      string `json:"schema"`
		Columns     []struct{ Name, Type string }
	}
	if err := json.Unmarshal(raw, &def); err != nil {
		t.Fatal(err)
	}
	if def.OriginalSQL != v.SQL || def.Catalog != "awsdatacatalog" || def.Schema != "eventlake" || len(def.Columns) != len(v.Columns) {
		t.Errorf("decoded view %+v", def)
	}
	last := def.Columns[len(def.Columns)-2]
	if last.Name != "attributes" || last.Type != "map(varchar,varchar)" {
		t.Errorf("attributes column %+v", last)
	}
}

func TestViews(t *testing.T) {
	vs, err := Views("eventlake")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Name != ViewName || vs[1].Name != IdentitiesView {
		t.Fatalf("views %+v", vs)
	}
	id := vs[1]
	if !strings.HasPrefix(id.SQL, "SELECT anonymous_id, user_id, event_at AS linked_at") || !strings.Contains(id.SQL, "FROM eventlake.events") {
		t.Errorf("identities SQL:\n%s", id.SQL)
	}
	var names []string
	for _, c := range id.Columns {
		names = append(names, c.Name+" "+c.TrinoType)
	}
	if strings.Join(names, ", ") != "anonymous_id varchar, user_id varchar, linked_at varchar" {
		t.Errorf("identities columns %s", names)
	}
	stmts, err := DDL(DDLConfig{Location: "s3://lake/events/"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(stmts); n != 5 || stmts[4].Name != "create_view_identities" || stmts[2].Name != "create_table_identity_links" {
		t.Errorf("DDL statements %d, last %s", n, stmts[n-1].Name)
	}
}

func TestLinksLocation(t *testing.T) {
	for loc, want := range map[string]string{
		"s3://my-lake/events/":       "s3://my-lake/identities/",
		"s3://my-lake/a/b/events":    "s3://my-lake/a/b/identities/",
		"s3://my-lake/":              "s3://my-lake/identities/",
		"s3://my-lake/events/stream": "s3://my-lake/events/identities/",
	} {
		stmts, err := DDL(DDLConfig{Location: loc})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stmts[2].SQL, "LOCATION '"+want+"'") {
			t.Errorf("Location %s: links table\n%s\nwant LOCATION %s", loc, stmts[2].SQL, want)
		}
	}
	stmts, err := DDL(DDLConfig{Location: "s3://my-lake/events/", LinksLocation: "s3://other/links"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stmts[2].SQL, "'storage.location.template' = 's3://other/links/run=${run}/'") {
		t.Errorf("links table with LinksLocation:\n%s", stmts[2].SQL)
	}
}

// TestMaterializedIdentitiesView checks the identities view with a
// materialization: the links of the run named as a literal, unioned with
// the links of the events from the watermark on (a literal too, so both
// engines prune partitions), first link per anonymous ID; bad names are
// refused before anything is rendered.
func TestMaterializedIdentitiesView(t *testing.T) {
	links := &Links{Run: "20261130T013000Z-1a2b3c", Watermark: "2026-11-29"}
	stmts, err := ViewsDDLWith("analytics", links)
	if err != nil {
		t.Fatal(err)
	}
	id := stmts[1]
	for _, want := range []string{
		"CREATE OR REPLACE VIEW analytics.identities AS\nSELECT anonymous_id, user_id, linked_at\n",
		"FROM analytics.identity_links\n    WHERE run = '20261130T013000Z-1a2b3c'\n    UNION ALL",
		"FROM analytics.events\n    WHERE dt >= '2026-11-29' AND anonymous_id IS NOT NULL AND user_id IS NOT NULL",
		"PARTITION BY anonymous_id ORDER BY linked_at, event_id, user_id",
	} {
		if !strings.Contains(id, want) {
			t.Errorf("materialized view lacks %q:\n%s", want, id)
		}
	}
	full, err := ViewsDDL("analytics")
	if err != nil {
		t.Fatal(err)
	}
	if full[0] != stmts[0] || strings.Contains(full[1], "identity_links") {
		t.Errorf("the full-scan form:\n%s", full[1])
	}
	vs, err := ViewsWith("analytics", links)
	if err != nil {
		t.Fatal(err)
	}
	if vs[1].Name != IdentitiesView || !strings.HasPrefix(vs[1].SQL, "SELECT anonymous_id, user_id, linked_at\nFROM (") || len(vs[1].Columns) != 3 {
		t.Errorf("materialized view %+v", vs[1])
	}
	for _, bad := range []Links{{Run: "x'; DROP", Watermark: "2026-11-29"}, {Run: "r", Watermark: "2026-11-29' OR '1"}, {Run: "", Watermark: ""}} {
		if _, err := ViewsDDLWith("analytics", &bad); err == nil {
			t.Errorf("links %+v accepted", bad)
		}
	}
	var names []string
	for _, c := range LinksColumns() {
		names = append(names, c.Name)
	}
	if strings.Join(names, ",") != "anonymous_id,user_id,linked_at,event_id" {
		t.Errorf("links columns %v", names)
	}
}

func TestTrinoType(t *testing.T) {
	tests := []struct{ hive, want string }{
		{"string", "varchar"},
		{"map<string,string>", "map(varchar,varchar)"},
		{"map<string, bigint>", "map(varchar,bigint)"},
		{"array<string>", "array(varchar)"},
		{"int", "integer"},
		{"float", "real"},
	}
	for _, tt := range tests {
		got, err := TrinoType(tt.hive)
		if err != nil || got != tt.want {
			t.Errorf("TrinoType(%q) = %q, %v; want %q", tt.hive, got, err, tt.want)
		}
	}
	if _, err := TrinoType("struct<a:int>"); err == nil {
		t.Error("TrinoType accepted a struct")
	}
}
