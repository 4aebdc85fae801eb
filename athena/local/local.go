package local

import (
	"context"
	"database/sql"
	"database/sql/driver"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/tracker"
)

//go:embed macros.sql
var macrosSQL string

// MacrosSQL returns the CREATE MACRO statements that give DuckDB the Trino
// functions the queries use (see macros.sql for the list and semantics).
func MacrosSQL() string { return macrosSQL }

// sessionSQL runs on every new DuckDB connection: Athena's session time zone
// and Trino's integer division; no in-memory cache of file contents (Athena
// reads the footers and column chunks a query needs every time, and so the
// bytes read here stay comparable); and the profiling that reports the
// number of files each scan read.
const sessionSQL = `SET TimeZone = 'UTC';
SET integer_division = true;
SET enable_external_file_cache = false;
PRAGMA enable_profiling = 'no_output';
SET custom_profiling_settings = '{"EXTRA_INFO": "true"}';`

// Config configures Open. The zero value of every field but Root means the
// default.
type Config struct {
	// Root is the folder laid out like the lake bucket:
	// <Root>/events/dt=YYYY-MM-DD/*.gz (gzip NDJSON) and/or *.parquet.
	// Required: an existing folder (an empty one is an empty lake) whose
	// name passes CheckRoot.
	Root string
	// Format restricts the events to one storage format. Empty reads both:
	// the events view is the union of the gzip NDJSON and the Parquet objects
	// present when a query starts.
	Format athena.Format
	// Threads caps DuckDB's worker threads; 0 means one per CPU.
	Threads int
	// FullScanIdentities ignores a materialization of the identity links
	// the folder holds (athena.LinksPointerKey): the identities view reads
	// the ID columns of every partition, its form before any
	// materialization. For comparisons; the answers are the same.
	FullScanIdentities bool

	// unpartitioned reads <Root>/*.json (plain NDJSON, no dt folders) and
	// derives dt from event_at, so every query reads every file. Only the
	// benchmark's baseline layout uses it.
	unpartitioned bool
	// unionByName always reads Parquet with union_by_name, even when every
	// object has the full schema; only the benchmark uses it, to measure
	// what that costs.
	unionByName bool
}

// DB runs the Athena queries on DuckDB over a local folder. It is safe for
// concurrent use; each Run uses its own DuckDB connection.
type DB struct {
	cfg  Config
	conn *duckdb.Connector
	db   *sql.DB

	mu      sync.Mutex // guards formats, links and schemas
	formats string     // the formats the events view reads now
	links   string     // the identity links the identities view reads now
	current *athena.Links
	// schemas records, per partition folder and Parquet object name,
	// whether the object has every column of tracker.EventFields(). Lake
	// objects are immutable (compaction writes new ones), so an object's
	// footer is read once.
	schemas map[string]map[string]bool
	run     sync.Mutex // one query at a time, for the bytes-read figure
}

// CheckRoot reports whether root can be a Config.Root: not empty, and free
// of the characters DuckDB's file globs and SQL string literals would read
// as syntax (* ? [ ] { } '). It does not look at the file system, so a
// command can check a lake folder it has yet to create.
func CheckRoot(root string) error {
	if root == "" {
		return errors.New("local athena: the lake folder is empty")
	}
	if strings.ContainsAny(root, "*?[]{}'") {
		return fmt.Errorf("local athena: lake folder %q contains a glob or quote character (* ? [ ] { } ')", root)
	}
	return nil
}

// lakeFiles is what the root holds now.
type lakeFiles struct {
	json, parquet bool
	// partial: a Parquet object seen before lacks a column.
	partial bool
	// unknown are the Parquet objects whose footers were not read yet.
	unknown []parquetObject
}

type parquetObject struct{ dir, name string }

// Open starts an in-memory DuckDB, loads the Trino macros, and defines the
// events view over cfg.Root, the identity_links view over the
// materializations under <Root>/identities/, and the events_dedup and
// identities views (the same DDL as on Athena; identities reads the
// materialization the folder's athena.LinksPointerKey names, if any, and
// every partition otherwise). Every query defines them again when the
// folder changed: new objects, a new materialization. It fails when
// cfg.Root does not exist or is not a folder: a mistyped path must not read
// as an empty lake. Close releases it.
func Open(ctx context.Context, cfg Config) (*DB, error) {
	if err := CheckRoot(cfg.Root); err != nil {
		return nil, err
	}
	if st, err := os.Stat(cfg.Root); err != nil {
		return nil, fmt.Errorf("local athena: lake folder: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("local athena: lake folder %s is not a folder", cfg.Root)
	}
	if cfg.Format != "" && cfg.Format != athena.FormatJSON && cfg.Format != athena.FormatParquet {
		return nil, fmt.Errorf("local athena: Config.Format %q: want json, parquet or empty", cfg.Format)
	}
	root, err := filepath.Abs(cfg.Root)
	if err != nil {
		return nil, fmt.Errorf("local athena: root %s: %w", cfg.Root, err)
	}
	cfg.Root = filepath.ToSlash(root)
	threads := cfg.Threads
	connector, err := duckdb.NewConnector("", func(execer driver.ExecerContext) error {
		stmts := sessionSQL
		if threads > 0 {
			stmts += fmt.Sprintf("\nSET threads = %d;", threads)
		}
		for _, s := range strings.Split(stmts, "\n") {
			if _, err := execer.ExecContext(context.Background(), s, nil); err != nil {
				return fmt.Errorf("duckdb session setting %q: %w", s, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("local athena: open duckdb: %w", err)
	}
	d := &DB{cfg: cfg, conn: connector, db: sql.OpenDB(connector)}
	if err := d.init(ctx); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *DB) init(ctx context.Context) error {
	if err := registerUDFs(ctx, d.db); err != nil {
		return fmt.Errorf("local athena: %w", err)
	}
	if _, err := d.db.ExecContext(ctx, macrosSQL); err != nil {
		return fmt.Errorf("local athena: load macros: %w", err)
	}
	return d.refreshEvents(ctx)
}

// Close closes the database.
func (d *DB) Close() error {
	err := d.db.Close()
	if cerr := d.conn.Close(); err == nil {
		err = cerr
	}
	return err
}

// duckType maps a Hive DDL type of tracker.EventFields() to DuckDB.
func duckType(hive string) (string, error) {
	t := strings.ReplaceAll(strings.TrimSpace(hive), " ", "")
	switch t {
	case "string":
		return "VARCHAR", nil
	case "bigint":
		return "BIGINT", nil
	case "int", "integer":
		return "INTEGER", nil
	case "double":
		return "DOUBLE", nil
	case "boolean":
		return "BOOLEAN", nil
	case "map<string,string>":
		return "MAP(VARCHAR, VARCHAR)", nil
	}
	return "", fmt.Errorf("type %q has no DuckDB mapping here", hive)
}

// ColumnsSpec returns the read_json columns struct for tracker.EventFields():
// {'user_id': 'VARCHAR', ..., 'attributes': 'MAP(VARCHAR, VARCHAR)'}.
func ColumnsSpec() (string, error) {
	parts := make([]string, 0, len(tracker.EventFields()))
	for _, f := range tracker.EventFields() {
		t, err := duckType(f.AthenaType)
		if err != nil {
			return "", fmt.Errorf("column %s: %w", f.Name, err)
		}
		parts = append(parts, fmt.Sprintf("'%s': '%s'", f.Name, t))
	}
	return "{" + strings.Join(parts, ", ") + "}", nil
}

func columnList() string {
	return strings.Join(tracker.FieldNames(), ", ")
}

// present lists the objects under the root: which formats have at least
// one and, when Parquet is read, whether an object seen before lacks a
// column and which objects are new. The caller holds d.mu.
func (d *DB) present() (lakeFiles, error) {
	var lf lakeFiles
	if d.cfg.unpartitioned {
		m, err := filepath.Glob(filepath.Join(d.cfg.Root, "*.json"))
		lf.json = len(m) > 0
		return lf, err
	}
	dirs, err := filepath.Glob(filepath.Join(d.cfg.Root, "events", tracker.PartitionColumn+"=*"))
	if err != nil {
		return lf, err
	}
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return lf, err
		}
		seen := d.schemas[dir]
		for _, e := range entries {
			switch {
			case e.IsDir():
			case strings.HasSuffix(e.Name(), ".gz"):
				lf.json = true
			case strings.HasSuffix(e.Name(), ".parquet") && d.cfg.Format != athena.FormatJSON:
				lf.parquet = true
				if full, ok := seen[e.Name()]; ok {
					lf.partial = lf.partial || !full
				} else {
					lf.unknown = append(lf.unknown, parquetObject{dir, e.Name()})
				}
			}
		}
	}
	if d.cfg.Format == athena.FormatParquet {
		lf.json = false
	}
	return lf, nil
}

// partialSchemas reports whether some Parquet object lacks a column of
// tracker.EventFields() (an object written before the column existed),
// reading the footers of the objects not seen before. The caller holds d.mu.
func (d *DB) partialSchemas(ctx context.Context, lf lakeFiles) (bool, error) {
	partial := lf.partial
	const batch = 256
	for start := 0; start < len(lf.unknown); start += batch {
		part := lf.unknown[start:min(start+batch, len(lf.unknown))]
		paths := make([]string, len(part))
		quoted := make([]string, len(part))
		for i, o := range part {
			paths[i] = filepath.ToSlash(filepath.Join(o.dir, o.name))
			quoted[i] = sqlString(paths[i])
		}
		cols, err := d.parquetColumns(ctx, quoted)
		if err != nil {
			return false, err
		}
		for i, o := range part {
			full := true
			for _, f := range tracker.FieldNames() {
				full = full && cols[paths[i]][f]
			}
			if d.schemas == nil {
				d.schemas = map[string]map[string]bool{}
			}
			if d.schemas[o.dir] == nil {
				d.schemas[o.dir] = map[string]bool{}
			}
			d.schemas[o.dir][o.name] = full
			partial = partial || !full
		}
	}
	return partial, nil
}

// parquetColumns returns the column names of each Parquet object (quoted
// paths), from their footers.
func (d *DB) parquetColumns(ctx context.Context, quoted []string) (map[string]map[string]bool, error) {
	rows, err := d.db.QueryContext(ctx, "SELECT file_name, name FROM parquet_schema(["+strings.Join(quoted, ", ")+"])")
	if err != nil {
		return nil, fmt.Errorf("local athena: read Parquet schemas: %w", err)
	}
	defer rows.Close()
	cols := map[string]map[string]bool{}
	for rows.Next() {
		var file, name string
		if err := rows.Scan(&file, &name); err != nil {
			return nil, fmt.Errorf("local athena: read Parquet schemas: %w", err)
		}
		if cols[file] == nil {
			cols[file] = map[string]bool{}
		}
		cols[file][name] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("local athena: read Parquet schemas: %w", err)
	}
	return cols, nil
}

// refreshEvents (re)defines the events view over the formats present now,
// and the identity links and views (refreshLinks). Parquet objects are read
// by column name with union_by_name only when some object lacks a column
// (written before the column existed): DuckDB then reads every object's
// footer at every query, a cost that Athena, which reads columns by name
// anyway, does not have.
func (d *DB) refreshEvents(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.defineEvents(ctx); err != nil {
		return err
	}
	return d.refreshLinks(ctx)
}

func (d *DB) defineEvents(ctx context.Context) error {
	lf, err := d.present()
	if err != nil {
		return fmt.Errorf("local athena: list %s: %w", d.cfg.Root, err)
	}
	union := d.cfg.unionByName
	if lf.parquet && !union {
		if union, err = d.partialSchemas(ctx, lf); err != nil {
			return err
		}
	}
	key := fmt.Sprintf("json=%t parquet=%t union_by_name=%t", lf.json, lf.parquet, union)
	if d.formats == key {
		return nil
	}
	spec, err := ColumnsSpec()
	if err != nil {
		return err
	}
	cols := columnList()
	dt := tracker.PartitionColumn
	var parts []string
	switch {
	case d.cfg.unpartitioned:
		if lf.json {
			parts = append(parts, fmt.Sprintf(
				"SELECT %s, substr(event_at, 1, 10) AS %s FROM read_json('%s/*.json', format = 'newline_delimited', records = true, compression = 'uncompressed', columns = %s)",
				cols, dt, d.cfg.Root, spec))
		}
	default:
		if lf.json {
			parts = append(parts, fmt.Sprintf(
				"SELECT %s, %s FROM read_json('%s/events/%s=*/*.gz', format = 'newline_delimited', records = true, compression = 'gzip', hive_partitioning = true, hive_types = {'%s': 'VARCHAR'}, columns = %s)",
				cols, dt, d.cfg.Root, dt, dt, spec))
		}
		if lf.parquet {
			parts = append(parts, fmt.Sprintf(
				"SELECT %s, %s FROM read_parquet('%s/events/%s=*/*.parquet', hive_partitioning = true, hive_types = {'%s': 'VARCHAR'}, union_by_name = %t)",
				cols, dt, d.cfg.Root, dt, dt, union))
		}
	}
	if len(parts) == 0 {
		// No objects yet: an empty view with the schema, so queries return
		// no rows instead of failing.
		var sel []string
		for _, f := range tracker.EventFields() {
			t, _ := duckType(f.AthenaType)
			sel = append(sel, fmt.Sprintf("CAST(NULL AS %s) AS %s", t, f.Name))
		}
		sel = append(sel, "CAST(NULL AS VARCHAR) AS "+dt)
		parts = append(parts, "SELECT "+strings.Join(sel, ", ")+" WHERE false")
	}
	view := "CREATE OR REPLACE VIEW main." + athena.TableName + " AS\n" + strings.Join(parts, "\nUNION ALL\n")
	if _, err := d.db.ExecContext(ctx, view); err != nil {
		return fmt.Errorf("local athena: create view %s: %w", athena.TableName, err)
	}
	d.formats = key
	return nil
}

// linksPointer is what the runner reads of the lake's document at
// athena.LinksPointerKey (lake.IdentitiesState).
type linksPointer struct {
	athena.Links
	Rows int64 `json:"rows"`
}

// readLinks returns the materialization the folder's pointer names, nil
// when there is none (or Config.FullScanIdentities).
func (d *DB) readLinks() (*linksPointer, error) {
	if d.cfg.FullScanIdentities || d.cfg.unpartitioned {
		return nil, nil
	}
	path := filepath.Join(d.cfg.Root, filepath.FromSlash(athena.LinksPointerKey))
	body, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("local athena: read the identity links pointer: %w", err)
	}
	var p linksPointer
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("local athena: the identity links pointer %s: %w", path, err)
	}
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("local athena: the identity links pointer %s: %w", path, err)
	}
	return &p, nil
}

// refreshLinks (re)defines identity_links over the materializations in the
// folder (every run, by its run=<run> folder, as Athena's table with
// injected projection) and the events_dedup and identities views, the
// latter reading the materialization the pointer names. A pointer whose
// materialization has rows but no files is an error: the view would miss
// links. The caller holds d.mu.
func (d *DB) refreshLinks(ctx context.Context) error {
	p, err := d.readLinks()
	if err != nil {
		return err
	}
	dir := filepath.Join(d.cfg.Root, strings.TrimSuffix(athena.LinksPrefix, "/"))
	files, err := filepath.Glob(filepath.Join(dir, athena.LinksPartition+"=*", "*.parquet"))
	if err != nil {
		return fmt.Errorf("local athena: list identity links: %w", err)
	}
	var links *athena.Links
	if p != nil {
		links = &p.Links
		current, err := filepath.Glob(filepath.Join(dir, athena.LinksPartition+"="+p.Run, "*.parquet"))
		if err != nil {
			return fmt.Errorf("local athena: list identity links: %w", err)
		}
		if p.Rows > 0 && len(current) == 0 {
			return fmt.Errorf("local athena: the identity links materialization %s holds %d rows but %s has no files", p.Run, p.Rows, filepath.Join(dir, athena.LinksPartition+"="+p.Run))
		}
	}
	key := fmt.Sprintf("files=%t links=%v", len(files) > 0, links)
	if d.links == key {
		return nil
	}
	var sel []string
	for _, c := range athena.LinksColumns() {
		sel = append(sel, c.Name)
	}
	var def string
	if len(files) > 0 {
		def = fmt.Sprintf("SELECT %s, %s FROM read_parquet('%s/%s=*/*.parquet', hive_partitioning = true, hive_types = {'%s': 'VARCHAR'})",
			strings.Join(sel, ", "), athena.LinksPartition, filepath.ToSlash(dir), athena.LinksPartition, athena.LinksPartition)
	} else {
		for i, c := range sel {
			sel[i] = "CAST(NULL AS VARCHAR) AS " + c
		}
		def = "SELECT " + strings.Join(sel, ", ") + ", CAST(NULL AS VARCHAR) AS " + athena.LinksPartition + " WHERE false"
	}
	if _, err := d.db.ExecContext(ctx, "CREATE OR REPLACE VIEW main."+athena.LinksTable+" AS\n"+def); err != nil {
		return fmt.Errorf("local athena: create view %s: %w", athena.LinksTable, err)
	}
	views, err := athena.ViewsDDLWith("main", links)
	if err != nil {
		return err
	}
	for _, view := range views {
		if _, err := d.db.ExecContext(ctx, view); err != nil {
			return fmt.Errorf("local athena: create view: %w", err)
		}
	}
	d.links, d.current = key, links
	return nil
}

// Links returns the materialization of the identity links the identities
// view read at the last query (nil: every partition).
func (d *DB) Links() *athena.Links {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.current == nil {
		return nil
	}
	l := *d.current
	return &l
}

// Run runs a query of the library with its checked arguments, unchanged.
// Arguments that Query.Check refuses (out of range, for another parameter)
// fail with an *athena.ArgError before DuckDB sees them. It implements
// athena.Runner.
func (d *DB) Run(ctx context.Context, q athena.Query, args []athena.Arg) (*athena.Result, error) {
	if err := q.Check(args); err != nil {
		return nil, err
	}
	vals := make([]any, len(args))
	for i, a := range args {
		vals[i] = a.Value()
	}
	res, err := d.Query(ctx, q.SQL, vals...)
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", q.Name, err)
	}
	return res, nil
}

// Query runs any SQL with "?" arguments (string, int64, ...) after refreshing
// the events view, and returns the rows as Athena renders them as text (see
// Render). Queries run one at a time, so that Stats.BytesScanned can be the
// bytes the process read from files while this query ran (rchar of
// /proc/self/io; -1 where that does not exist): the whole gzip objects DuckDB
// opened and the Parquet footers and column chunks it read, which is what
// Athena bills. Stats.FilesRead is the number of objects the scans opened.
func (d *DB) Query(ctx context.Context, query string, args ...any) (*athena.Result, error) {
	d.run.Lock()
	defer d.run.Unlock()
	// Under the run lock: the footers a refresh may read are not counted
	// in another query's bytes.
	if err := d.refreshEvents(ctx); err != nil {
		return nil, err
	}
	start := time.Now()
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("duckdb connection: %w", err)
	}
	defer conn.Close()
	before := readBytes()
	rows, err := conn.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	res, err := collect(rows)
	if err != nil {
		return nil, err
	}
	after := readBytes()
	res.Stats = athena.Stats{Engine: "duckdb", Elapsed: time.Since(start), BytesScanned: -1}
	if before >= 0 && after >= before {
		res.Stats.BytesScanned = after - before
	}
	info, err := duckdb.GetProfilingInfo(conn)
	switch {
	case err == nil:
		res.Stats.FilesRead = filesRead(info)
	case strings.Contains(err.Error(), "no profiling information available"):
		// DuckDB answered from metadata without running an operator (count(*)
		// of a single Parquet object reads its footer): no scan to count.
	default:
		return nil, fmt.Errorf("duckdb profiling info: %w", err)
	}
	return res, nil
}

var filesReadRE = regexp.MustCompile(`Total Files Read=(\d+)`)

// filesRead adds up the "Total Files Read" that DuckDB's scans report.
func filesRead(p duckdb.ProfilingInfo) int {
	n := 0
	for _, m := range filesReadRE.FindAllStringSubmatch(p.Metrics["EXTRA_INFO"], -1) {
		v, _ := strconv.Atoi(m[1])
		n += v
	}
	for _, c := range p.Children {
		n += filesRead(c)
	}
	return n
}

// Exec runs SQL that returns no rows, for example a COPY.
func (d *DB) Exec(ctx context.Context, query string, args ...any) error {
	if err := d.refreshEvents(ctx); err != nil {
		return err
	}
	if _, err := d.db.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("duckdb: %w", err)
	}
	return nil
}

func collect(rows *sql.Rows) (*athena.Result, error) {
	defer rows.Close()
	types, err := rows.ColumnTypes()
	if err != nil {
		return nil, fmt.Errorf("duckdb columns: %w", err)
	}
	res := &athena.Result{Columns: make([]athena.Column, len(types))}
	for i, t := range types {
		res.Columns[i] = athena.Column{Name: t.Name(), Type: trinoTypeName(t.DatabaseTypeName())}
	}
	vals := make([]any, len(types))
	ptrs := make([]any, len(types))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, fmt.Errorf("duckdb scan: %w", err)
		}
		row := make([]sql.NullString, len(vals))
		for i, v := range vals {
			row[i] = Render(v, res.Columns[i].Type)
		}
		res.Rows = append(res.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("duckdb: %w", err)
	}
	return res, nil
}

// trinoTypeName turns a DuckDB type name into the name Athena reports.
func trinoTypeName(t string) string {
	switch t {
	case "VARCHAR":
		return "varchar"
	case "BIGINT", "HUGEINT", "UBIGINT":
		return "bigint"
	case "INTEGER", "UINTEGER":
		return "integer"
	case "SMALLINT", "USMALLINT":
		return "smallint"
	case "TINYINT", "UTINYINT":
		return "tinyint"
	case "DOUBLE":
		return "double"
	case "FLOAT":
		return "real"
	case "BOOLEAN":
		return "boolean"
	case "DATE":
		return "date"
	case "TIMESTAMP":
		return "timestamp"
	case "TIMESTAMPTZ", "TIMESTAMP WITH TIME ZONE":
		return "timestamp with time zone"
	}
	if strings.HasPrefix(t, "MAP(") {
		return "map"
	}
	if strings.HasSuffix(t, "[]") {
		return "array"
	}
	return strings.ToLower(t)
}

// Render turns a value scanned from DuckDB into the text Athena returns for
// it: integers in decimal, dates as 2006-01-02, timestamps as
// 2006-01-02 15:04:05.000 (with " UTC" for a timestamp with time zone),
// decimals with every digit of their scale (3.50), maps
// as {k1=v1, k2=v2} sorted by key, arrays as [a, b], NULL as invalid.
func Render(v any, typ string) sql.NullString {
	if v == nil {
		return sql.NullString{}
	}
	return sql.NullString{String: renderValue(v, typ), Valid: true}
}

func renderValue(v any, typ string) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case bool:
		return strconv.FormatBool(x)
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x)
	case *big.Int:
		return x.String()
	case duckdb.Decimal:
		return renderDecimal(x)
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case time.Time:
		switch typ {
		case "date":
			return x.UTC().Format("2006-01-02")
		case "timestamp with time zone":
			return x.UTC().Format("2006-01-02 15:04:05.000") + " UTC"
		default:
			return x.UTC().Format("2006-01-02 15:04:05.000")
		}
	case duckdb.OrderedMap:
		m := duckdb.Map{}
		keys, vals := x.Keys(), x.Values()
		for i := range keys {
			m[keys[i]] = vals[i]
		}
		return renderValue(m, typ)
	case *duckdb.OrderedMap:
		return renderValue(*x, typ)
	case duckdb.Map:
		type kv struct{ k, v string }
		pairs := make([]kv, 0, len(x))
		for k, val := range x {
			pairs = append(pairs, kv{renderValue(k, ""), renderNullable(val)})
		}
		slices.SortFunc(pairs, func(a, b kv) int { return strings.Compare(a.k, b.k) })
		parts := make([]string, len(pairs))
		for i, p := range pairs {
			parts[i] = p.k + "=" + p.v
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = renderNullable(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Map {
		m := duckdb.Map{}
		for _, k := range rv.MapKeys() {
			m[k.Interface()] = rv.MapIndex(k).Interface()
		}
		return renderValue(m, typ)
	}
	return fmt.Sprint(v)
}

// renderDecimal writes a decimal with all its scale's digits, as Athena does
// (DECIMAL(5,2) 3.5 is "3.50"); duckdb.Decimal.String drops trailing zeros.
func renderDecimal(d duckdb.Decimal) string {
	if d.Value == nil {
		return "0"
	}
	digits := new(big.Int).Abs(d.Value).String()
	sign := ""
	if d.Value.Sign() < 0 {
		sign = "-"
	}
	scale := int(d.Scale)
	if scale == 0 {
		return sign + digits
	}
	if len(digits) <= scale {
		digits = strings.Repeat("0", scale-len(digits)+1) + digits
	}
	return sign + digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
}

func renderNullable(v any) string {
	if v == nil {
		return "null"
	}
	return renderValue(v, "")
}
