package lake

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/tracker"
)

// duckSource is the view DuckDBEngine defines over the objects in scope.
const duckSource = "lake_events"

// DuckDBEngine runs the lake's SQL on an in-process DuckDB (athena/local:
// the Trino macros, the events, events_dedup and identities views) over a
// FolderStore. Before each statement it defines lake_events, the events of
// the objects in scope with their file name as "$path", so the SQL written
// for Athena's "$path" runs unchanged; Unload is COPY ... TO with
// PARTITION_BY (bucket). It is safe for concurrent use; statements run one
// at a time.
type DuckDBEngine struct {
	store *FolderStore
	db    *local.DB
	mu    sync.Mutex
}

// DuckDBConfig configures NewDuckDBEngine. The zero value means defaults.
type DuckDBConfig struct {
	// Threads caps DuckDB's threads; 0 means one per CPU.
	Threads int
}

// NewDuckDBEngine opens DuckDB over store's folder. Close releases it.
func NewDuckDBEngine(ctx context.Context, store *FolderStore, cfg DuckDBConfig) (*DuckDBEngine, error) {
	db, err := local.Open(ctx, local.Config{Root: store.Root(), Threads: cfg.Threads})
	if err != nil {
		return nil, err
	}
	return &DuckDBEngine{store: store, db: db}, nil
}

// Dialect implements Engine.
func (e *DuckDBEngine) Dialect() Dialect { return DuckDBDialect }

// Close implements Engine.
func (e *DuckDBEngine) Close() error { return e.db.Close() }

// DB returns the underlying database (the events views of athena/local).
func (e *DuckDBEngine) DB() *local.DB { return e.db }

// defineSource (re)defines lake_events over the objects in scope (every
// object under events/ when scope is nil).
func (e *DuckDBEngine) defineSource(ctx context.Context, scope []string) error {
	if scope == nil {
		objs, err := e.store.List(ctx, eventsPrefix)
		if err != nil {
			return err
		}
		scope = keysOf(objs)
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
	cols := columns()
	dt := tracker.PartitionColumn
	var parts []string
	if len(parquet) > 0 {
		list, err := sqlStrings(parquet)
		if err != nil {
			return err
		}
		parts = append(parts, fmt.Sprintf(
			`SELECT %s, %s, filename AS "$path" FROM read_parquet([%s], hive_partitioning = true, hive_types = {'%s': 'VARCHAR'}, union_by_name = true, filename = true)`,
			cols, dt, list, dt))
	}
	if len(json) > 0 {
		list, err := sqlStrings(json)
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
	return e.db.Exec(ctx, "CREATE OR REPLACE VIEW main."+duckSource+" AS\n"+strings.Join(parts, "\nUNION ALL\n"))
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

// Query implements Engine.
func (e *DuckDBEngine) Query(ctx context.Context, sql string, scope []string) (*athena.Result, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.defineSource(ctx, scope); err != nil {
		return nil, err
	}
	return e.db.Query(ctx, sql)
}

// Unload implements Engine: it materializes the SELECT in a table, then
// writes each bucket with COPY ... TO <dest>bucket=<n>/data_0.parquet
// (FORMAT PARQUET, COMPRESSION GZIP), or FORMAT JSON to data_0.json.gz, in
// the rewrite's order. (DuckDB's PARTITION_BY writes Parquet but not JSON,
// and does not promise the order within a partition.)
func (e *DuckDBEngine) Unload(ctx context.Context, sql string, scope []string, dest string, format athena.Format) error {
	if err := checkPrefix(dest); err != nil || !strings.HasSuffix(dest, "/") {
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
	for i := range res.Rows {
		b, err := intCell(res, i, 0)
		if err != nil {
			return err
		}
		dir := e.store.path(fmt.Sprintf("%sbucket=%d", dest, b))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		target, err := sqlString(filepath.ToSlash(filepath.Join(dir, "data_0"+ext)))
		if err != nil {
			return err
		}
		if err := e.db.Exec(ctx, fmt.Sprintf("COPY (SELECT %s FROM %s WHERE bucket = %d ORDER BY %s) TO %s (%s)",
			columns(), table, b, rewriteOrder, target, opts)); err != nil {
			return err
		}
	}
	return nil
}
