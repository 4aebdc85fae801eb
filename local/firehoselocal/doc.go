// Package firehoselocal is a Firehose-compatible HTTP endpoint for tests and
// local development: a double of Amazon Data Firehose's API, not of its
// durability or scale.
//
// It speaks the real wire protocol (AWS JSON 1.1, X-Amz-Target
// Firehose_20150804.*, base64 record data), so code under test uses the real
// aws-sdk-go-v2 firehose client pointed at the endpoint with BaseEndpoint:
//
//	srv, err := firehoselocal.Start(firehoselocal.Options{Streams: []string{"events"}})
//	...
//	defer srv.Close()
//	client := srv.Client()
//
// Supported operations: PutRecordBatch, PutRecord, DescribeDeliveryStream,
// CreateDeliveryStream and ListDeliveryStreams. The endpoint enforces the
// service's request limits (500 records and 4 MiB per PutRecordBatch call,
// 1,000 KiB per record) with InvalidArgumentException, answers unknown
// streams with ResourceNotFoundException, and shapes every response and
// error as the service does ({"__type": ..., "message": ...} with the
// service's HTTP status). Request signatures are required but not verified.
//
// Accepted records are buffered per stream and delivered, like Firehose's
// BufferingHints, when a stream's buffer reaches a size or its oldest record
// an age, or on Flush and Close. Delivery concatenates the records' data (as
// Firehose does), names the object as Firehose names S3 objects
// (<prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><ext>, the prefix
// evaluated from !{timestamp:...} expressions against the arrival time of the
// oldest record), encodes it with an Encoder (gzip by default) and hands it
// to a Sink: MemorySink for tests, FolderSink for a local folder laid out like
// the S3 bucket. A sink that cannot store every key (FolderSink, a
// KeyChecker) has each stream's prefix checked when the stream is created,
// and a failed delivery is retried with a capped exponential backoff. With Options.ArrivalFromEventAt each line is filed under the
// time of its event_at instead, so backfilled history spreads over date
// partitions as it would have in production.
//
// With Options.Partitioning the endpoint partitions as eventlake's deployed
// stream does (infra/eventlake's NewDelivery): multi-record deaggregation of
// each record into its JSON objects (at most 500), dynamic partitioning with
// inline queries such as {"dt": ".event_at[0:10]"} and a prefix with
// !{partitionKeyFromQuery:dt}, a newline after each object, and an error
// prefix with !{firehose:error-output-type} where records that cannot be
// deaggregated and events whose keys cannot be computed are written as
// Firehose error records (ErrorRecord, rawData in base64), so every event
// lands under the day it happened however late it arrives.
//
// Faults (a share of records failed per call, whole-call throttling, 5xx
// answers, slow answers, faults that clear after a number of calls, and
// events failing format conversion into the error prefix) are
// drawn from a seeded generator and can be changed while the server runs.
//
// What it does not model: durability (buffered records are lost if the
// process dies), throughput quotas (throttling happens only when injected),
// Lambda data transformation, record format conversion itself (an Encoder
// stands in for it), JQ beyond .field and .field[a:b], encryption, and
// authentication beyond requiring a SigV4 Authorization header.
//
// In an application's tests it stands in for the delivery stream of the
// tracker's lake route (tracker.Config.Firehose with
// srv.Client(tracker.LakeClientOptions)), or for any other code that puts
// records to Firehose; MemorySink holds the objects for assertions, Faults
// (Options.Faults, SetFaults) make Firehose fail. local/pipeline and
// local/laketest run it for you.
package firehoselocal
