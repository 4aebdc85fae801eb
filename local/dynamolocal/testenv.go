package dynamolocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/tracker"
)

var (
	sharedOnce sync.Once
	shared     *Server
	sharedErr  error
)

// Shared returns one DynamoDB Local per test binary, started on first use
// (it dies with the test process). A test that cannot get it fails with the
// reason; it never skips.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	sharedOnce.Do(func() {
		shared, sharedErr = Start(context.Background(), Options{})
	})
	if sharedErr != nil {
		tb.Fatalf("DynamoDB Local: %v", sharedErr)
	}
	return shared
}

// Env is a test's own pair of tables in the shared DynamoDB Local.
type Env struct {
	Server       *Server
	Client       *dynamodb.Client
	EventsTable  string
	SummaryTable string
}

// NewEnv creates uniquely named events and summary tables for one test (or
// benchmark) and deletes them when it ends. optFns configure the client, for
// example to add a fault-injecting middleware or change retries.
func NewEnv(tb testing.TB, optFns ...func(*dynamodb.Options)) *Env {
	tb.Helper()
	s := Shared(tb)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db, err := s.Client(ctx, optFns...)
	if err != nil {
		tb.Fatal(err)
	}
	suffix := randomSuffix()
	env := &Env{
		Server:       s,
		Client:       db,
		EventsTable:  "test-events-" + suffix,
		SummaryTable: "test-summary-" + suffix,
	}
	for _, p := range []struct {
		def  tracker.TableDef
		name string
	}{{tracker.EventsTableDef(), env.EventsTable}, {tracker.SummaryTableDef(), env.SummaryTable}} {
		if err := CreateTable(ctx, db, p.def, p.name); err != nil {
			tb.Fatalf("DynamoDB Local at %s: %v", s.Endpoint, err)
		}
		name := p.name
		tb.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := DeleteTable(ctx, db, name); err != nil {
				tb.Logf("cleanup: %v", err)
			}
		})
	}
	return env
}

func randomSuffix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
