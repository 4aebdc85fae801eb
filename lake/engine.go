package lake

import (
	"context"
	"fmt"
	"strconv"

	"github.com/eventlake/eventlake/athena"
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
