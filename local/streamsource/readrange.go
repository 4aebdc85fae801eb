package streamsource

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/eventlake/eventlake/internal/backoff"
)

// ErrTrimmed reports that the stream no longer holds records asked for: they
// are older than the stream keeps (24 hours), or their shard or stream is
// gone.
var ErrTrimmed = errors.New("streamsource: the records are no longer in the stream")

// ReadRange reads the records of one shard from sequence number start to end
// (both included), exactly as Lambda delivers stream records to a function
// (the raw GetRecords JSON, with eventSourceARN and awsRegion), and returns
// them as invocation payloads {"Records":[...]} of at most batchSize records
// (default 100) each, in order. It is what the on-failure destination's
// record (shard and sequence range) needs to read a failed batch again, and
// works against the real Streams API as against DynamoDB Local's.
//
// It returns an error wrapping ErrTrimmed when the stream no longer holds
// the range's start (or the shard or stream is gone), and an error when the
// shard ends or stays empty before end is reached. Throttling and other
// transient errors are retried a few times with backoff.
func ReadRange(ctx context.Context, api StreamsAPI, streamARN, shardID, start, end string, batchSize int) ([][]byte, error) {
	if batchSize <= 0 {
		batchSize = DefaultBatchSize
	}
	retry := backoff.Policy{Base: DefaultRetryBaseDelay, Max: DefaultRetryMaxDelay, Jitter: backoff.Equal}
	const attempts = 5
	var iter *string
	for attempt := 1; ; attempt++ {
		out, err := api.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{
			StreamArn: aws.String(streamARN), ShardId: aws.String(shardID),
			ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String(start),
		})
		if err == nil {
			iter = out.ShardIterator
			break
		}
		if gone(err) {
			return nil, fmt.Errorf("%w: shard %s from %s: %v", ErrTrimmed, shardID, start, err)
		}
		if ctx.Err() != nil || attempt == attempts {
			return nil, fmt.Errorf("streamsource: get shard iterator of %s at %s: %w", shardID, start, err)
		}
		if err := retry.Wait(ctx, attempt); err != nil {
			return nil, err
		}
	}
	region := regionOf(streamARN)
	var payloads [][]byte
	var batch []record
	flush := func() {
		if len(batch) > 0 {
			payloads = append(payloads, buildPayload(batch))
			batch = nil
		}
	}
	capture := &rawRecords{}
	empty, failures := 0, 0
	for iter != nil {
		capture.records, capture.ok = nil, false
		out, err := api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter}, capture.option())
		if err != nil {
			if gone(err) {
				return nil, fmt.Errorf("%w: shard %s: %v", ErrTrimmed, shardID, err)
			}
			if failures++; ctx.Err() != nil || failures == attempts {
				return nil, fmt.Errorf("streamsource: get records of %s: %w", shardID, err)
			}
			if err := retry.Wait(ctx, failures); err != nil {
				return nil, err
			}
			continue
		}
		failures = 0
		if !capture.ok {
			return nil, fmt.Errorf("streamsource: get records of shard %s: the raw response was not captured", shardID)
		}
		recs, err := parseRecords(capture.records, streamARN, region, nil)
		if err != nil {
			return nil, fmt.Errorf("streamsource: get records of shard %s: %w", shardID, err)
		}
		if len(recs) == 0 {
			if empty++; empty == 5 {
				return nil, fmt.Errorf("streamsource: shard %s: no record after %d empty pages; the range %s..%s was not read to its end", shardID, empty, start, end)
			}
		} else {
			empty = 0
		}
		for _, r := range recs {
			if compareSeq(r.seq, end) > 0 {
				flush()
				return payloads, nil
			}
			batch = append(batch, r)
			if len(batch) == batchSize {
				flush()
			}
			if compareSeq(r.seq, end) == 0 {
				flush()
				return payloads, nil
			}
		}
		iter = out.NextShardIterator
	}
	flush()
	if len(payloads) == 0 {
		return nil, fmt.Errorf("%w: shard %s ended before %s", ErrTrimmed, shardID, start)
	}
	return payloads, fmt.Errorf("streamsource: shard %s ended before the range's end %s", shardID, end)
}

// gone reports whether err says the records or their shard are no longer
// readable.
func gone(err error) bool {
	var trimmed *types.TrimmedDataAccessException
	var notFound *types.ResourceNotFoundException
	var expired *types.ExpiredIteratorException
	return errors.As(err, &trimmed) || errors.As(err, &notFound) || errors.As(err, &expired)
}
