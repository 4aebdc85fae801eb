package lake

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/tracker"
)

//go:embed sql/*.sql
var sqlFiles embed.FS

var sqlTemplates = template.Must(template.New("").Option("missingkey=error").ParseFS(sqlFiles, "sql/*.sql"))

// Dialect is what the lake's SQL needs to know of the engine that runs it.
// Everything else in the SQL of lake/sql is the same on Athena (Trino) and
// DuckDB.
type Dialect struct {
	// Name is "athena" or "duckdb".
	Name string
	// Source is the relation of the events with the hidden column "$path":
	// Athena's events table; a DuckDB view over the files in scope.
	Source string
	// HashHex renders the lower-case hex SHA-256 of a varchar expression.
	HashHex func(expr string) string
}

// AthenaDialect returns Trino's dialect: sha256 takes varbinary and to_hex
// answers in upper case.
func AthenaDialect() Dialect { return athenaDialect }

// DuckDBDialect returns DuckDB's dialect: sha256 takes varchar and answers
// in lower-case hex. The source is the view lake/duckengine defines over
// the files in scope.
func DuckDBDialect() Dialect { return duckDBDialect }

var athenaDialect = Dialect{
	Name:    "athena",
	Source:  "events",
	HashHex: func(e string) string { return "lower(to_hex(sha256(to_utf8(" + e + "))))" },
}

var duckDBDialect = Dialect{
	Name:    "duckdb",
	Source:  "lake_events",
	HashHex: func(e string) string { return "sha256(" + e + ")" },
}

// Limits of one statement. Athena takes statements of up to
// MaxStatementBytes; a rewrite's statements name its inputs (about 130
// bytes each for Firehose's S3 keys) once and the suppression hashes (68
// bytes each) once.
const (
	MaxStatementBytes = 262144
	// MaxSQLHashes bounds the suppression hashes one statement carries. A
	// longer list applies its most recent entries to compaction (an
	// erasure applies its own first); see docs/lake.md.
	MaxSQLHashes = 2000
	// MaxRewriteInputs bounds the objects one rewrite reads. A day with
	// more is rewritten in several passes of one run, the compacted files
	// first.
	MaxRewriteInputs = 400
)

var hexHashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// suppressedSQL renders the predicate of Suppression.Suppressed: the row's
// user is on the list, or it has no user and its visitor is.
func (d Dialect) suppressedSQL(hashes []string) (string, error) {
	if len(hashes) == 0 {
		return "", nil
	}
	if len(hashes) > MaxSQLHashes {
		return "", fmt.Errorf("lake: %d suppression hashes in one statement (at most %d)", len(hashes), MaxSQLHashes)
	}
	list, err := hashList(hashes)
	if err != nil {
		return "", err
	}
	// The actor's key: the user's, else the visitor's (tracker.ActorKey),
	// its hash matched against the list once. NULL when the row has
	// neither ID, which no IN list matches.
	return fmt.Sprintf("(CASE WHEN coalesce(user_id, '') <> '' THEN %s WHEN coalesce(anonymous_id, '') <> '' THEN %s END) IN (%s)",
		d.HashHex("'"+userPrefix+"' || user_id"), d.HashHex("'"+anonymousPrefix+"' || anonymous_id"), list), nil
}

func hashList(hashes []string) (string, error) {
	quoted := make([]string, len(hashes))
	for i, h := range hashes {
		if !hexHashRE.MatchString(h) {
			return "", fmt.Errorf("lake: %q is not a lower-case hex SHA-256", h)
		}
		quoted[i] = "'" + h + "'"
	}
	return strings.Join(quoted, ", "), nil
}

// QuoteSQL quotes s as an SQL string literal, for an Engine that must
// name objects in SQL it writes itself.
func QuoteSQL(s string) (string, error) { return sqlString(s) }

// sqlString quotes s as an SQL string literal, the same in Trino and DuckDB.
// It refuses what a literal should never carry here (control characters,
// invalid UTF-8): the values are object URIs and days, never user input.
func sqlString(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("lake: %q is not valid UTF-8", s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return "", fmt.Errorf("lake: %q contains a control character", s)
		}
	}
	return "'" + strings.ReplaceAll(s, "'", "''") + "'", nil
}

func sqlStrings(ss []string) (string, error) {
	out := make([]string, len(ss))
	for i, s := range ss {
		q, err := sqlString(s)
		if err != nil {
			return "", err
		}
		out[i] = q
	}
	return strings.Join(out, ", "), nil
}

// columns is the event schema in column order, as the rewrite writes it.
func columns() string { return strings.Join(tracker.FieldNames(), ", ") }

var dayRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// RewriteOrder is the order of the rows in a rewritten file: by user, then
// visitor, then time, as Athena's and DuckDB's min/max statistics prune
// best for per-user questions.
const RewriteOrder = "user_id NULLS LAST, anonymous_id NULLS LAST, event_at, event_id"

// sqlParams fill the templates of lake/sql.
type sqlParams struct {
	Order      string
	Source     string
	Columns    string
	Day        string
	Since      string
	Buckets    int
	Inputs     string // quoted URIs
	Outputs    string // quoted URIs
	Suppressed string // predicate
	UserHashes string // predicate
	Run        string
}

func render(name string, p sqlParams) (string, error) {
	var b bytes.Buffer
	if err := sqlTemplates.ExecuteTemplate(&b, name+".sql", p); err != nil {
		return "", fmt.Errorf("render %s.sql: %w", name, err)
	}
	sql := stripComments(b.String())
	// Room for UNLOAD's wrapper.
	if len(sql) > MaxStatementBytes-1024 {
		return "", fmt.Errorf("lake: the %s statement is %d bytes, more than Athena takes (%d)", name, len(sql), MaxStatementBytes)
	}
	return sql, nil
}

// stripComments drops the "--" header lines: the fake and real Athena route
// a statement by its first keyword, and a header is no part of the query.
func stripComments(sql string) string {
	var out []string
	for _, l := range strings.Split(sql, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "--") {
			continue
		}
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// rewriteSQL renders the SELECT of a rewrite of day from the objects in
// inputs (URIs), in buckets files, without the actors of hashes.
func (d Dialect) rewriteSQL(day string, inputs []string, buckets int, hashes []string) (string, error) {
	if !dayRE.MatchString(day) {
		return "", fmt.Errorf("lake: day %q: want YYYY-MM-DD", day)
	}
	if len(inputs) == 0 {
		return "", errors.New("lake: a rewrite without inputs")
	}
	if buckets < 1 || buckets > MaxBuckets {
		return "", fmt.Errorf("lake: %d buckets (1..%d)", buckets, MaxBuckets)
	}
	in, err := sqlStrings(inputs)
	if err != nil {
		return "", err
	}
	sup, err := d.suppressedSQL(hashes)
	if err != nil {
		return "", err
	}
	return render("rewrite", sqlParams{Order: RewriteOrder, Source: d.Source, Columns: columns(), Day: day, Buckets: buckets, Inputs: in, Suppressed: sup})
}

// verifySQL renders the check of a rewrite (see sql/verify.sql).
func (d Dialect) verifySQL(day string, inputs, outputs []string, hashes []string) (string, error) {
	if !dayRE.MatchString(day) {
		return "", fmt.Errorf("lake: day %q: want YYYY-MM-DD", day)
	}
	in, err := sqlStrings(inputs)
	if err != nil {
		return "", err
	}
	out, err := sqlStrings(outputs)
	if err != nil {
		return "", err
	}
	sup, err := d.suppressedSQL(hashes)
	if err != nil {
		return "", err
	}
	return render("verify", sqlParams{Source: d.Source, Day: day, Inputs: in, Outputs: out, Suppressed: sup})
}

// findSQL renders the search for the objects holding the actors of hashes,
// in the partitions from since (YYYY-MM-DD, or "" for all).
func (d Dialect) findSQL(hashes []string, since string) (string, error) {
	if len(hashes) == 0 {
		return "", errors.New("lake: find without actors")
	}
	if since != "" && !dayRE.MatchString(since) {
		return "", fmt.Errorf("lake: since %q: want YYYY-MM-DD", since)
	}
	sup, err := d.suppressedSQL(hashes)
	if err != nil {
		return "", err
	}
	return render("find", sqlParams{Source: d.Source, Since: since, Suppressed: sup})
}

// linkedSQL renders the search of the identities view for the links of the
// users of userHashes (UserHash values) and of the visitors of anonHashes
// (AnonymousHash values).
func (d Dialect) linkedSQL(userHashes, anonHashes []string) (string, error) {
	if len(userHashes) == 0 && len(anonHashes) == 0 {
		return "", errors.New("lake: linked without actors")
	}
	if len(userHashes)+len(anonHashes) > MaxSQLHashes {
		return "", fmt.Errorf("lake: %d actors in one statement (at most %d)", len(userHashes)+len(anonHashes), MaxSQLHashes)
	}
	var match []string
	if len(userHashes) > 0 {
		list, err := hashList(userHashes)
		if err != nil {
			return "", err
		}
		match = append(match, d.HashHex("'"+userPrefix+"' || user_id")+" IN ("+list+")")
	}
	if len(anonHashes) > 0 {
		list, err := hashList(anonHashes)
		if err != nil {
			return "", err
		}
		match = append(match, d.HashHex("'"+anonymousPrefix+"' || anonymous_id")+" IN ("+list+")")
	}
	return render("linked", sqlParams{UserHashes: strings.Join(match, " OR ")})
}

// identitiesSQL renders the SELECT of a materialization of the identity
// links of the days before watermark, without the links of the actors of
// hashes (see sql/identities.sql). With a previous materialization prev
// (non-nil), it reads prev's links and the days from prev's watermark on
// only: the incremental form, right when no day before prev's watermark
// changed since prev read it.
func (d Dialect) identitiesSQL(watermark string, hashes []string, prev *athena.Links) (string, error) {
	if !dayRE.MatchString(watermark) {
		return "", fmt.Errorf("lake: watermark %q: want YYYY-MM-DD", watermark)
	}
	sup, err := d.suppressedSQL(hashes)
	if err != nil {
		return "", err
	}
	p := sqlParams{Source: d.Source, Day: watermark, Suppressed: sup}
	if prev != nil {
		if err := prev.Check(); err != nil {
			return "", err
		}
		if prev.Watermark >= watermark {
			return "", fmt.Errorf("lake: an incremental materialization to %s from one up to %s", watermark, prev.Watermark)
		}
		p.Run, p.Since = prev.Run, prev.Watermark
	}
	return render("identities", p)
}

// linksCheckSQL renders the check of a materialization's files (see
// sql/links_check.sql).
func (d Dialect) linksCheckSQL(run string, hashes []string) (string, error) {
	if err := (athena.Links{Run: run, Watermark: "2000-01-01"}).Check(); err != nil {
		return "", err
	}
	sup, err := d.suppressedSQL(hashes)
	if err != nil {
		return "", err
	}
	return render("links_check", sqlParams{Run: run, Suppressed: sup})
}
