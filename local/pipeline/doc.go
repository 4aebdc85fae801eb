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
// Every component is the real one where it runs locally; faults can be
// injected at DynamoDB (Config.WrapDynamoDB), at Firehose
// (Config.Firehose.Faults) and in the handler (Config.WrapHandler).
//
// Start builds it, Pipeline.Put feeds it, Pipeline.Drain waits until every
// stored event is queryable in the lake, and Close stops everything Start
// started, DynamoDB Local included.
package pipeline
