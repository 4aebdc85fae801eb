// Package lakeparquet writes the lake's Parquet objects locally, as
// Firehose's record format conversion does in AWS: the NDJSON lines the
// stream Lambda writes become rows with exactly the columns of
// tracker.EventFields() (strings, and attributes as a Parquet MAP of strings,
// the Glue table's map<string,string>), with GZIP-compressed pages as the
// CDK app's record format conversion writes them.
//
// Encoder implements firehoselocal.Encoder, so the local Firehose endpoint
// writes `.parquet` objects into the lake folder:
//
//	enc, err := lakeparquet.NewEncoder(lakeparquet.Options{})
//	...
//	defer enc.Close()
//	srv, err := firehoselocal.Start(firehoselocal.Options{Encoder: enc, Sink: firehoselocal.FolderSink{Root: "lake"}})
//
// The conversion is athena/local's ParquetWriter, eventlake's one
// NDJSON-to-Parquet converter: an in-process DuckDB (read_json with the
// columns pinned to the schema by athena/local.ColumnsSpec, then COPY ... TO
// (FORMAT PARQUET, COMPRESSION GZIP)), the same engine athena/local uses to
// query the lake. As with the OpenX JSON SerDe, keys that are not columns are
// ignored and missing keys are null. A line that is not a JSON object fails
// the whole object (Firehose would write it under its error prefix instead);
// the endpoint then keeps the object and retries it, so nothing is silently
// dropped.
//
// Applications rarely use it directly: local/pipeline and local/laketest
// write Parquet lakes with it (their default format, as deployed).
package lakeparquet
