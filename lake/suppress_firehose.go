package lake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"
)

// FirehoseAPI is the Firehose call the relay (and the tracker's lake route)
// makes. *firehose.Client implements it, and so does SuppressingFirehose.
type FirehoseAPI interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

// LogMessageSuppressed is the message of the line logged when events of
// forgotten actors are dropped (by SuppressingFirehose, by
// SuppressionCache.BeforeSend), and LogFieldSuppressedEvents its field that
// counts them: a metric filter sums it. The line holds no ID.
const (
	LogMessageSuppressed     = "dropped the events of forgotten actors"
	LogFieldSuppressedEvents = "suppressed_events"
)

// ErrSuppressionNotLoaded fails a PutRecordBatch while no suppression list
// was ever loaded: nothing is sent, so the caller (the relay) retries rather
// than deliver a forgotten actor's events.
var ErrSuppressionNotLoaded = errors.New("lake: the suppression list was never loaded")

// SuppressingFirehose wraps a Firehose client so that the events of
// forgotten actors never reach the lake: before each PutRecordBatch it
// refreshes its SuppressionCache when stale, drops every NDJSON line whose
// user_id or anonymous_id is suppressed (see Suppression.Suppressed), and
// sends the rest. A record left empty is not sent and is answered as
// delivered, so the caller's per-record bookkeeping (the relay's retries of
// FailedPutCount) is unchanged. The stream Lambda uses it between the relay
// and its client, so the relay package itself does not change:
//
//	relay.New(lake.NewSuppressingFirehose(firehose.NewFromConfig(cfg, relay.ClientOptions), cache, logger), relayCfg)
//
// With an empty list the records pass untouched (no parsing). Otherwise each
// line's two ID fields are decoded (about a microsecond per event). Lines
// that are not JSON objects pass unchanged: the relay never writes them. A
// call that dropped events logs one line with their number and no personal
// data ("suppressed_events"). It is safe for concurrent use.
type SuppressingFirehose struct {
	next    FirehoseAPI
	list    *SuppressionCache
	log     *slog.Logger
	dropped atomic.Int64
}

// NewSuppressingFirehose wraps next. A nil logger means slog.Default().
func NewSuppressingFirehose(next FirehoseAPI, list *SuppressionCache, logger *slog.Logger) *SuppressingFirehose {
	if logger == nil {
		logger = slog.Default()
	}
	return &SuppressingFirehose{next: next, list: list, log: logger}
}

// Dropped returns the number of events dropped so far.
func (f *SuppressingFirehose) Dropped() int64 { return f.dropped.Load() }

// ids are the two fields of a lake line the list is checked against.
type ids struct {
	UserID      string `json:"user_id"`
	AnonymousID string `json:"anonymous_id"`
}

// PutRecordBatch implements FirehoseAPI.
func (f *SuppressingFirehose) PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error) {
	_ = f.list.MaybeRefresh(ctx) // logged; the last list stays in use
	if !f.list.Loaded() {
		return nil, ErrSuppressionNotLoaded
	}
	list := f.list.List()
	if list.Len() == 0 {
		return f.next.PutRecordBatch(ctx, in, optFns...)
	}
	kept := make([]types.Record, 0, len(in.Records))
	index := make([]int, 0, len(in.Records)) // kept[i] is in.Records[index[i]]
	dropped := 0
	for i, r := range in.Records {
		data, n := filterLines(r.Data, list)
		dropped += n
		if len(data) == 0 && len(r.Data) > 0 {
			continue // every event of the record was suppressed
		}
		kept = append(kept, types.Record{Data: data})
		index = append(index, i)
	}
	if dropped == 0 {
		return f.next.PutRecordBatch(ctx, in, optFns...)
	}
	f.dropped.Add(int64(dropped))
	f.log.LogAttrs(ctx, slog.LevelInfo, LogMessageSuppressed,
		slog.Int(LogFieldSuppressedEvents, dropped), slog.Int("records", len(in.Records)), slog.Int("records_sent", len(kept)))

	out := &firehose.PutRecordBatchOutput{
		FailedPutCount:   aws.Int32(0),
		RequestResponses: make([]types.PutRecordBatchResponseEntry, len(in.Records)),
	}
	for i := range out.RequestResponses {
		out.RequestResponses[i] = types.PutRecordBatchResponseEntry{RecordId: aws.String("suppressed")}
	}
	if len(kept) == 0 {
		return out, nil
	}
	sent := *in
	sent.Records = kept
	res, err := f.next.PutRecordBatch(ctx, &sent, optFns...)
	if err != nil {
		return nil, err
	}
	if len(res.RequestResponses) != len(kept) {
		return nil, fmt.Errorf("put record batch: %d responses for %d records", len(res.RequestResponses), len(kept))
	}
	out.Encrypted, out.ResultMetadata = res.Encrypted, res.ResultMetadata
	failed := int32(0)
	for i, r := range res.RequestResponses {
		out.RequestResponses[index[i]] = r
		if r.ErrorCode != nil {
			failed++
		}
	}
	out.FailedPutCount = aws.Int32(failed)
	return out, nil
}

// filterLines returns data without the lines of suppressed actors, and how
// many it dropped. data is returned as is when nothing is dropped.
func filterLines(data []byte, list *Suppression) ([]byte, int) {
	var out []byte
	dropped := 0
	rest := data
	start := 0
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		var v ids
		if json.Unmarshal(line, &v) == nil && list.Suppressed(v.UserID, v.AnonymousID) {
			if out == nil {
				out = make([]byte, 0, len(data))
				out = append(out, data[:start]...)
			}
			dropped++
		} else if out != nil {
			out = append(out, line...)
		}
		start += len(line)
	}
	if dropped == 0 {
		return data, 0
	}
	return out, dropped
}
