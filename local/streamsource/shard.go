package streamsource

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/eventlake/eventlake/internal/backoff"
)

// shardStart is where a worker starts reading.
type shardStart struct {
	typ types.ShardIteratorType
	seq string // for AFTER_SEQUENCE_NUMBER
}

// shardWorker reads one shard and invokes the handler with its records. A
// reader goroutine fetches pages ahead (bounded) while the invoker works.
type shardWorker struct {
	s       *Source
	shardID string
	start   shardStart
	cp      Checkpoint
	log     *slog.Logger
	// headAt is when (Unix ns) the reader last started a GetRecords call
	// that found it caught up with the shard (a page that was not full),
	// stored after the page was sent.
	headAt atomic.Int64
}

// pagesAhead bounds the pages read ahead of the invoker.
const pagesAhead = 4

// run processes the shard until it ends (nil), ctx is done (ctx.Err()), or a
// fatal error.
func (w *shardWorker) run(ctx context.Context) error {
	rctx, rcancel := context.WithCancel(ctx)
	pages := make(chan []record, pagesAhead)
	readErr := make(chan error, 1)
	go func() {
		readErr <- w.read(rctx, pages)
		close(pages)
	}()
	err := w.dispatch(ctx, pages, readErr)
	rcancel()
	for range pages { // let the reader finish
	}
	if err == nil {
		w.s.shardsEnded.Add(1)
		w.log.InfoContext(ctx, "shard read to its end", "checkpoint", w.cp.SequenceNumber)
	}
	return err
}

// read follows the shard's iterators and sends non-empty pages, in order,
// until the shard ends (nil) or ctx is done.
func (w *shardWorker) read(ctx context.Context, pages chan<- []record) error {
	cfg := &w.s.cfg
	iter, err := w.iterator(ctx, w.start)
	if err != nil {
		return err
	}
	lastRead := ""
	failures := 0
	capture := &rawRecords{}
	limit := aws.Int32(int32(cfg.GetRecordsLimit))
	for {
		capture.records, capture.ok = nil, false
		callAt := time.Now()
		out, err := w.s.api.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: iter, Limit: limit}, capture.option())
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var expired *types.ExpiredIteratorException
			var trimmed *types.TrimmedDataAccessException
			var notFound *types.ResourceNotFoundException
			switch {
			case errors.As(err, &expired):
				// Iterators live 15 minutes; renew after the last record read.
				pos := w.start
				if lastRead != "" {
					pos = shardStart{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: lastRead}
				}
				w.log.InfoContext(ctx, "shard iterator expired; renewing", "after", lastRead)
				if iter, err = w.iterator(ctx, pos); err != nil {
					return err
				}
				continue
			case errors.As(err, &trimmed):
				// The records after lastRead are older than the stream keeps:
				// they are lost, as they would be for the ESM.
				w.log.ErrorContext(ctx, "records trimmed from the stream before they were read; continuing at the trim horizon",
					"after", lastRead, "error", err)
				if iter, err = w.iterator(ctx, shardStart{typ: types.ShardIteratorTypeTrimHorizon}); err != nil {
					return err
				}
				continue
			case errors.As(err, &notFound):
				return fmt.Errorf("get records: %w: %v", ErrStreamNotFound, err)
			}
			failures++
			w.log.WarnContext(ctx, "get records failed; retrying", "error", err, "attempt", failures)
			if w.s.retry.Wait(ctx, failures) != nil {
				return ctx.Err()
			}
			continue
		}
		failures = 0
		if !capture.ok {
			return fmt.Errorf("get records of shard %s: the raw response was not captured (a StreamsAPI wrapper must pass the per-call options on)", w.shardID)
		}
		recs, err := parseRecords(capture.records, cfg.StreamARN, cfg.Region, w.s.filters)
		if err != nil {
			return fmt.Errorf("get records of shard %s: %w", w.shardID, err)
		}
		if len(recs) > 0 {
			w.s.read.Add(int64(len(recs)))
			lastRead = recs[len(recs)-1].seq
			select {
			case pages <- recs:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if len(recs) < cfg.GetRecordsLimit {
			w.headAt.Store(callAt.UnixNano())
		}
		if out.NextShardIterator == nil {
			return nil // the shard is closed and read to its end
		}
		iter = out.NextShardIterator
		// A full page means the reader is behind: read on at once. Otherwise
		// it has caught up with the shard's head: poll again after
		// PollInterval, as Lambda polls a shard a few times a second. Polling
		// a busy shard without pause would load the stream's storage (and,
		// locally, DynamoDB Local) with calls that each return a handful of
		// records.
		if len(recs) < cfg.GetRecordsLimit && backoff.Sleep(ctx, cfg.PollInterval) != nil {
			return ctx.Err()
		}
	}
}

// iterator gets a shard iterator, retrying transient errors.
func (w *shardWorker) iterator(ctx context.Context, pos shardStart) (*string, error) {
	in := &dynamodbstreams.GetShardIteratorInput{
		StreamArn: aws.String(w.s.cfg.StreamARN), ShardId: aws.String(w.shardID), ShardIteratorType: pos.typ,
	}
	if pos.seq != "" {
		in.SequenceNumber = aws.String(pos.seq)
	}
	for attempt := 1; ; attempt++ {
		out, err := w.s.api.GetShardIterator(ctx, in)
		if err == nil {
			return out.ShardIterator, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var notFound *types.ResourceNotFoundException
		if errors.As(err, &notFound) {
			return nil, fmt.Errorf("get shard iterator: %w: %v", ErrStreamNotFound, err)
		}
		w.log.WarnContext(ctx, "get shard iterator failed; retrying", "error", err, "attempt", attempt, "type", pos.typ)
		if w.s.retry.Wait(ctx, attempt) != nil {
			return nil, ctx.Err()
		}
	}
}

// dispatch batches the pages' records and invokes the handler, one batch at
// a time, checkpointing as records are processed. It returns nil when the
// reader reached the shard's end and every record was processed.
func (w *shardWorker) dispatch(ctx context.Context, pages <-chan []record, readErr <-chan error) error {
	cfg := &w.s.cfg
	var pending []record // kept records not yet processed, in order
	done := w.cp.SequenceNumber
	saved := done
	eof := false
	attempts := 0  // failed attempts of the records at the head
	retryN := 0    // when > 0, the next batch is the first retryN records
	groupLeft := 0 // records left of a failing batch being retried or bisected
	var lastErr error
	var win *openWindow // the tumbling window being aggregated, if any

	add := func(page []record) {
		now := time.Now()
		for _, r := range page {
			if !r.keep {
				w.s.filtered.Add(1)
				if len(pending) > 0 {
					pending[len(pending)-1].advance = r.seq
				} else {
					done = r.seq
				}
				continue
			}
			r.recvAt = now
			pending = append(pending, r)
		}
	}
	// receive handles one receive from pages; it returns false at the end.
	receive := func(page []record, ok bool) error {
		if !ok {
			eof = true
			return <-readErr
		}
		add(page)
		return nil
	}
	complete := func(k int) {
		if k == 0 {
			return
		}
		done = pending[k-1].advance
		pending = pending[k:]
		attempts = 0
		if groupLeft -= k; groupLeft > 0 {
			retryN = groupLeft
		} else {
			retryN, groupLeft = 0, 0
		}
	}
	save := func(ended bool) error {
		pos := done
		if win != nil {
			pos = win.base // records of an open window are not done yet
		}
		if pos == saved && !ended {
			return nil
		}
		cp := Checkpoint{SequenceNumber: pos, ShardEnded: ended}
		if err := cfg.Checkpoints.SetCheckpoint(ctx, cfg.StreamARN, w.shardID, cp); err != nil {
			return fmt.Errorf("store checkpoint %s: %w", pos, err)
		}
		saved, w.cp = pos, cp
		return nil
	}
	// closeWindow makes the window's final invocation (retried like a
	// batch) and checkpoints its records.
	closeWindow := func(early bool) error {
		if err := w.closeWindow(ctx, win, early); err != nil {
			return err
		}
		win = nil
		return save(false)
	}

	for {
		if len(pending) == 0 {
			if win != nil && (eof || w.caughtUpAfter(win.end, pages)) {
				if err := closeWindow(false); err != nil {
					return err
				}
				continue
			}
			if err := save(false); err != nil {
				return err
			}
			if eof {
				return save(true)
			}
			var tick *time.Timer
			var tickC <-chan time.Time
			if win != nil { // look again whether the window is over
				tick = time.NewTimer(cfg.PollInterval)
				tickC = tick.C
			}
			var err error
			select {
			case <-ctx.Done():
				err = ctx.Err()
			case page, ok := <-pages:
				err = receive(page, ok)
			case <-tickC:
			}
			if tick != nil {
				tick.Stop()
			}
			if err != nil {
				return err
			}
			continue
		}

		maxBytes := cfg.MaxPayloadBytes
		if size := cfg.TumblingWindow; size > 0 {
			start := windowOf(&pending[0], size, cfg.CreationTimePrecision)
			if win != nil && !start.Equal(win.start) {
				if err := closeWindow(false); err != nil {
					return err
				}
				continue
			}
			if win == nil {
				win = &openWindow{start: start, end: start.Add(size), base: done}
			}
			maxBytes -= len(windowFields(win, w.shardID, cfg.StreamARN, false, false)) + 1
		}
		limit := cfg.BatchSize
		if retryN > 0 {
			limit = min(retryN, limit)
		} else if err := w.fill(ctx, &pending, &eof, limit, maxBytes, pages, receive); err != nil {
			return err
		}
		k := w.batchLen(pending, limit, maxBytes)
		batch := pending[:k]
		failedAt, state, err := w.invoke(ctx, batch, win, false)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if win != nil && err == nil && failedAt != 0 {
			// The returned state covers the records before failedAt.
			win.state = state
			n := k
			if failedAt > 0 {
				n = failedAt
			}
			if win.records == 0 {
				win.first = batch[0]
			}
			win.last = batch[n-1]
			win.records += n
		}
		switch {
		case err == nil && failedAt < 0:
			if win == nil {
				w.s.delivered.Add(int64(k))
			}
			complete(k)
		case err == nil: // partial batch failure
			w.s.partial.Add(1)
			if win == nil {
				w.s.delivered.Add(int64(failedAt))
			}
			complete(failedAt)
			remaining := k - failedAt
			lastErr = fmt.Errorf("batch item failure reported for sequence number %s", pending[0].seq)
			attempts++
			if w.exhausted(attempts) {
				if err := w.fail(ctx, pending[:remaining], win, lastErr, attempts); err != nil {
					return err
				}
				complete(remaining)
				break
			}
			retryN, groupLeft = remaining, remaining
			w.log.WarnContext(ctx, "batch item failure; retrying from the reported record",
				"sequence_number", pending[0].seq, "records", remaining, "attempt", attempts)
			if w.s.retry.Wait(ctx, attempts) != nil {
				return ctx.Err()
			}
		default: // function error
			w.s.functionErrors.Add(1)
			lastErr = err
			if groupLeft == 0 {
				groupLeft = k
			}
			if cfg.BisectBatchOnFunctionError && k > 1 {
				retryN = (k + 1) / 2
				w.log.WarnContext(ctx, "function error; bisecting the batch", "error", err, "records", k, "next", retryN)
				break
			}
			attempts++
			if w.exhausted(attempts) {
				if err := w.fail(ctx, batch, win, lastErr, attempts); err != nil {
					return err
				}
				complete(k)
				break
			}
			retryN = k
			w.log.WarnContext(ctx, "function error; retrying the batch", "error", err,
				"first_sequence_number", batch[0].seq, "records", k, "attempt", attempts)
			if w.s.retry.Wait(ctx, attempts) != nil {
				return ctx.Err()
			}
		}
		if win != nil && len(win.state) > MaxWindowStateBytes {
			// Lambda terminates a window whose state outgrows its limit.
			if err := closeWindow(true); err != nil {
				return err
			}
			continue
		}
		if err := save(false); err != nil {
			return err
		}
	}
}

// caughtUpAfter reports whether every record written before t+
// windowCloseDelay has been received: the reader caught up with the shard
// in a call made after that time and sent every page it read.
func (w *shardWorker) caughtUpAfter(t time.Time, pages <-chan []record) bool {
	// The reader stores headAt after sending the page it read, so a page
	// not yet received is still in the channel.
	return w.headAt.Load() >= t.Add(windowCloseDelay).UnixNano() && len(pages) == 0
}

// closeWindow makes the final invocation of win (early: the state outgrew
// its limit), retrying it as a batch, then counts its records delivered. A
// window whose final invocation fails every retry goes to OnFailure. On
// return without error the window's records are done; an early-terminated
// window goes on with a fresh state (the caller opens it again).
func (w *shardWorker) closeWindow(ctx context.Context, win *openWindow, early bool) error {
	for attempts := 1; ; attempts++ {
		failedAt, _, err := w.invokeFinal(ctx, win, early)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err == nil && failedAt < 0 {
			w.s.windows.Add(1)
			if early {
				w.s.windowsEarly.Add(1)
			}
			w.s.delivered.Add(int64(win.records))
			return nil
		}
		if err == nil {
			err = errors.New("the final invocation reported a batch item failure")
		}
		w.s.functionErrors.Add(1)
		if w.exhausted(attempts) {
			return w.failWindow(ctx, win, err, attempts)
		}
		w.log.WarnContext(ctx, "final invocation of a window failed; retrying", "error", err,
			"window_start", win.start, "attempt", attempts)
		if w.s.retry.Wait(ctx, attempts) != nil {
			return ctx.Err()
		}
	}
}

func (w *shardWorker) invokeFinal(ctx context.Context, win *openWindow, early bool) (int, json.RawMessage, error) {
	return w.invokeWith(ctx, nil, win, true, early)
}

// fill waits for more records until the batch is full (count, bytes or the
// end of its tumbling window), the batching window of its first record has
// passed, or the shard has ended. Without a batching window it takes only
// what has already been read.
func (w *shardWorker) fill(ctx context.Context, pending *[]record, eof *bool, limit, maxBytes int,
	pages <-chan []record, receive func([]record, bool) error,
) error {
	cfg := &w.s.cfg
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for !*eof && len(*pending) < limit && w.batchLen(*pending, limit, maxBytes) == len(*pending) {
		wait := cfg.MaximumBatchingWindow - time.Since((*pending)[0].recvAt)
		if wait <= 0 {
			select {
			case page, ok := <-pages:
				if err := receive(page, ok); err != nil {
					return err
				}
				continue
			default:
				return nil
			}
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		}
		select {
		case page, ok := <-pages:
			if err := receive(page, ok); err != nil {
				return err
			}
		case <-timer.C:
			timer = nil
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// batchLen is how many records from the head fit one invocation: at most
// limit, within maxBytes of payload, and, with a tumbling window, of the
// head's window only (always at least one).
func (w *shardWorker) batchLen(pending []record, limit, maxBytes int) int {
	k := batchLen(pending, limit, maxBytes)
	if size := w.s.cfg.TumblingWindow; size > 0 && k > 1 {
		p := w.s.cfg.CreationTimePrecision
		k = sameWindow(pending[:k], windowOf(&pending[0], size, p), size, p)
	}
	return k
}

// batchLen is how many records from the head fit one invocation: at most
// limit, and within maxBytes of payload (always at least one).
func batchLen(pending []record, limit, maxBytes int) int {
	n := payloadOverhead
	for i, r := range pending {
		if i == limit {
			return i
		}
		n += len(r.json) + 1
		if n > maxBytes && i > 0 {
			return i
		}
	}
	return len(pending)
}

// exhausted reports whether a batch that failed attempts times goes to
// OnFailure.
func (w *shardWorker) exhausted(attempts int) bool {
	switch m := w.s.cfg.MaxRetries; {
	case m == RetryUntilSuccess:
		return false
	case m < 0:
		return true
	default:
		return attempts > m
	}
}

// functionError is a function error the source detected itself.
type functionError struct{ msg string }

func (e *functionError) Error() string { return e.msg }

// invoke sends one batch (in window win, when not nil). It returns failedAt
// < 0 for success, the index of the earliest record reported failed for a
// partial batch failure, or an error for a function error (the handler's
// error, a panic, a timeout or an invalid response); with a window, the
// state the function returned.
func (w *shardWorker) invoke(ctx context.Context, batch []record, win *openWindow, final bool) (int, json.RawMessage, error) {
	return w.invokeWith(ctx, batch, win, final, false)
}

func (w *shardWorker) invokeWith(ctx context.Context, batch []record, win *openWindow, final, early bool) (failedAt int, state json.RawMessage, err error) {
	cfg := &w.s.cfg
	w.s.invocations.Add(1)
	var payload []byte
	if win != nil {
		payload = buildWindowPayload(batch, windowFields(win, w.shardID, cfg.StreamARN, final, early))
	} else {
		payload = buildPayload(batch)
	}
	ictx, cancel := context.WithTimeout(ctx, cfg.FunctionTimeout)
	defer cancel()
	ictx = lambdacontext.NewContext(ictx, &lambdacontext.LambdaContext{
		AwsRequestID: requestID(), InvokedFunctionArn: cfg.FunctionARN,
	})
	resp, err := w.safeInvoke(ictx, payload)
	if ctx.Err() != nil {
		return -1, nil, ctx.Err()
	}
	if ictx.Err() != nil {
		return -1, nil, &functionError{fmt.Sprintf("Task timed out after %v", cfg.FunctionTimeout)}
	}
	if err != nil {
		return -1, nil, err
	}
	var failures []events.DynamoDBBatchItemFailure
	if win != nil {
		r, err := parseWindowResponse(resp)
		if err != nil {
			return -1, nil, err
		}
		state, failures = r.State, r.BatchItemFailures
	} else {
		if !cfg.ReportBatchItemFailures {
			return -1, nil, nil
		}
		resp = bytes.TrimSpace(resp)
		if len(resp) == 0 || bytes.Equal(resp, []byte("null")) {
			return -1, nil, nil
		}
		var r events.DynamoDBEventResponse
		if err := json.Unmarshal(resp, &r); err != nil {
			return -1, nil, &functionError{fmt.Sprintf("invalid function response %.200q: %v", resp, err)}
		}
		failures = r.BatchItemFailures
	}
	if !cfg.ReportBatchItemFailures {
		return -1, state, nil
	}
	failedAt = -1
	for _, f := range failures {
		i := indexOfSeq(batch, f.ItemIdentifier)
		if i < 0 {
			// An empty or unknown itemIdentifier fails the whole batch, as in Lambda.
			w.log.WarnContext(ctx, "batch item failure names no record of the batch; retrying the whole batch",
				"item_identifier", f.ItemIdentifier)
			return 0, state, nil
		}
		if failedAt < 0 || i < failedAt {
			failedAt = i
		}
	}
	return failedAt, state, nil
}

func (w *shardWorker) safeInvoke(ctx context.Context, payload []byte) (resp []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &functionError{fmt.Sprintf("function panicked: %v", p)}
		}
	}()
	return w.s.fn.Invoke(ctx, payload)
}

func indexOfSeq(batch []record, seq string) int {
	if seq == "" {
		return -1
	}
	for i, r := range batch {
		if compareSeq(r.seq, seq) == 0 {
			return i
		}
	}
	return -1
}

// fail hands records that failed every retry to OnFailure (retrying its
// errors) or logs them. In a tumbling window, the payload is the window
// event they were last sent in.
func (w *shardWorker) fail(ctx context.Context, recs []record, win *openWindow, cause error, attempts int) error {
	cfg := &w.s.cfg
	payload := buildPayload(recs)
	if win != nil {
		payload = buildWindowPayload(recs, windowFields(win, w.shardID, cfg.StreamARN, false, false))
	}
	w.s.failed.Add(int64(len(recs)))
	return w.report(ctx, Failure{
		Condition:                       "RetryAttemptsExhausted",
		FunctionError:                   cause,
		StreamARN:                       cfg.StreamARN,
		ShardID:                         w.shardID,
		StartSequenceNumber:             recs[0].seq,
		EndSequenceNumber:               recs[len(recs)-1].seq,
		ApproximateArrivalOfFirstRecord: recs[0].created,
		ApproximateArrivalOfLastRecord:  recs[len(recs)-1].created,
		BatchSize:                       len(recs),
		Payload:                         payload,
		Attempts:                        attempts,
	})
}

// failWindow hands a window whose final invocation failed every retry to
// OnFailure: its records' range and the final invocation's payload (the
// state, no records). Its records are then checkpointed past.
func (w *shardWorker) failWindow(ctx context.Context, win *openWindow, cause error, attempts int) error {
	cfg := &w.s.cfg
	f := Failure{
		Condition: "RetryAttemptsExhausted", FunctionError: cause, StreamARN: cfg.StreamARN, ShardID: w.shardID,
		BatchSize: win.records, Attempts: attempts,
		Payload: buildWindowPayload(nil, windowFields(win, w.shardID, cfg.StreamARN, true, false)),
	}
	if win.records > 0 {
		f.StartSequenceNumber, f.ApproximateArrivalOfFirstRecord = win.first.seq, win.first.created
		f.EndSequenceNumber, f.ApproximateArrivalOfLastRecord = win.last.seq, win.last.created
	}
	w.s.failed.Add(int64(win.records))
	return w.report(ctx, f)
}

// report hands f to OnFailure, retrying its errors, or logs it.
func (w *shardWorker) report(ctx context.Context, f Failure) error {
	cfg := &w.s.cfg
	if cfg.OnFailure == nil {
		w.log.ErrorContext(ctx, "records failed every retry; discarding them (no OnFailure)",
			"start_sequence_number", f.StartSequenceNumber, "end_sequence_number", f.EndSequenceNumber,
			"batch_size", f.BatchSize, "error", f.FunctionError)
		return nil
	}
	for attempt := 1; ; attempt++ {
		err := cfg.OnFailure(ctx, f)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.log.WarnContext(ctx, "on-failure destination failed; retrying", "error", err, "attempt", attempt)
		if w.s.retry.Wait(ctx, attempt) != nil {
			return ctx.Err()
		}
	}
}

// requestID returns a random UUID (version 4), as Lambda's request IDs.
func requestID() string {
	var b [16]byte
	_, _ = cryptorand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
