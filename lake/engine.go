package lake

import (
	"context"
	"fmt"
	"strconv"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/tracker"
)

// MaxBuckets bounds the files of one rewritten partition: Athena's UNLOAD
// writes at most 100 partitions.
const MaxBuckets = 100

// Engine runs the lake's SQL (lake/sql) where the lake is: Athena for an S3
// lake (lake/athenaengine), DuckDB for a local folder (lake/duckengine). The SQL is
// the same; the Dialect names the little that differs.
type Engine interface {
	// Dialect is the engine's.
	Dialect() Dialect
	// Query runs a SELECT and returns its rows as Athena renders them.
	// scope lists the keys of the objects the SQL's Dialect.Source may
	// read (the SQL itself restricts "$path" to them where it matters); nil
	// means every object of the lake. Athena reads what its table holds
	// and ignores scope.
	Query(ctx context.Context, sql string, scope []string) (*athena.Result, error)
	// Unload writes the rows of a SELECT whose last column is "bucket"
	// under the store prefix dest (ending in "/"), one folder
	// bucket=<n>/ per bucket, as files in format (GZIP Parquet or gzip
	// NDJSON). dest must hold nothing yet.
	Unload(ctx context.Context, sql string, scope []string, dest string, format athena.Format) error
	// PublishLinks makes the identities view read the materialization of
	// the identity links links names (athena.ViewsDDLWith), once its files
	// are in place: Athena replaces the view in the Glue catalog (CREATE OR
	// REPLACE VIEW in the workgroup); DuckDB has nothing to do, because a
	// local lake's query runners define the view from the pointer
	// (athena.LinksPointerKey) that the Lake writes next.
	PublishLinks(ctx context.Context, links athena.Links) error
	// Close releases the engine.
	Close() error
}

// intCell reads the integer in row r, column c of res.
func intCell(res *athena.Result, r, c int) (int64, error) {
	if r >= len(res.Rows) || c >= len(res.Rows[r]) || !res.Rows[r][c].Valid {
		return 0, fmt.Errorf("lake: no value at row %d, column %d", r, c)
	}
	n, err := strconv.ParseInt(res.Rows[r][c].String, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("lake: %q at row %d, column %d is not an integer", res.Rows[r][c].String, r, c)
	}
	return n, nil
}

// UnloadOrder is the order of the rows in each file an Engine's Unload
// writes, for a SELECT whose columns (bucket left out) are columns: the
// rewrite's RewriteOrder for the events, the anonymous ID for the identity
// links (sql/identities.sql). Athena's UNLOAD keeps the SELECT's ORDER BY
// in each file; an engine that stores the rows first orders them again by
// this.
func UnloadOrder(columns []string) string {
	if len(columns) > 0 && columns[0] == tracker.FieldAnonymousID {
		return tracker.FieldAnonymousID
	}
	return RewriteOrder
}
