package admin_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/admin"
)

// adminNow is the fixed clock of the admin tests.
var adminNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	uaChrome  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36"
	uaIPhone  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
	uaFirefox = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"
	mountPath = "/admin/activity"
)

// faultDB wraps DynamoDB Local's client and fails reads on demand.
type faultDB struct {
	tracker.DynamoDB
	mu      sync.Mutex
	fail    error
	queries atomic.Int64
}

func (f *faultDB) err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.fail
}

func (f *faultDB) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *faultDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	f.queries.Add(1)
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.DynamoDB.Query(ctx, in, opts...)
}

func (f *faultDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if err := f.err(); err != nil {
		return nil, err
	}
	return f.DynamoDB.GetItem(ctx, in, opts...)
}

// syncBuffer is a log destination safe for concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// adminFixture serves the admin handler over a test's own tables.
type adminFixture struct {
	env  *dynamolocal.Env
	db   *faultDB
	tr   *tracker.Tracker
	sum  *tracker.Summarizer
	logs *syncBuffer
	srv  *httptest.Server
}

func newAdminFixture(t testing.TB, opts admin.Options) *adminFixture {
	t.Helper()
	env := dynamolocal.NewEnv(t)
	f := &adminFixture{env: env, db: &faultDB{DynamoDB: env.Client}, logs: &syncBuffer{}}
	var err error
	f.tr, err = tracker.New(f.db, tracker.Config{EventsTable: env.EventsTable, SummaryTable: env.SummaryTable,
		Now: func() time.Time { return adminNow }})
	if err != nil {
		t.Fatal(err)
	}
	if f.sum, err = tracker.NewSummarizer(f.tr, tracker.SummaryConfig{}); err != nil {
		t.Fatal(err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(f.logs, nil))
	}
	if opts.Now == nil {
		opts.Now = func() time.Time { return adminNow }
	}
	h, err := admin.NewHandler(f.tr, opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(mountPath, h)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

// put writes events with tracker.Put from 8 goroutines and returns them as
// stored.
func (f *adminFixture) put(t testing.TB, events ...tracker.Event) []tracker.Event {
	t.Helper()
	out := make([]tracker.Event, len(events))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
		errs = make(chan error, 8)
	)
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(events) {
					return
				}
				e, err := f.tr.Validate(events[i])
				if err == nil {
					err = f.tr.Put(context.Background(), e)
				}
				if err != nil {
					errs <- fmt.Errorf("event %d: %w", i, err)
					return
				}
				out[i] = e
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return out
}

func (f *adminFixture) touch(t *testing.T, user string, n int) {
	t.Helper()
	for range n {
		if err := f.sum.Touch(context.Background(), user); err != nil {
			t.Fatal(err)
		}
	}
}

// get requests the page with the query string and Accept header.
func (f *adminFixture) get(t *testing.T, method, query, accept string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+mountPath+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := f.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}
