// Package athenaengine runs the lake's SQL on Athena: the lake.Engine of
// the scheduled compaction Lambda and of `eventlake compact|forget|expire
// -bucket`. It is apart from package lake so that what imports lake for its
// store and suppression list (the relay) does not link the Athena client.
package athenaengine

import (
	"context"
	"fmt"
	"strings"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/remote"
	"github.com/eventlake/eventlake/lake"
)

// Engine runs the lake's SQL on Athena, in the pipeline's workgroup
// and database, over the events table (whose hidden column "$path" names
// each row's object). Unload is Athena's UNLOAD into the lake bucket's
// staging prefix. It is safe for concurrent use.
//
// Cost: every statement is billed for the bytes it scans (Parquet: the
// columns it reads), at least 10 MB; a rewrite of a day scans the day about
// four times (UNLOAD and three counts of the check), an erasure's search
// scans user_id and anonymous_id of every partition once.
type Engine struct {
	runner *remote.Runner
	store  *lake.S3Store
}

// New returns an engine that runs statements with runner and unloads into
// store's bucket.
func New(runner *remote.Runner, store *lake.S3Store) *Engine {
	return &Engine{runner: runner, store: store}
}

// Dialect implements lake.Engine.
func (e *Engine) Dialect() lake.Dialect { return lake.AthenaDialect() }

// PublishLinks implements lake.Engine: CREATE OR REPLACE VIEW identities
// (athena.ViewsDDLWith) in the runner's workgroup and database, which
// updates the Glue view (the caller's role needs glue:UpdateTable on it).
func (e *Engine) PublishLinks(ctx context.Context, links athena.Links) error {
	ddl, err := athena.ViewsDDLWith(e.runner.Database(), &links)
	if err != nil {
		return err
	}
	if _, err := e.runner.Execute(ctx, ddl[len(ddl)-1], nil); err != nil {
		return fmt.Errorf("replace the identities view: %w", err)
	}
	return nil
}

// Close implements lake.Engine.
func (e *Engine) Close() error { return nil }

// Query implements lake.Engine.
func (e *Engine) Query(ctx context.Context, sql string, _ []string) (*athena.Result, error) {
	return e.runner.Execute(ctx, sql, nil)
}

// Unload implements lake.Engine:
//
//	UNLOAD (<sql>) TO 's3://bucket/<dest>' WITH (format = 'PARQUET', compression = 'GZIP', partitioned_by = ARRAY['bucket'])
//
// Athena checks that the destination is empty, writes its files under
// bucket=<n>/ (each file sorted; several files per bucket when its writers
// run in parallel) and leaves whatever it wrote when it fails, which is why
// every run unloads into a prefix of its own.
func (e *Engine) Unload(ctx context.Context, sql string, _ []string, dest string, format athena.Format) error {
	if err := lake.CheckKey(strings.TrimSuffix(dest, "/") + "/x"); err != nil || !strings.HasSuffix(dest, "/") {
		return fmt.Errorf("lake: unload destination %q: want a prefix ending in /", dest)
	}
	target, err := lake.QuoteSQL(e.store.URI(dest))
	if err != nil {
		return err
	}
	f := "PARQUET"
	if format == athena.FormatJSON {
		f = "JSON"
	}
	stmt := fmt.Sprintf("UNLOAD (\n%s\n) TO %s WITH (format = '%s', compression = 'GZIP', partitioned_by = ARRAY['bucket'])", sql, target, f)
	if _, err := e.runner.Execute(ctx, stmt, nil); err != nil {
		return fmt.Errorf("unload into %s: %w", target, err)
	}
	return nil
}
