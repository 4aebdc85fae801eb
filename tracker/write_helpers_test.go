package tracker_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/tracker"
)

// startedServer is the DynamoDB Local the tests started, for the examples
// (which run after the tests and have no testing.TB to ask for it).
var startedServer atomic.Pointer[dynamolocal.Server]

// newWriteEnv returns a test environment whose events table is like
// tracker.EventsTableDef() but has no stream. DynamoDB Local's cost per write
// grows with the number of stream records it holds, also of deleted tables
// (measured: PutItem fell from ~200 to ~15/s after 40,000 writes to a
// table with a stream; without one it stayed put), so write-heavy tests
// would slow down every later test of the binary, which shares one DynamoDB
// Local. Nothing in the write path depends on the stream; the test of the
// stream itself uses dynamolocal.NewEnv.
func newWriteEnv(tb testing.TB) *dynamolocal.Env {
	tb.Helper()
	env := *dynamolocal.NewEnv(tb)
	def := tracker.EventsTableDef()
	def.StreamNewImage = false
	env.EventsTable += "-nostream"
	ctx := testCtx(tb, 2*time.Minute)
	if err := dynamolocal.CreateTable(ctx, env.Client, def, env.EventsTable); err != nil {
		tb.Fatalf("DynamoDB Local: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := dynamolocal.DeleteTable(ctx, env.Client, env.EventsTable); err != nil {
			tb.Logf("cleanup: %v", err)
		}
	})
	return &env
}

// newWriteTracker returns a Tracker on env's tables, with cfg's table names
// filled in.
func newWriteTracker(tb testing.TB, env *dynamolocal.Env, db tracker.DynamoDB, cfg tracker.Config) *tracker.Tracker {
	tb.Helper()
	startedServer.CompareAndSwap(nil, env.Server)
	cfg.EventsTable, cfg.SummaryTable = env.EventsTable, env.SummaryTable
	if db == nil {
		db = env.Client
	}
	tr, err := tracker.New(db, cfg)
	if err != nil {
		tb.Fatalf("tracker.New: %v", err)
	}
	return tr
}

// testCtx returns a context that ends with the test, bounded by d.
func testCtx(tb testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	tb.Cleanup(cancel)
	return ctx
}

// countEvents counts the items of the events table with a paginated
// Select=COUNT scan, in two parallel segments (DynamoDB Local scans slowly).
func countEvents(tb testing.TB, env *dynamolocal.Env) int {
	tb.Helper()
	ctx := testCtx(tb, 5*time.Minute)
	const segments = 2
	var (
		wg    sync.WaitGroup
		total atomic.Int64
		errs  = make(chan error, segments)
	)
	for seg := range segments {
		wg.Go(func() {
			p := dynamodb.NewScanPaginator(env.Client, &dynamodb.ScanInput{
				TableName:     aws.String(env.EventsTable),
				Select:        types.SelectCount,
				Segment:       aws.Int32(int32(seg)),
				TotalSegments: aws.Int32(segments),
			})
			for p.HasMorePages() {
				out, err := p.NextPage(ctx)
				if err != nil {
					errs <- err
					return
				}
				total.Add(int64(out.Count))
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatalf("count items of %s: %v", env.EventsTable, err)
	}
	return int(total.Load())
}

// queryStrings returns, for every item of one user, the string attributes
// named (nested names with dots: "attributes.seq").
func queryStrings(tb testing.TB, env *dynamolocal.Env, user string, names ...string) [][]string {
	tb.Helper()
	var rows [][]string
	for _, it := range queryUser(tb, env, user) {
		row := make([]string, len(names))
		for i, n := range names {
			row[i] = stringAt(it, n)
		}
		rows = append(rows, row)
	}
	return rows
}

// stringAt returns the string at a dotted path of an item, or "".
func stringAt(it map[string]types.AttributeValue, path string) string {
	var av types.AttributeValue = &types.AttributeValueMemberM{Value: it}
	start := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) && path[i] != '.' {
			continue
		}
		m, ok := av.(*types.AttributeValueMemberM)
		if !ok {
			return ""
		}
		av = m.Value[path[start:i]]
		start = i + 1
	}
	s, _ := av.(*types.AttributeValueMemberS)
	if s == nil {
		return ""
	}
	return s.Value
}

// newValidatingTracker returns a Tracker for tests that only validate: its
// DynamoDB client points nowhere and is never called.
func newValidatingTracker(tb testing.TB, cfg tracker.Config) *tracker.Tracker {
	tb.Helper()
	if cfg.EventsTable == "" {
		cfg.EventsTable = "never-written"
	}
	tr, err := tracker.New(dynamodb.New(dynamodb.Options{Region: "us-east-1"}), cfg)
	if err != nil {
		tb.Fatalf("tracker.New: %v", err)
	}
	return tr
}

// noDB returns a DynamoDB client that points nowhere, for tests that never
// reach DynamoDB.
func noDB() *dynamodb.Client { return dynamodb.New(dynamodb.Options{Region: "us-east-1"}) }
