// Package pipeline wires the whole eventlake pipeline on one machine, for
// the demo (scripts/local), the end-to-end tests and the benchmark:
//
//	tracker.AsyncWriter -> DynamoDB Local (events table, NEW_IMAGE stream)
//	  -> streamsource (the event source mapping: INSERT-only filter, batches,
//	     partial batch responses, retries, checkpoints)
//	  -> the stream Lambda's real handler (relay), through its JSON interface
//	  -> firehoselocal (the real Firehose client over HTTP; buffering)
//	  -> the lake folder, events/dt=YYYY-MM-DD/*.parquet or *.gz
//	  -> athena/local (the Athena queries, unchanged, on DuckDB)
//
// and, on the same stream, the second consumer:
//
//	-> streamsource (a second event source mapping, with a tumbling window)
//	-> the summarize Lambda's real handler (summary), through its JSON
//	   interface -> the summary table (last seen, counts, identity links)
//
// Every component is the real one where it runs locally; faults can be
// injected at DynamoDB (Config.WrapDynamoDB, Config.WrapSummaryDynamoDB), at
// Firehose (Config.Firehose.Faults) and in the handlers (Config.WrapHandler,
// Config.WrapSummaryHandler).
//
// Start builds it, Pipeline.Put feeds it, Pipeline.Drain waits until every
// stored event is queryable in the lake and counted in the summary table,
// and Close stops everything Start started, DynamoDB Local included.
//
// Applications' integration tests use it through local/laketest, which
// starts one per test and asserts on what reached the lake; use Pipeline
// directly for a development stack of your own (an app served locally with
// its events flowing into a lake folder that `go run
// github.com/eventlake/eventlake/scripts/eventlake query -local <folder>`
// reads).
package pipeline
