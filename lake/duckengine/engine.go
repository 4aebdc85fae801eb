// Package duckengine runs the lake's SQL on an in-process DuckDB over a
// local lake folder: the lake.Engine of `eventlake compact|forget|expire
// -local`, and of the tests. It is apart from package lake because DuckDB
// needs cgo, and the Lambdas that use package lake are built without it.
package duckengine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/tracker"
)

// Engine runs the lake's SQL on an in-process DuckDB (athena/local:
// the Trino macros, the events, events_dedup and identities views) over a
// FolderStore. Before each statement it defines lake_events, the events of
// the objects in scope with their file name as "$path", so the SQL written
// for Athena's "$path" runs unchanged; Unload is COPY ... TO with
// PARTITION_BY (bucket). It is safe for concurrent use; statements run one
// at a time.
type Engine struct {
	store *lake.FolderStore
	db    *local.DB
	mu    sync.Mutex
}

// Config configures New. The zero value means defaults.
type Config struct {
	// Threads caps DuckDB's threads; 0 means one per CPU.
	Threads int
}

// New opens DuckDB over store's folder. Close releases it.
func New(ctx context.Context, store *lake.FolderStore, cfg Config) (*Engine, error) {
	db, err := local.Open(ctx, local.Config{Root: store.Root(), Threads: cfg.Threads})
	if err != nil {
		return nil, err
	}
	return &Engine{store: store, db: db}, nil
}

// Dialect implements lake.Engine.
func (e *Engine) Dialect() lake.Dialect { return lake.DuckDBDialect() }

// PublishLinks implements lake.Engine. The query runners of a local lake
// (athena/local, this engine's own included) define the identities view
// from the pointer the Lake writes after this, at their next query: there
// is no catalog to change.
func (e *Engine) PublishLinks(context.Context, athena.Links) error { return nil }

// Close implements lake.Engine.
func (e *Engine) Close() error { return e.db.Close() }

// DB returns the underlying database (the events views of athena/local).
func (e *Engine) DB() *local.DB { return e.db }

// defineSource (re)defines lake_events over the objects in scope (every
// object under events/ when scope is nil).
func (e *Engine) defineSource(ctx context.Context, scope []string) error {
	if scope == nil {
		objs, err := e.store.List(ctx, "events/")
		if err != nil {
			return err
		}
		scope = make([]string, len(objs))
		for i, o := range objs {
			scope[i] = o.Key
		}
	}
	var parquet, json []string
	for _, k := range scope {
		if strings.ContainsAny(k, "*?[]{}") {
			return fmt.Errorf("lake: key %q holds a glob character DuckDB would expand", k)
		}
		switch {
		case strings.HasSuffix(k, ".parquet"):
			parquet = append(parquet, e.store.URI(k))
		case strings.HasSuffix(k, ".gz"):
			json = append(json, e.store.URI(k))
		}
	}
	cols := strings.Join(tracker.FieldNames(), ", ")
	dt := tracker.PartitionColumn
	var parts []string
	if len(parquet) > 0 {
		list, err := quoteAll(parquet)
		if err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf(
			`SELECT %s, %s, filename AS "$path" FROM read_parquet([%s], hive_partitioning = true, hive_types = {'%s': 'VARCHAR'}, union_by_name = true, filename = true)`,
			cols, dt, list, dt))
	}
	if len(json) > 0 {
		list, err := quoteAll(json)
		if err != nil {
			return err
		}
		spec, err := local.ColumnsSpec()
		if err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf(
			`SELECT %s, %s, filename AS "$path" FROM read_json([%s], format = 'newline_delimited', records = true, compression = 'gzip', hive_partitioning = true, hive_types = {'%s': 'VARCHAR'}, columns = %s, filename = true)`,
			cols, dt, list, dt, spec))
	}
	if len(parts) == 0 {
		spec, err := emptySelect()
		if err != nil {
			return err
		}
		parts = append(parts, spec)
	}
	return e.db.Exec(ctx, "CREATE OR REPLACE VIEW main."+lake.DuckDBDialect().Source+" AS\n"+strings.Join(parts, "\nUNION ALL\n"))
}

// emptySelect is a relation with lake_events' columns and no rows.
func emptySelect() (string, error) {
	var sel []string
	for _, f := range tracker.EventFields() {
		t, ok := duckTypes[f.AthenaType]
		if !ok {
			return "", fmt.Errorf("lake: column %s: no DuckDB type for %s", f.Name, f.AthenaType)
		}
		sel = append(sel, fmt.Sprintf("CAST(NULL AS %s) AS %s", t, f.Name))
	}
	sel = append(sel, "CAST(NULL AS VARCHAR) AS "+tracker.PartitionColumn, `CAST(NULL AS VARCHAR) AS "$path"`)
	return "SELECT " + strings.Join(sel, ", ") + " WHERE false", nil
}

var duckTypes = map[string]string{
	"string": "VARCHAR", "boolean": "BOOLEAN", "bigint": "BIGINT", "int": "INTEGER", "double": "DOUBLE",
	"map<string,string>": "MAP(VARCHAR, VARCHAR)",
}

// Query implements lake.Engine.
func (e *Engine) Query(ctx context.Context, sql string, scope []string) (*athena.Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.defineSource(ctx, scope); err != nil {
		return nil, err
	}
	return e.db.Query(ctx, sql)
}

// Unload implements lake.Engine: it materializes the SELECT in a table, then
// writes each bucket with COPY ... TO <dest>bucket=<n>/data_0.parquet
// (FORMAT PARQUET, COMPRESSION GZIP), or FORMAT JSON to data_0.json.gz, in
// lake.UnloadOrder. (DuckDB's PARTITION_BY writes Parquet but not JSON,
// and does not promise the order within a partition.)
func (e *Engine) Unload(ctx context.Context, sql string, scope []string, dest string, format athena.Format) error {
	if err := lake.CheckKey(strings.TrimSuffix(dest, "/") + "/x"); err != nil || !strings.HasSuffix(dest, "/") {
		return fmt.Errorf("lake: unload destination %q: want a prefix ending in /", dest)
	}
	existing, err := e.store.List(ctx, dest)
	if err != nil {
		return err
	}
	if len(existing) > 0 {
		return fmt.Errorf("lake: unload destination %s holds %d objects already", dest, len(existing))
	}
	opts, ext := "FORMAT PARQUET, COMPRESSION GZIP", ".parquet"
	if format == athena.FormatJSON {
		opts, ext = "FORMAT JSON, COMPRESSION GZIP", ".json.gz"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.defineSource(ctx, scope); err != nil {
		return err
	}
	const table = "main.lake_rewrite"
	if err := e.db.Exec(ctx, "CREATE OR REPLACE TABLE "+table+" AS\n"+sql); err != nil {
		return err
	}
	defer e.db.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+table)
	res, err := e.db.Query(ctx, "SELECT DISTINCT bucket FROM "+table+" ORDER BY bucket")
	if err != nil {
		return err
	}
	desc, err := e.db.Query(ctx, "SELECT column_name FROM (DESCRIBE "+table+")")
	if err != nil {
		return err
	}
	var cols []string
	for _, r := range desc.Rows {
		if r[0].String != "bucket" {
			cols = append(cols, r[0].String)
		}
	}
	for i := range res.Rows {
		b, err := strconv.Atoi(res.Rows[i][0].String)
		if err != nil {
			return fmt.Errorf("lake: bucket %q: %w", res.Rows[i][0].String, err)
		}
		dir := filepath.FromSlash(e.store.URI(fmt.Sprintf("%sbucket=%d", dest, b)))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		target, err := lake.QuoteSQL(filepath.ToSlash(filepath.Join(dir, "data_0"+ext)))
		if err != nil {
			return err
		}
		if err := e.db.Exec(ctx, fmt.Sprintf("COPY (SELECT %s FROM %s WHERE bucket = %d ORDER BY %s) TO %s (%s)",
			strings.Join(cols, ", "), table, b, lake.UnloadOrder(cols), target, opts)); err != nil {
			return err
		}
	}
	return nil
}

func quoteAll(ss []string) (string, error) {
	out := make([]string, len(ss))
	for i, s := range ss {
		q, err := lake.QuoteSQL(s)
		if err != nil {
			return "", err
		}
		out[i] = q
	}
	return strings.Join(out, ", "), nil
}
