// Package roundtrip holds no code: its tests hold one event to the schema
// along the whole path from the tracker to an Athena query, with every
// component the real one except DynamoDB and its stream:
//
//	tracker.Validate -> tracker.Put (the DynamoDB item it writes)
//	  -> the item as a stream record's NewImage -> the relay Lambda's Invoke
//	  -> PutRecordBatch to local/firehoselocal (the real SDK client)
//	  -> local/lakeparquet (the Parquet object; or gzip NDJSON) -> athena/local's events view
//
// Every field of an accepted event must come back equal, and a refused
// event must be refused with a *tracker.ValidationError and write nothing.
// It lives apart because it imports all of those packages; none of them
// may import the others' tests.
package roundtrip
