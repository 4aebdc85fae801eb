package laketest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/fakeathena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/athena/remote"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/tracker"
)

// Athena is a fake Athena endpoint (athena/fakeathena, the real SDK client
// on the wire) whose engine is DuckDB over the S3 bucket's events: before
// each statement it mirrors events/ and identities/ from the bucket (through
// the S3 API) to a folder and defines the events table over it with Athena's
// hidden column "$path" (s3://bucket/key), the identity_links table (by its
// run=<run> folders, as the Glue table's injected projection), the
// events_dedup and identities views, and the Trino macros. Like the Glue
// catalog, it keeps the identities view that a CREATE OR REPLACE VIEW
// <database>.identities statement defined (run with the database read as
// DuckDB's main). It runs SELECTs, and UNLOAD statements of the form
//
//	UNLOAD (<select>) TO 's3://bucket/prefix/' WITH (format = 'PARQUET'|'JSON', compression = 'GZIP', partitioned_by = ARRAY['bucket'])
//
// as Athena does: the destination must be empty; the rows are written to
// prefix/bucket=<n>/<file> (GZIP Parquet, or gzip NDJSON) through the S3
// API. Trino's lower(to_hex(sha256(to_utf8(x)))) runs as DuckDB's
// sha256(x). SELECTs may carry execution parameters (the query library's),
// as Athena's. It is a test helper.
type Athena struct {
	*fakeathena.Server
	s3     *S3
	mirror string
	db     *local.DB

	mu         sync.Mutex
	etags      map[string]string // mirrored key -> ETag
	identities string            // the identities view a statement defined, in DuckDB's terms
	statements []string
	fail       func(sql string) error
	seq        int
}

// NewAthena starts the endpoint over s3's bucket. It stops when the test
// ends.
func NewAthena(tb testing.TB, s3 *S3) *Athena {
	tb.Helper()
	mirror := tb.TempDir()
	db, err := local.Open(context.Background(), local.Config{Root: mirror, Threads: 2})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	a := &Athena{s3: s3, mirror: filepath.ToSlash(mirror), db: db, etags: map[string]string{}}
	a.Server = fakeathena.New(a.engine, fakeathena.Options{RunningPolls: 1})
	tb.Cleanup(a.Server.Close)
	return a
}

// Runner returns the Athena runner of athena/remote on the endpoint, with
// fast polling.
func (a *Athena) Runner() *remote.Runner {
	return remote.New(a.Client(), remote.Config{PollInitial: time.Millisecond, PollMax: 20 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
}

// Statements returns the statements run so far.
func (a *Athena) Statements() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.statements...)
}

// FailWhen makes statements for which f returns an error fail with it (as
// Athena reports a FAILED query); nil removes the fault.
func (a *Athena) FailWhen(f func(sql string) error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.fail = f
}

var (
	unloadRE = regexp.MustCompile(`(?s)^UNLOAD \((.*)\) TO '(s3://[^']+/)' WITH \((.*)\)$`)
	// viewRE matches the identities view's replacement and names its
	// database.
	viewRE = regexp.MustCompile(`^CREATE OR REPLACE VIEW ([a-z_][a-z0-9_]*)\.` + athena.IdentitiesView + ` AS\n`)
)

// trinoSHA256 is Trino's lower-case hex SHA-256 of a varchar, which DuckDB
// spells sha256(x): its sha256 takes varchar and returns lower-case hex.
// Trino's sha256 returns varbinary, to_hex upper-case hex, to_utf8 the
// UTF-8 bytes; DuckDB has no to_utf8, and its own to_hex of the hex text
// would encode it again, so the fake rewrites the whole expression.
var trinoSHA256 = regexp.MustCompile(`lower\(to_hex\(sha256\(to_utf8\(([^()]*)\)\)\)\)`)

func (a *Athena) engine(ctx context.Context, sql string, params []any) (*athena.Result, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.statements = append(a.statements, sql)
	a.seq++
	if a.fail != nil {
		if err := a.fail(sql); err != nil {
			return nil, err
		}
	}
	if err := a.sync(ctx); err != nil {
		return nil, err
	}
	sql = trinoSHA256.ReplaceAllString(sql, "sha256($1)")
	if m := unloadRE.FindStringSubmatch(sql); m != nil {
		if len(params) > 0 {
			return nil, errors.New("laketest: the lake's UNLOAD statements carry no execution parameters")
		}
		return &athena.Result{}, a.unload(ctx, m[1], m[2], m[3])
	}
	if m := viewRE.FindStringSubmatch(sql); m != nil {
		view := strings.ReplaceAll(sql, m[1]+".", "main.")
		if err := a.db.Exec(ctx, view); err != nil {
			return nil, err
		}
		a.identities = view
		return &athena.Result{}, nil
	}
	if strings.HasPrefix(strings.TrimSpace(sql), "UNLOAD") {
		return nil, fmt.Errorf("laketest: UNLOAD not of the supported form: %.200s", sql)
	}
	return a.db.Query(ctx, sql, params...)
}

// sync mirrors the bucket's events/ into the folder and defines the views.
func (a *Athena) sync(ctx context.Context) error {
	seen := map[string]bool{}
	for _, prefix := range []string{"events/", athena.LinksPrefix} {
		p := s3.NewListObjectsV2Paginator(a.s3.Client, &s3.ListObjectsV2Input{Bucket: &a.s3.Bucket, Prefix: aws.String(prefix)})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, o := range page.Contents {
				key, etag := aws.ToString(o.Key), aws.ToString(o.ETag)
				seen[key] = true
				if a.etags[key] == etag {
					continue
				}
				if err := a.download(ctx, key); err != nil {
					return err
				}
				a.etags[key] = etag
			}
		}
	}
	for key := range a.etags {
		if !seen[key] {
			os.Remove(filepath.Join(a.mirror, filepath.FromSlash(key)))
			delete(a.etags, key)
		}
	}
	return a.defineViews(ctx)
}

func (a *Athena) download(ctx context.Context, key string) error {
	out, err := a.s3.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &a.s3.Bucket, Key: &key})
	if err != nil {
		return err
	}
	defer out.Body.Close()
	path := filepath.Join(a.mirror, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, out.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// defineViews defines events with "$path" over the mirror, as Athena's
// table, and the views over it.
func (a *Athena) defineViews(ctx context.Context) error {
	var parquet, json, links bool
	for key := range a.etags {
		if strings.HasPrefix(key, athena.LinksPrefix) {
			links = true
			continue
		}
		parquet = parquet || strings.HasSuffix(key, ".parquet")
		json = json || strings.HasSuffix(key, ".gz")
	}
	cols := strings.Join(tracker.FieldNames(), ", ")
	path := fmt.Sprintf(`'s3://%s/' || substr(filename, %d) AS "$path"`, a.s3.Bucket, len(a.mirror)+2)
	var parts []string
	if parquet {
		parts = append(parts, fmt.Sprintf(`SELECT %s, dt, %s FROM read_parquet('%s/events/dt=*/*.parquet', hive_partitioning = true, hive_types = {'dt': 'VARCHAR'}, union_by_name = true, filename = true)`, cols, path, a.mirror))
	}
	if json {
		spec, err := local.ColumnsSpec()
		if err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf(`SELECT %s, dt, %s FROM read_json('%s/events/dt=*/*.gz', format = 'newline_delimited', records = true, compression = 'gzip', hive_partitioning = true, hive_types = {'dt': 'VARCHAR'}, columns = %s, filename = true)`, cols, path, a.mirror, spec))
	}
	if len(parts) == 0 {
		var sel []string
		for _, f := range tracker.EventFields() {
			t := map[string]string{"string": "VARCHAR", "boolean": "BOOLEAN", "map<string,string>": "MAP(VARCHAR, VARCHAR)"}[f.AthenaType]
			sel = append(sel, fmt.Sprintf("CAST(NULL AS %s) AS %s", t, f.Name))
		}
		parts = append(parts, "SELECT "+strings.Join(sel, ", ")+`, CAST(NULL AS VARCHAR) AS dt, CAST(NULL AS VARCHAR) AS "$path" WHERE false`)
	}
	if err := a.db.Exec(ctx, "CREATE OR REPLACE VIEW main.events AS\n"+strings.Join(parts, "\nUNION ALL\n")); err != nil {
		return err
	}
	var linkCols []string
	for _, c := range athena.LinksColumns() {
		linkCols = append(linkCols, c.Name)
	}
	// Athena names the files UNLOAD wrote without an extension, and a
	// materialization's files are copied to links-<n>.parquet.
	linksDef := fmt.Sprintf(`SELECT %s, run FROM read_parquet('%s/%srun=*/*', hive_partitioning = true, hive_types = {'run': 'VARCHAR'})`,
		strings.Join(linkCols, ", "), a.mirror, athena.LinksPrefix)
	if !links {
		for i, c := range linkCols {
			linkCols[i] = "CAST(NULL AS VARCHAR) AS " + c
		}
		linksDef = "SELECT " + strings.Join(linkCols, ", ") + ", CAST(NULL AS VARCHAR) AS run WHERE false"
	}
	if err := a.db.Exec(ctx, "CREATE OR REPLACE VIEW main."+athena.LinksTable+" AS\n"+linksDef); err != nil {
		return err
	}
	views, err := athena.ViewsDDL("main")
	if err != nil {
		return err
	}
	if a.identities != "" {
		views[len(views)-1] = a.identities
	}
	for _, v := range views {
		if err := a.db.Exec(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

func (a *Athena) unload(ctx context.Context, sql, target, with string) error {
	prefix, ok := strings.CutPrefix(target, "s3://"+a.s3.Bucket+"/")
	if !ok {
		return fmt.Errorf("laketest: UNLOAD to %s, outside bucket %s", target, a.s3.Bucket)
	}
	format := ""
	switch {
	case strings.Contains(with, "format = 'PARQUET'"):
		format = "FORMAT PARQUET, COMPRESSION GZIP"
	case strings.Contains(with, "format = 'JSON'"):
		format = "FORMAT JSON, COMPRESSION GZIP"
	default:
		return fmt.Errorf("laketest: UNLOAD format in %q", with)
	}
	if !strings.Contains(with, "compression = 'GZIP'") || !strings.Contains(with, "partitioned_by = ARRAY['bucket']") {
		return fmt.Errorf("laketest: UNLOAD properties %q", with)
	}
	existing, err := a.s3.Client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &a.s3.Bucket, Prefix: &prefix, MaxKeys: aws.Int32(1)})
	if err != nil {
		return err
	}
	if len(existing.Contents) > 0 {
		return fmt.Errorf("HIVE_PATH_ALREADY_EXISTS: Target directory for table already exists: %s", target)
	}
	if err := a.db.Exec(ctx, "CREATE OR REPLACE TABLE main.unload AS\n"+sql); err != nil {
		return err
	}
	defer a.db.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS main.unload")
	buckets, err := a.db.Query(ctx, "SELECT DISTINCT bucket FROM main.unload ORDER BY bucket")
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "laketest-unload-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	desc, err := a.db.Query(ctx, "SELECT column_name FROM (DESCRIBE main.unload)")
	if err != nil {
		return err
	}
	var columns []string
	for _, r := range desc.Rows {
		if r[0].String != "bucket" {
			columns = append(columns, r[0].String)
		}
	}
	cols := strings.Join(columns, ", ")
	for _, row := range buckets.Rows {
		b := row[0].String
		file := filepath.ToSlash(filepath.Join(tmp, "part-"+b))
		if err := a.db.Exec(ctx, fmt.Sprintf("COPY (SELECT %s FROM main.unload WHERE bucket = %s ORDER BY %s) TO '%s' (%s)", cols, b, lake.UnloadOrder(columns), file, format)); err != nil {
			return err
		}
		body, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		// Athena names UNLOAD's files <query id>_<n>, without an extension.
		key := fmt.Sprintf("%sbucket=%s/20261130_000000_%05d_fake_%s", prefix, b, a.seq, b)
		if _, err := a.s3.Client.PutObject(ctx, &s3.PutObjectInput{Bucket: &a.s3.Bucket, Key: &key, Body: strings.NewReader(string(body))}); err != nil {
			return err
		}
	}
	return nil
}
