package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/eventlake/eventlake/local/streamsource"
	"github.com/eventlake/eventlake/tracker"
)

// RedriveOptions tunes Redrive. The zero value means defaults.
type RedriveOptions struct {
	// Slack widens the time range read from the table when the stream no
	// longer holds a batch: events whose event_at is up to Slack before
	// the batch's first record arrived are sent too (late events). Default
	// 24 hours; events later still are found by Backfill.
	Slack time.Duration
	// FutureSkew is how far after the batch's last record an event_at may
	// be (tracker.DefaultMaxFutureSkew by default).
	FutureSkew time.Duration
	// Segments is the parallel Scan's segment count for the table fallback;
	// default 4.
	Segments int
	// AcceptIncomplete deletes a message read back from the table even when
	// the table's time range held fewer events than the batch's records
	// (see RedriveSummary.Incomplete): for after the operator has sent the
	// missing events another way (a wider Slack, a Backfill of their days)
	// or accepted their loss (TTL expired them).
	AcceptIncomplete bool
}

// RedriveSummary is what Redrive did.
type RedriveSummary struct {
	// Messages counts messages read; Redriven those whose records were all
	// delivered (and the message deleted); Failed those left in the queue
	// (delivery failed); Unreadable those that name no stream batch (left
	// in the queue).
	Messages, Redriven, Failed, Unreadable int
	// Incomplete counts the messages read back from the table whose time
	// range held fewer events than the batch had records: some of the
	// batch's events have an event_at outside the range (events older than
	// Slack: a mobile app's old events, a backfill) or are gone from the
	// table (TTL). The events found were sent; the message stays in the
	// queue (it names the shard and sequence range) unless
	// AcceptIncomplete. (As many events as records or more does not prove
	// every record was found, only that none is known missing.)
	Incomplete int
	// FromStream and FromTable count the messages read back from each.
	FromStream, FromTable int
	Counts
}

// Redrive reads every message of the on-failure queue q and sends the
// batch it names through the relay again: from the stream when it still
// holds the records (the exact records Lambda gave up on), else, from the
// events table, every event whose event_at falls in the batch's time range
// widened by Slack and FutureSkew (a superset: duplicates are removed by
// events_dedup). The events of actors an erasure forgot are left out
// (Suppressed). A message is deleted only after everything it names was
// delivered (or kept aside, or left out); one that fails stays in the queue
// for the next run. It returns an error when a message failed, after trying them all.
func (t *Tools) Redrive(ctx context.Context, q Queue, opts RedriveOptions) (RedriveSummary, error) {
	if t.cfg.Streams == nil {
		return RedriveSummary{}, errors.New("recovery: redrive needs Config.Streams")
	}
	if opts.Slack == 0 {
		opts.Slack = 24 * time.Hour
	}
	if opts.FutureSkew == 0 {
		opts.FutureSkew = tracker.DefaultMaxFutureSkew
	}
	if err := t.fresh(ctx); err != nil {
		return RedriveSummary{}, err
	}
	var sum RedriveSummary
	var errs []error
	seen := map[string]bool{}
	for {
		msgs, err := q.Receive(ctx, 10)
		if err != nil {
			return sum, err
		}
		fresh := 0
		for _, m := range msgs {
			if seen[m.ID] {
				continue
			}
			seen[m.ID] = true
			fresh++
			sum.Messages++
			if err := t.redriveOne(ctx, q, m, opts, &sum); err != nil {
				errs = append(errs, err)
			}
		}
		if fresh == 0 {
			break
		}
	}
	t.progress("redrive: %d messages: %d redriven and deleted (%d from the stream, %d from the table), %d failed, %d unreadable, %d incomplete; %d records, %d events sent, %d rejected (%d kept aside), %d of forgotten actors left out",
		sum.Messages, sum.Redriven, sum.FromStream, sum.FromTable, sum.Failed, sum.Unreadable, sum.Incomplete, sum.Records, sum.Events, sum.Rejected, sum.KeptAside, sum.Suppressed)
	if len(errs) > 0 {
		return sum, fmt.Errorf("recovery: redrive: %d of %d messages left in the queue: %w", len(errs), sum.Messages, errors.Join(errs...))
	}
	return sum, nil
}

// ErrIncomplete is matched (errors.Is) by the error of a redrive that left
// a message in the queue because the table held fewer events than its
// batch (RedriveSummary.Incomplete).
var ErrIncomplete = errors.New("fewer events in the table than the batch held")

func (t *Tools) redriveOne(ctx context.Context, q Queue, m Message, opts RedriveOptions, sum *RedriveSummary) error {
	rec, err := ParseOnFailure(m.Body)
	if err != nil {
		sum.Unreadable++
		t.progress("redrive: message %s: %v; left in the queue", m.ID, err)
		return fmt.Errorf("message %s: %w", m.ID, err)
	}
	b := rec.DDBStreamBatchInfo
	var c Counts
	payloads, err := streamsource.ReadRange(ctx, t.cfg.Streams, b.StreamARN, b.ShardID, b.StartSequenceNumber, b.EndSequenceNumber, 1000)
	source := "stream"
	switch {
	case err == nil:
		for _, p := range payloads {
			p, dropped, err := t.unsuppressedPayload(p)
			if err != nil {
				sum.Failed++
				return fmt.Errorf("message %s: %w", m.ID, err)
			}
			c.Records += dropped
			c.Suppressed += dropped
			resp, st, err := t.relay.InvokeStats(ctx, p)
			if err != nil {
				sum.Failed++
				return fmt.Errorf("message %s: %w", m.ID, err)
			}
			c.add(st)
			if len(resp.BatchItemFailures) > 0 {
				sum.Failed++
				t.progress("redrive: message %s (shard %s, %s..%s): %d events not delivered; left in the queue", m.ID, b.ShardID, b.StartSequenceNumber, b.EndSequenceNumber, st.FailedEvents)
				return fmt.Errorf("message %s: %d events not delivered", m.ID, st.FailedEvents)
			}
		}
	case errors.Is(err, streamsource.ErrTrimmed):
		source = "table"
		from := b.ApproximateArrivalOfFirstRecord.Add(-opts.Slack)
		to := b.ApproximateArrivalOfLastRecord.Add(opts.FutureSkew)
		t.progress("redrive: message %s: the stream no longer holds shard %s %s..%s; reading events of %s..%s from the table",
			m.ID, b.ShardID, b.StartSequenceNumber, b.EndSequenceNumber, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339))
		if err := t.scan(ctx, from, to, opts.Segments, &c, nil); err != nil {
			sum.Failed++
			return fmt.Errorf("message %s: %w", m.ID, err)
		}
		if c.Records < b.BatchSize && !opts.AcceptIncomplete {
			sum.Incomplete++
			sum.Counts.addCounts(c)
			t.progress("redrive: message %s (shard %s, %s..%s): the table holds %d events of %s..%s, fewer than the batch's %d records: "+
				"the others have an event_at outside that range (older than -slack) or are gone (TTL). The %d found were sent; "+
				"the message is left in the queue: redrive again with a larger -slack, or backfill the missing events' days, "+
				"then run redrive with -accept-incomplete to delete it",
				m.ID, b.ShardID, b.StartSequenceNumber, b.EndSequenceNumber, c.Records, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339),
				b.BatchSize, c.Events)
			return fmt.Errorf("message %s: %w: %d of %d records found in the table", m.ID, ErrIncomplete, c.Records, b.BatchSize)
		}
	default:
		sum.Failed++
		t.progress("redrive: message %s: %v; left in the queue", m.ID, err)
		return fmt.Errorf("message %s: %w", m.ID, err)
	}
	if err := q.Delete(ctx, m); err != nil {
		sum.Failed++
		return err
	}
	sum.Redriven++
	if source == "stream" {
		sum.FromStream++
	} else {
		sum.FromTable++
	}
	sum.Counts.addCounts(c)
	t.progress("redrive: message %s (shard %s, %s..%s, %d records) from the %s: %d events sent, %d rejected (%d kept aside), %d of forgotten actors left out; deleted",
		m.ID, b.ShardID, b.StartSequenceNumber, b.EndSequenceNumber, b.BatchSize, source, c.Events, c.Rejected, c.KeptAside, c.Suppressed)
	return nil
}

// unsuppressedPayload returns a stream invocation payload without the
// records whose NewImage belongs to a forgotten actor, and how many it left
// out. The other records keep their bytes (the relay reads them as Lambda
// delivers them); a record whose image cannot be read is kept, for the
// relay to count and keep aside.
func (t *Tools) unsuppressedPayload(payload []byte) ([]byte, int, error) {
	list := t.list.List()
	if list.Len() == 0 {
		return payload, 0, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil {
		return nil, 0, fmt.Errorf("the stream's payload is not a JSON object: %w", err)
	}
	var recs []json.RawMessage
	if err := json.Unmarshal(top["Records"], &recs); err != nil {
		return nil, 0, fmt.Errorf("the stream's payload has no Records array: %w", err)
	}
	type str struct {
		S string `json:"S"`
	}
	var r struct {
		Dynamodb struct {
			NewImage struct {
				UserID      str `json:"user_id"`
				AnonymousID str `json:"anonymous_id"`
				Actor       str `json:"actor"`
			} `json:"NewImage"`
		} `json:"dynamodb"`
	}
	kept := recs[:0:0]
	for _, rec := range recs {
		r.Dynamodb.NewImage.UserID, r.Dynamodb.NewImage.AnonymousID, r.Dynamodb.NewImage.Actor = str{}, str{}, str{}
		if json.Unmarshal(rec, &r) == nil {
			img := r.Dynamodb.NewImage
			if list.Suppressed(actorIDs(img.UserID.S, img.AnonymousID.S, img.Actor.S)) {
				continue
			}
		}
		kept = append(kept, rec)
	}
	dropped := len(recs) - len(kept)
	if dropped == 0 {
		return payload, 0, nil
	}
	b, err := json.Marshal(kept)
	if err != nil {
		return nil, 0, err
	}
	top["Records"] = b
	out, err := json.Marshal(top)
	return out, dropped, err
}
