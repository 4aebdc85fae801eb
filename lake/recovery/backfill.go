package recovery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/tracker"
)

// BackfillOptions selects what Backfill copies. The zero value copies the
// whole table with the default parallelism.
type BackfillOptions struct {
	// From and To bound event_at (both included); a zero time is no bound.
	From, To time.Time
	// Segments is the parallel Scan's segment count (TotalSegments); default
	// 4, at most 1,000,000. Each segment is one goroutine.
	Segments int
}

// BackfillSummary is what Backfill did.
type BackfillSummary struct {
	Counts
	// Pages counts Scan pages.
	Pages int
}

// Backfill copies the events table's events whose event_at lies in
// [From, To] into the lake: a parallel Scan (TotalSegments = Segments)
// whose pages go through the relay's line encoding, packing and retries to
// Firehose, which files each event under the day it happened. Items that
// are not events are kept aside as the relay keeps them; the events of
// actors an erasure forgot are left out (Suppressed). Running it again
// sends the events again; events_dedup removes the copies. Progress is
// reported every few seconds.
func (t *Tools) Backfill(ctx context.Context, opts BackfillOptions) (BackfillSummary, error) {
	if t.cfg.DynamoDB == nil || t.cfg.EventsTable == "" {
		return BackfillSummary{}, errors.New("recovery: backfill needs Config.DynamoDB and EventsTable")
	}
	if !opts.From.IsZero() && !opts.To.IsZero() && opts.To.Before(opts.From) {
		return BackfillSummary{}, fmt.Errorf("recovery: backfill: -to %v is before -from %v", opts.To, opts.From)
	}
	if err := t.fresh(ctx); err != nil {
		return BackfillSummary{}, err
	}
	var sum BackfillSummary
	began, last := time.Now(), time.Now()
	var mu sync.Mutex
	err := t.scan(ctx, opts.From, opts.To, opts.Segments, &sum.Counts, func(c Counts) {
		mu.Lock()
		defer mu.Unlock()
		sum.Pages++
		if time.Since(last) >= 2*time.Second {
			last = time.Now()
			t.progress("backfill: %d pages, %d items read, %d events sent, %d rejected (%.0f items/s)",
				sum.Pages, c.Records, c.Events, c.Rejected, float64(c.Records)/time.Since(began).Seconds())
		}
	})
	t.progress("backfill: %d items read in %d pages, %d events sent, %d rejected (%d kept aside), %d of forgotten actors left out in %v",
		sum.Records, sum.Pages, sum.Events, sum.Rejected, sum.KeptAside, sum.Suppressed, time.Since(began).Round(time.Millisecond))
	return sum, err
}

// scan sends the events table's items whose event_key (event_at then the
// ID) lies in [from, to] (a zero time: no bound) through the relay, with a
// parallel Scan of segments segments (default 4), adding to c; page, when
// set, gets the running counts after each page. A page is sent before the
// next is read; a page that cannot be delivered ends the scan with an error.
func (t *Tools) scan(ctx context.Context, from, to time.Time, segments int, c *Counts, page func(Counts)) error {
	if t.cfg.DynamoDB == nil || t.cfg.EventsTable == "" {
		return errors.New("recovery: reading the table needs Config.DynamoDB and EventsTable")
	}
	if segments <= 0 {
		segments = 4
	}
	in := dynamodb.ScanInput{TableName: aws.String(t.cfg.EventsTable), TotalSegments: aws.Int32(int32(segments))}
	if !from.IsZero() || !to.IsZero() {
		key := expression.Name(tracker.AttrEventKey)
		var cond expression.ConditionBuilder
		lo := from.UTC().Format(tracker.TimeLayout)
		hi := to.UTC().Format(tracker.TimeLayout) + "#\uffff"
		switch {
		case from.IsZero():
			cond = key.LessThanEqual(expression.Value(hi))
		case to.IsZero():
			cond = key.GreaterThanEqual(expression.Value(lo))
		default:
			cond = key.Between(expression.Value(lo), expression.Value(hi))
		}
		expr, err := expression.NewBuilder().WithFilter(cond).Build()
		if err != nil {
			return fmt.Errorf("recovery: scan filter: %w", err)
		}
		in.FilterExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues = expr.Filter(), expr.Names(), expr.Values()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, segments)
	for seg := range segments {
		wg.Go(func() {
			req := in
			req.Segment = aws.Int32(int32(seg))
			for {
				out, err := t.cfg.DynamoDB.Scan(ctx, &req)
				if err != nil {
					errs[seg] = fmt.Errorf("recovery: scan segment %d of %s: %w", seg, t.cfg.EventsTable, err)
					cancel()
					return
				}
				items := make([]map[string]events.DynamoDBAttributeValue, len(out.Items))
				for i, it := range out.Items {
					items[i] = imageOf(it)
				}
				var pc Counts
				err = t.sendItems(ctx, t.relay, items, &pc)
				mu.Lock()
				c.addCounts(pc)
				now := *c
				mu.Unlock()
				if err != nil {
					errs[seg] = fmt.Errorf("recovery: scan segment %d: %w", seg, err)
					cancel()
					return
				}
				if page != nil {
					page(now)
				}
				if len(out.LastEvaluatedKey) == 0 {
					return
				}
				req.ExclusiveStartKey = out.LastEvaluatedKey
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
