package athena

import (
	"bytes"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

//go:embed ddl/*.sql
var ddlFiles embed.FS

// Names of the catalog objects. The queries of athena/queries read ViewName;
// the infra's Glue table is TableName.
const (
	DefaultDatabase = "eventlake"
	TableName       = "events"
	ViewName        = "events_dedup"
	// IdentitiesView maps each anonymous_id to the user it became.
	IdentitiesView = "identities"
	// LinksTable holds the identity links the lake's maintenance
	// materializes (see Links), partitioned by LinksPartition.
	LinksTable = "identity_links"
	// LinksPartition is LinksTable's partition column: the run that wrote
	// a materialization.
	LinksPartition = "run"
	// LinksPrefix is where the materializations live in the lake bucket,
	// beside events/: identities/run=<run>/<file>.parquet.
	LinksPrefix = "identities/"
	// LinksPointerKey is the lake's document naming the materialization
	// the identities view reads (lake.IdentitiesState). On AWS the view in
	// the Glue catalog names it and the document is the maintenance's
	// record; in a local lake folder the document is what athena/local
	// defines the view from.
	LinksPointerKey = "maintenance/identities/current.json"
	// DefaultProjectionStart is the first day partition projection offers.
	DefaultProjectionStart = "2020-01-01"
)

// Format is the storage format of the lake's objects.
type Format string

const (
	// FormatParquet is the default: Firehose record format conversion writes
	// GZIP-compressed Parquet, and Athena reads only the columns a query uses.
	FormatParquet Format = "parquet"
	// FormatJSON is gzip newline-delimited JSON, as the stream Lambda writes
	// it: readable with zcat, no conversion charge, but every query reads
	// whole objects.
	FormatJSON Format = "json"
)

// DDLConfig fills the placeholders of the DDL templates in athena/ddl. The
// templates are text/template files; these fields are the only things they
// leave open. The zero value of every field but Location means the default.
type DDLConfig struct {
	// Database is the Glue database ({{.Database}}); default "eventlake".
	// Lower-case letters, digits and underscores.
	Database string
	// Location is the S3 prefix of the events ({{.Location}}), for example
	// "s3://my-lake/events/". A missing trailing slash is added. Required.
	Location string
	// Format picks the table DDL; default FormatParquet.
	Format Format
	// ProjectionStart is the first projected day ({{.ProjectionStart}}),
	// YYYY-MM-DD; default DefaultProjectionStart.
	ProjectionStart string
	// LinksLocation is the S3 prefix of the materialized identity links
	// ({{.LinksLocation}}, the identity_links table); default the sibling
	// "identities/" of Location's last folder (s3://my-lake/identities/
	// for s3://my-lake/events/).
	LinksLocation string
}

// Statement is one DDL statement, ready for StartQueryExecution (which runs
// one statement at a time).
type Statement struct {
	// Name is the template file name without .sql.
	Name string
	// SQL is the rendered statement without the template's comment header.
	SQL string
}

var (
	databaseRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,254}$`)
	locationRE = regexp.MustCompile(`^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/[A-Za-z0-9!_.*()/=-]*)?/$`)
)

func (c DDLConfig) withDefaults() (DDLConfig, error) {
	if c.Database == "" {
		c.Database = DefaultDatabase
	}
	if c.Format == "" {
		c.Format = FormatParquet
	}
	if c.ProjectionStart == "" {
		c.ProjectionStart = DefaultProjectionStart
	}
	if c.Location != "" && !strings.HasSuffix(c.Location, "/") {
		c.Location += "/"
	}
	if c.LinksLocation == "" && c.Location != "" {
		c.LinksLocation = siblingLinks(c.Location)
	}
	if c.LinksLocation != "" && !strings.HasSuffix(c.LinksLocation, "/") {
		c.LinksLocation += "/"
	}
	var problems []string
	if !databaseRE.MatchString(c.Database) {
		problems = append(problems, fmt.Sprintf("Database %q: want lower-case letters, digits and _", c.Database))
	}
	if !locationRE.MatchString(c.Location) {
		problems = append(problems, fmt.Sprintf("Location %q: want s3://bucket/prefix/ without quotes or spaces", c.Location))
	} else if !locationRE.MatchString(c.LinksLocation) || c.LinksLocation == c.Location {
		problems = append(problems, fmt.Sprintf("LinksLocation %q: want s3://bucket/prefix/ without quotes or spaces, apart from Location", c.LinksLocation))
	}
	if c.Format != FormatParquet && c.Format != FormatJSON {
		problems = append(problems, fmt.Sprintf("Format %q: want parquet or json", c.Format))
	}
	if _, err := time.Parse(tracker.DateLayout, c.ProjectionStart); err != nil {
		problems = append(problems, fmt.Sprintf("ProjectionStart %q: want YYYY-MM-DD", c.ProjectionStart))
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("athena DDL config: %s", strings.Join(problems, "; "))
	}
	return c, nil
}

// siblingLinks is the default LinksLocation: "identities/" beside the last
// folder of location (which ends in "/"), or under the bucket's root.
func siblingLinks(location string) string {
	rest, ok := strings.CutPrefix(location, "s3://")
	if !ok {
		return ""
	}
	trimmed := strings.TrimSuffix(rest, "/")
	if i := strings.LastIndex(trimmed, "/"); i >= 0 {
		return "s3://" + trimmed[:i+1] + LinksPrefix
	}
	return "s3://" + trimmed + "/" + LinksPrefix
}

// DDL renders the statements that create the catalog objects, in order: the
// database, the events table in cfg.Format with partition projection on dt,
// the identity_links table (Parquet, injected projection on run), and the
// views (events_dedup, identities, the latter in its full-scan form until
// the lake's maintenance replaces it). Every statement is idempotent (IF
// NOT EXISTS, OR REPLACE). The error names every bad field of cfg.
func DDL(cfg DDLConfig) ([]Statement, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	table := "create_table_parquet"
	if cfg.Format == FormatJSON {
		table = "create_table_json"
	}
	var out []Statement
	for _, name := range append([]string{"create_database", table, "create_table_identity_links"}, viewFiles...) {
		sql, err := renderDDL(name, viewData{DDLConfig: cfg})
		if err != nil {
			return nil, err
		}
		out = append(out, Statement{Name: name, SQL: sql})
	}
	return out, nil
}

// viewFiles are the view templates, in the order they are created.
var viewFiles = []string{"create_view_events_dedup", "create_view_identities"}

// Links names a materialization of the identity links: the first link of
// every anonymous_id among the events of the days before Watermark
// (dt < Watermark), written by the lake's maintenance under
// LinksPrefix + "run=" + Run + "/". With one, the identities view reads the
// materialization and the events from Watermark on, and so the partitions a
// question asks about plus those of the last days, instead of every
// partition of the lake's history. The JSON form is what the lake's
// document at LinksPointerKey starts with.
type Links struct {
	// Run is the run that wrote the materialization (the run ID of package
	// lake): letters, digits, '-' and '_', at most 64.
	Run string `json:"run"`
	// Watermark is the first day (YYYY-MM-DD) whose events the
	// materialization does not hold.
	Watermark string `json:"watermark"`
}

var runRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Check reports whether l can be rendered into the view's SQL: a run of
// letters, digits, '-' and '_', and a day.
func (l Links) Check() error {
	var problems []string
	if !runRE.MatchString(l.Run) {
		problems = append(problems, fmt.Sprintf("run %q: want letters, digits, - and _ (at most 64)", l.Run))
	}
	if _, err := time.Parse(tracker.DateLayout, l.Watermark); err != nil {
		problems = append(problems, fmt.Sprintf("watermark %q: want YYYY-MM-DD", l.Watermark))
	}
	if len(problems) > 0 {
		return fmt.Errorf("identity links: %s", strings.Join(problems, "; "))
	}
	return nil
}

// viewData fills the templates: the DDL configuration and, for the
// identities view, the materialization it reads (nil: every partition).
type viewData struct {
	DDLConfig
	Links *Links
}

// ViewsDDL renders the CREATE OR REPLACE VIEW statements of the views over
// database.events, in order, with the identities view in its full-scan
// form. The local runner runs them on DuckDB with database "main".
func ViewsDDL(database string) ([]string, error) { return ViewsDDLWith(database, nil) }

// ViewsDDLWith is ViewsDDL with the identities view reading links, a
// materialization of the identity links (nil: the full-scan form). The
// lake's maintenance runs its last statement (the identities view) on
// Athena after writing a materialization.
func ViewsDDLWith(database string, links *Links) ([]string, error) {
	if !databaseRE.MatchString(database) {
		return nil, fmt.Errorf("view DDL: database %q: want lower-case letters, digits and _", database)
	}
	if links != nil {
		if err := links.Check(); err != nil {
			return nil, fmt.Errorf("view DDL: %w", err)
		}
	}
	out := make([]string, len(viewFiles))
	for i, name := range viewFiles {
		sql, err := renderDDL(name, viewData{DDLConfig: DDLConfig{Database: database}, Links: links})
		if err != nil {
			return nil, err
		}
		out[i] = sql
	}
	return out, nil
}

// LinksColumns are the columns of LinksTable, in order, without its
// partition column LinksPartition: what a materialization's files hold.
func LinksColumns() []ViewColumn {
	str := func(name string) ViewColumn { return ViewColumn{Name: name, HiveType: "string", TrinoType: "varchar"} }
	return []ViewColumn{str(tracker.FieldAnonymousID), str(tracker.FieldUserID), str("linked_at"), str(tracker.FieldEventID)}
}

func renderDDL(name string, cfg viewData) (string, error) {
	text, err := ddlFiles.ReadFile("ddl/" + name + ".sql")
	if err != nil {
		return "", fmt.Errorf("read DDL %s: %w", name, err)
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return "", fmt.Errorf("parse DDL %s: %w", name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, cfg); err != nil {
		return "", fmt.Errorf("render DDL %s: %w", name, err)
	}
	return strings.TrimSpace(stripHeader(b.String())), nil
}

// stripHeader drops the leading "--" comment lines: Athena routes DDL by the
// statement's first keyword.
func stripHeader(sql string) string {
	lines := strings.Split(sql, "\n")
	i := 0
	for i < len(lines) && (strings.HasPrefix(strings.TrimSpace(lines[i]), "--") || strings.TrimSpace(lines[i]) == "") {
		i++
	}
	return strings.Join(lines[i:], "\n")
}

// ViewColumn is a column of a view.
type ViewColumn struct {
	Name string
	// HiveType is the Glue column type ("string", "map<string,string>").
	HiveType string
	// TrinoType is the type as Trino spells it ("varchar", "map(varchar,varchar)").
	TrinoType string
}

// View describes a view for a database: its columns (for the Glue table
// that declares it) and its SELECT.
type View struct {
	Database string
	Name     string
	Columns  []ViewColumn
	// SQL is the view's SELECT (the text after "AS" in the DDL).
	SQL string
}

// Views describes every view of database, in creation order: events_dedup,
// then identities in its full-scan form (what the CDK app declares; the
// lake's maintenance replaces it once it has materialized the identity
// links). It fails if a field of tracker.EventFields() has a type it cannot
// spell in Trino.
func Views(database string) ([]View, error) { return ViewsWith(database, nil) }

// ViewsWith is Views with the identities view reading links (see
// ViewsDDLWith).
func ViewsWith(database string, links *Links) ([]View, error) {
	ddls, err := ViewsDDLWith(database, links)
	if err != nil {
		return nil, err
	}
	var fields []ViewColumn
	for _, f := range tracker.EventFields() {
		tt, err := TrinoType(f.AthenaType)
		if err != nil {
			return nil, fmt.Errorf("view column %s: %w", f.Name, err)
		}
		fields = append(fields, ViewColumn{Name: f.Name, HiveType: f.AthenaType, TrinoType: tt})
	}
	str := func(name string) ViewColumn { return ViewColumn{Name: name, HiveType: "string", TrinoType: "varchar"} }
	columns := map[string][]ViewColumn{
		ViewName:       append(fields, str(tracker.PartitionColumn)),
		IdentitiesView: {str(tracker.FieldAnonymousID), str(tracker.FieldUserID), str("linked_at")},
	}
	out := make([]View, len(ddls))
	for i, ddl := range ddls {
		head, body, ok := strings.Cut(ddl, " AS\n")
		if !ok {
			return nil, fmt.Errorf("view DDL: no AS in %q", ddl)
		}
		name := head[strings.LastIndex(head, ".")+1:]
		cols, ok := columns[name]
		if !ok {
			return nil, fmt.Errorf("view DDL: no columns declared for view %s", name)
		}
		out[i] = View{Database: database, Name: name, Columns: cols, SQL: strings.TrimSpace(body)}
	}
	return out, nil
}

// NewDedupView describes events_dedup in database (see Views).
func NewDedupView(database string) (View, error) {
	vs, err := Views(database)
	if err != nil {
		return View{}, err
	}
	return vs[0], nil
}

// PrestoViewOriginalText returns the ViewOriginalText of a Glue table of type
// VIRTUAL_VIEW that Athena reads as this view: "/* Presto View: " + base64 of
// the view definition JSON + " */" (ViewExpandedText is "/* Presto View */",
// and the table parameter presto_view is "true"). catalog is the data
// catalog, "awsdatacatalog" for Glue.
func (v View) PrestoViewOriginalText(catalog string) (string, error) {
	type col struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	def := struct {
		OriginalSQL string `json:"originalSql"`
		Catalog     string `json:"catalog"`
		Schema      string `json:"schema"`
		Columns     []col  `json:"columns"`
	}{OriginalSQL: v.SQL, Catalog: catalog, Schema: v.Database}
	for _, c := range v.Columns {
		def.Columns = append(def.Columns, col{Name: c.Name, Type: c.TrinoType})
	}
	b, err := json.Marshal(def)
	if err != nil {
		return "", fmt.Errorf("encode view %s: %w", v.Name, err)
	}
	return "/* Presto View: " + base64.StdEncoding.EncodeToString(b) + " */", nil
}

// TrinoType spells a Hive DDL type (as tracker.Field.AthenaType holds it) the
// way Trino does: string -> varchar, map<string,string> -> map(varchar,varchar).
func TrinoType(hive string) (string, error) {
	t := strings.ReplaceAll(strings.TrimSpace(hive), " ", "")
	switch t {
	case "string":
		return "varchar", nil
	case "bigint", "integer", "smallint", "tinyint", "double", "boolean", "date", "timestamp":
		return t, nil
	case "int":
		return "integer", nil
	case "float":
		return "real", nil
	}
	if strings.HasPrefix(t, "map<") && strings.HasSuffix(t, ">") {
		k, v, ok := strings.Cut(t[4:len(t)-1], ",")
		if ok && !strings.ContainsAny(v, "<>,") {
			kt, err := TrinoType(k)
			if err != nil {
				return "", err
			}
			vt, err := TrinoType(v)
			if err != nil {
				return "", err
			}
			return "map(" + kt + "," + vt + ")", nil
		}
	}
	if strings.HasPrefix(t, "array<") && strings.HasSuffix(t, ">") {
		et, err := TrinoType(t[6 : len(t)-1])
		if err != nil {
			return "", err
		}
		return "array(" + et + ")", nil
	}
	return "", fmt.Errorf("type %q has no Trino spelling here", hive)
}
