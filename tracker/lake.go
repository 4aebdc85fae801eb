package tracker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/eventlake/eventlake/internal/delivery"
	"github.com/eventlake/eventlake/internal/jsonstr"
)

// Route says where the events of a type are written.
type Route string

const (
	// RouteHot writes an event to the events table, whose stream feeds the
	// lake through the relay: Recent, the admin page and the summaries see
	// it. It is the route of every type that Config.Routes does not name.
	RouteHot Route = "hot"
	// RouteLake sends an event's lake line straight to Firehose, packed
	// the way the relay packs, and never writes it to DynamoDB: the lake
	// has it (the same line the relay would have written), the hot store
	// does not. For high-volume types nobody looks up one by one (page
	// views, clicks, impressions), at a fraction of the cost of a DynamoDB
	// write.
	RouteLake Route = "lake"
)

// Firehose is the part of the Firehose API the lake route uses. The SDK's
// *firehose.Client satisfies it; create it with LakeClientOptions so that
// the tracker, which retries within its own budget, is the one retry loop.
type Firehose interface {
	PutRecordBatch(ctx context.Context, in *firehose.PutRecordBatchInput, optFns ...func(*firehose.Options)) (*firehose.PutRecordBatchOutput, error)
}

// LakeClientOptions configures a Firehose client for the lake route (use it
// with firehose.NewFromConfig): the SDK's own retries are turned off because
// the tracker resends exactly the records Firehose refuses.
func LakeClientOptions(o *firehose.Options) { o.RetryMaxAttempts = 1 }

// ErrNotStored is matched by the error of an event that was valid but
// could not be stored (DynamoDB or Firehose failed, or the context ended):
// errors.Is(err, ErrNotStored). Sending it again is safe when it has an ID.
var ErrNotStored = errors.New("event not stored")

// notStored wraps a storage failure so that it matches ErrNotStored.
type notStored struct{ err error }

func (e notStored) Error() string        { return e.err.Error() }
func (e notStored) Unwrap() []error      { return []error{e.err, ErrNotStored} }
func (e notStored) Is(target error) bool { return target == ErrNotStored }

// lake sends lines to the delivery stream for RouteLake; nil when no type
// takes that route.
//
// Calls group-commit: a call that finds a delivery in flight queues its
// events, and when the delivery ends, the first queued call sends every
// call queued meanwhile in one packed delivery. An idle tracker sends at
// once; a busy one packs the events of concurrent calls (single-event HTTP
// requests, say) into shared Firehose records, which Firehose bills per 5 KB.
type lake struct {
	send *delivery.Sender
	pool sync.Pool // *delivery.Lines

	mu    sync.Mutex
	queue []*lakeCall
	busy  bool // a call is sending; the queue waits for it
}

// lakeCall is one putLake call.
type lakeCall struct {
	ctx   context.Context
	evs   []Event
	first int   // set when sent: the first event not known to be stored, or -1
	err   error // and why
	done  chan struct{}
	lead  chan struct{} // closed when this call must send the queue
}

// newRoutes checks cfg's routes against the allowlist and returns them, with
// the lake sender when a type takes RouteLake.
func newRoutes(cfg Config, allowed map[string]struct{}) (map[string]Route, *lake, error) {
	routes := make(map[string]Route, len(cfg.Routes))
	needLake := false
	for typ, r := range cfg.Routes {
		if _, ok := allowed[typ]; !ok {
			return nil, nil, fmt.Errorf("tracker: Config.Routes names %q, which is not an allowed event type", typ)
		}
		switch r {
		case RouteHot:
		case RouteLake:
			needLake = true
		default:
			return nil, nil, fmt.Errorf("tracker: Config.Routes[%q] = %q: want %q or %q", typ, r, RouteHot, RouteLake)
		}
		routes[typ] = r
	}
	if !needLake {
		return routes, nil, nil
	}
	if cfg.Firehose == nil || cfg.DeliveryStream == "" {
		return nil, nil, errors.New("tracker: a type takes RouteLake, so Config.Firehose and Config.DeliveryStream are required")
	}
	send, err := delivery.New(cfg.Firehose, delivery.Config{DeliveryStreamName: cfg.DeliveryStream})
	if err != nil {
		return nil, nil, fmt.Errorf("tracker: lake route: %w", err)
	}
	return routes, &lake{send: send, pool: sync.Pool{New: func() any { return new(delivery.Lines) }}}, nil
}

// Route returns the route of events of type eventType: RouteLake when
// Config.Routes says so, else RouteHot.
func (t *Tracker) Route(eventType string) Route {
	if r, ok := t.routes[eventType]; ok {
		return r
	}
	return RouteHot
}

// putLake stores normalized events (IDs set) in the lake and returns the
// index of the first event not known to be stored and the error, or -1 and
// nil. Events before that index are stored; later ones may be. Concurrent
// calls share deliveries (see lake).
func (t *Tracker) putLake(ctx context.Context, evs []Event) (int, error) {
	lk := t.lake
	c := &lakeCall{ctx: ctx, evs: evs, done: make(chan struct{}), lead: make(chan struct{})}
	lk.mu.Lock()
	lk.queue = append(lk.queue, c)
	if lk.busy {
		lk.mu.Unlock()
		select {
		case <-c.done:
			return c.first, c.err
		case <-c.lead:
		case <-ctx.Done():
			lk.mu.Lock()
			if i := slices.Index(lk.queue, c); i >= 0 {
				lk.queue = slices.Delete(lk.queue, i, i+1)
				lk.mu.Unlock()
				return 0, notStored{fmt.Errorf("send %d events to Firehose: %w", len(evs), context.Cause(ctx))}
			}
			lk.mu.Unlock()
			// Taken into a delivery, or handed the lead: see it through.
			select {
			case <-c.done:
				return c.first, c.err
			case <-c.lead:
			}
		}
		lk.mu.Lock()
	}
	lk.busy = true
	group := lk.queue
	lk.queue = nil
	lk.mu.Unlock()

	t.sendLake(group)

	lk.mu.Lock()
	if len(lk.queue) > 0 {
		close(lk.queue[0].lead) // busy stays true: the next call sends
	} else {
		lk.busy = false
	}
	lk.mu.Unlock()
	return c.first, c.err
}

// sendLake sends the events of calls in one packed delivery, sets each
// call's result and closes its done. The delivery ends when every caller's
// context is done, or at the earliest deadline among them: one caller
// giving up does not fail the others' events.
func (t *Tracker) sendLake(calls []*lakeCall) {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	var deadline time.Time
	var live atomic.Int32
	live.Store(int32(len(calls)))
	for _, c := range calls {
		if d, ok := c.ctx.Deadline(); ok && (deadline.IsZero() || d.Before(deadline)) {
			deadline = d
		}
		stop := context.AfterFunc(c.ctx, func() {
			if live.Add(-1) == 0 {
				cancel(context.Cause(c.ctx))
			}
		})
		defer stop()
	}
	if !deadline.IsZero() {
		var cancelDeadline context.CancelFunc
		ctx, cancelDeadline = context.WithDeadline(ctx, deadline)
		defer cancelDeadline()
	}

	l := t.lake.pool.Get().(*delivery.Lines)
	defer func() {
		l.Reset()
		if cap(l.Buf) <= 4<<20 {
			t.lake.pool.Put(l)
		}
	}()
	n := 0
	for _, c := range calls {
		for i := range c.evs {
			l.Buf = AppendLine(l.Buf, c.evs[i])
			l.End()
		}
		n += len(c.evs)
	}
	res := t.lake.send.Send(ctx, l, time.Now())
	var err error
	if res.FirstFailed >= 0 {
		cause := res.Err
		if cause == nil {
			cause = context.Cause(ctx)
		}
		if cause == nil {
			cause = errors.New("Firehose did not acknowledge the records")
		}
		err = notStored{fmt.Errorf("send %d events to Firehose: %s", n-res.FirstFailed, delivery.Describe(cause))}
	}
	start := 0
	for _, c := range calls {
		c.first = -1
		if res.FirstFailed >= 0 && res.FirstFailed < start+len(c.evs) {
			c.first, c.err = max(0, res.FirstFailed-start), err
		}
		start += len(c.evs)
		close(c.done)
	}
}

// PutBatch validates events and stores each by its route, synchronously:
// RouteHot events with conditional PutItems (as Put: never overwriting,
// idempotent for identical events), several at a time, RouteLake events
// packed into Firehose records in one delivery. It returns when every event
// is stored or has failed: nil when all were stored, else one error per
// event (nil for those stored). An error matches ErrInvalidEvent (a
// *ValidationError: nothing of that event was written), ErrDuplicateEvent
// (another event is stored under its key) or ErrNotStored (DynamoDB or
// Firehose failed, or ctx ended: sending it again is safe, it has an ID).
// The hooks apply as in Put: DefaultAttributes, BeforeSend (an event it
// drops is counted in Stats().Filtered and has a nil error) and OnSuccess
// for each stored event.
//
// PutBatch is what an HTTP collector needs: it answers only after the
// events are durably accepted. It is safe for concurrent use; it does not
// modify events.
func (t *Tracker) PutBatch(ctx context.Context, events []Event) []error {
	var errs []error
	fail := func(i int, err error) {
		if errs == nil {
			errs = make([]error, len(events))
		}
		errs[i] = err
	}
	var hot, lakeIdx []int
	norm := make([]Event, len(events))
	dropped := make([]bool, len(events))
	for i, e := range events {
		n := e
		keep, err := t.prepare(&n)
		if err != nil {
			fail(i, err)
			continue
		}
		if !keep {
			dropped[i] = true
			t.filtered.Add(1)
			continue
		}
		if n.ID == "" {
			n.ID = t.ids.New(n.At)
		}
		norm[i] = n
		if t.Route(n.Type) == RouteLake {
			lakeIdx = append(lakeIdx, i)
		} else {
			hot = append(hot, i)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	if len(lakeIdx) > 0 {
		wg.Go(func() {
			evs := make([]Event, len(lakeIdx))
			for k, i := range lakeIdx {
				evs[k] = norm[i]
			}
			first, err := t.putLake(ctx, evs)
			if first < 0 {
				return
			}
			mu.Lock()
			for _, i := range lakeIdx[first:] {
				fail(i, err)
			}
			mu.Unlock()
		})
	}
	next := make(chan int)
	for range min(len(hot), maxConcurrentPuts) {
		wg.Go(func() {
			for i := range next {
				if err := t.putNormalized(ctx, norm[i]); err != nil {
					if !errors.Is(err, ErrDuplicateEvent) {
						err = notStored{err}
					}
					mu.Lock()
					fail(i, err)
					mu.Unlock()
				}
			}
		})
	}
	for _, i := range hot {
		next <- i
	}
	close(next)
	wg.Wait()
	for i := range events {
		if dropped[i] || errs != nil && errs[i] != nil {
			continue
		}
		t.written.Add(1)
		if t.onSuccess != nil {
			t.onSuccess(norm[i])
		}
	}
	return errs
}

// maxConcurrentPuts bounds the PutItem calls one PutBatch makes at a time.
const maxConcurrentPuts = 16

// lineKeys are the `"name":` prefixes of the schema fields, in column order.
var lineKeys = func() [][]byte {
	keys := make([][]byte, len(eventFields))
	for i, f := range eventFields {
		keys[i] = append(jsonstr.Append(nil, f.Name), ':')
	}
	return keys
}()

// AppendLine appends the lake line of e to dst and returns the extended
// buffer: one JSON object whose keys are the EventFields names in column
// order, then '\n'. e must be as Validate returns it (normalized, ID set).
// The line holds e's classification (Classify of its user agent) and is
// byte for byte the line the stream Lambda writes from the DynamoDB item
// Put would store for e: empty optional fields are omitted, is_bot is always
// present, attribute keys are sorted, strings are escaped by the same
// encoder. RouteLake sends exactly these lines. AppendLine allocates only
// to grow dst (and, for more than MaxAttributes attributes, to sort them).
func AppendLine(dst []byte, e Event) []byte {
	c := Classify(e.UserAgent)
	dst = append(dst, '{')
	open := len(dst)
	field := func(dst []byte, i int) []byte {
		if len(dst) > open {
			dst = append(dst, ',')
		}
		return append(dst, lineKeys[i]...)
	}
	str := func(dst []byte, i int, v string) []byte {
		if v == "" {
			return dst
		}
		return jsonstr.Append(field(dst, i), v)
	}
	for i := range eventFields {
		switch eventFields[i].Name {
		case FieldUserID:
			dst = str(dst, i, e.UserID)
		case FieldAnonymousID:
			dst = str(dst, i, e.AnonymousID)
		case FieldEventAt:
			dst = append(field(dst, i), '"')
			dst = e.At.UTC().AppendFormat(dst, TimeLayout)
			dst = append(dst, '"')
		case FieldEventID:
			dst = str(dst, i, e.ID)
		case FieldEventType:
			dst = str(dst, i, e.Type)
		case FieldUserAgent:
			dst = str(dst, i, e.UserAgent)
		case FieldIPAddress:
			dst = str(dst, i, e.IP)
		case FieldDeviceType:
			dst = str(dst, i, c.DeviceType)
		case FieldBrowser:
			dst = str(dst, i, c.Browser)
		case FieldOS:
			dst = str(dst, i, c.OS)
		case FieldIsBot:
			dst = field(dst, i)
			if c.Bot {
				dst = append(dst, "true"...)
			} else {
				dst = append(dst, "false"...)
			}
		case FieldAttributes:
			if len(e.Attributes) > 0 {
				dst = appendAttributes(field(dst, i), e.Attributes)
			}
		}
	}
	return append(dst, '}', '\n')
}

// appendAttributes appends m as a JSON object with sorted keys.
func appendAttributes(dst []byte, m map[string]string) []byte {
	var arr [MaxAttributes]string
	keys := arr[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonstr.Append(dst, k)
		dst = append(dst, ':')
		dst = jsonstr.Append(dst, m[k])
	}
	return append(dst, '}')
}
