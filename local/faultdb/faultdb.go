package faultdb

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Config says which faults to inject. The zero value injects none. Rates
// are probabilities per write call, from 0 to 1; ThrottleRate,
// ServerErrorRate and TimeoutBeforeRate together must not exceed 1.
type Config struct {
	// Seed makes the faults reproducible (see the package documentation).
	Seed uint64
	// ThrottleRate is the share of write calls that fail with a throttling
	// error without reaching DynamoDB.
	ThrottleRate float64
	// ThrottleError builds the throttling error; nil means
	// *types.ProvisionedThroughputExceededException. Return a DynamoDB
	// exception type (*types.ThrottlingException, *types.RequestLimitExceeded).
	ThrottleError func() error
	// ServerErrorRate is the share of write calls that fail with
	// *types.InternalServerError (HTTP 500) without reaching DynamoDB.
	ServerErrorRate float64
	// TimeoutBeforeRate is the share of write calls that time out without
	// reaching DynamoDB.
	TimeoutBeforeRate float64
	// TimeoutAfterRate is the share of write calls that reach DynamoDB (and
	// succeed or fail there) but whose caller sees a timeout instead of the
	// response. It applies to the calls that got through the faults above.
	TimeoutAfterRate float64
	// TimeoutDelay is how long an injected timeout takes; zero means the
	// error returns at once. When the caller's context ends first, the call
	// returns the context's error as the SDK does, which exercises a
	// caller's own per-attempt deadline.
	TimeoutDelay time.Duration
	// UnprocessedShare is the share (0 to 1, exclusive) of each table's
	// items in every BatchWriteItem call that is returned as UnprocessedItems
	// without being written: floor(UnprocessedShare * n) of n items.
	UnprocessedShare float64
}

// Stats counts calls and injected faults since New.
type Stats struct {
	// Calls is the number of write calls made through the wrapper.
	Calls int64
	// Throttled, ServerErrors, TimedOutBefore and TimedOutAfter count calls
	// that met each fault.
	Throttled      int64
	ServerErrors   int64
	TimedOutBefore int64
	TimedOutAfter  int64
	// Unprocessed counts items returned as UnprocessedItems by the wrapper
	// (not those DynamoDB itself returned).
	Unprocessed int64
	// Stalled counts calls that waited in Stall.
	Stalled int64
}

// DB is a DynamoDB client that injects faults into write calls. Create it
// with New.
type DB struct {
	*dynamodb.Client
	cfg    Config
	calls  atomic.Uint64
	counts struct {
		throttled, server, before, after, unprocessed, stalled atomic.Int64
	}
	mu   sync.Mutex
	gate chan struct{} // non-nil while stalled; closed by Resume
}

// New wraps client. It fails when a rate is outside [0, 1], the rates of
// faults before DynamoDB add up to more than 1, or UnprocessedShare is 1 or
// more (a writer could then never make progress).
func New(client *dynamodb.Client, cfg Config) (*DB, error) {
	if client == nil {
		return nil, errors.New("faultdb: nil client")
	}
	for name, r := range map[string]float64{
		"ThrottleRate": cfg.ThrottleRate, "ServerErrorRate": cfg.ServerErrorRate,
		"TimeoutBeforeRate": cfg.TimeoutBeforeRate, "TimeoutAfterRate": cfg.TimeoutAfterRate,
	} {
		if r < 0 || r > 1 {
			return nil, fmt.Errorf("faultdb: %s %v is outside [0, 1]", name, r)
		}
	}
	if s := cfg.ThrottleRate + cfg.ServerErrorRate + cfg.TimeoutBeforeRate; s > 1 {
		return nil, fmt.Errorf("faultdb: ThrottleRate + ServerErrorRate + TimeoutBeforeRate = %v exceeds 1", s)
	}
	if cfg.UnprocessedShare < 0 || cfg.UnprocessedShare >= 1 {
		return nil, fmt.Errorf("faultdb: UnprocessedShare %v is outside [0, 1)", cfg.UnprocessedShare)
	}
	if cfg.TimeoutDelay < 0 {
		return nil, errors.New("faultdb: negative TimeoutDelay")
	}
	return &DB{Client: client, cfg: cfg}, nil
}

// Stats returns the counters.
func (d *DB) Stats() Stats {
	return Stats{
		Calls:          int64(d.calls.Load()),
		Throttled:      d.counts.throttled.Load(),
		ServerErrors:   d.counts.server.Load(),
		TimedOutBefore: d.counts.before.Load(),
		TimedOutAfter:  d.counts.after.Load(),
		Unprocessed:    d.counts.unprocessed.Load(),
		Stalled:        d.counts.stalled.Load(),
	}
}

// Stall makes every write call wait, before it reaches DynamoDB, until
// Resume or until the call's context ends. Calls already past the gate are
// not affected.
func (d *DB) Stall() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gate == nil {
		d.gate = make(chan struct{})
	}
}

// Resume releases the calls waiting in Stall and lets new calls through.
func (d *DB) Resume() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.gate != nil {
		close(d.gate)
		d.gate = nil
	}
}

// fault is what happens to one call.
type fault int

const (
	none fault = iota
	throttle
	serverError
	timeoutBefore
)

// plan draws the fate of the next write call.
type plan struct {
	n             uint64
	before        fault
	timeoutAfter  bool
	rng           *rand.Rand
	operationName string
}

func (d *DB) plan(op string) *plan {
	n := d.calls.Add(1)
	rng := rand.New(rand.NewPCG(d.cfg.Seed, n))
	p := &plan{n: n, rng: rng, operationName: op}
	u := rng.Float64()
	switch c := d.cfg; {
	case u < c.ThrottleRate:
		p.before = throttle
	case u < c.ThrottleRate+c.ServerErrorRate:
		p.before = serverError
	case u < c.ThrottleRate+c.ServerErrorRate+c.TimeoutBeforeRate:
		p.before = timeoutBefore
	}
	p.timeoutAfter = rng.Float64() < d.cfg.TimeoutAfterRate
	return p
}

// enter runs the stall gate and the faults before DynamoDB. A non-nil error
// means the call must return it without reaching DynamoDB.
func (d *DB) enter(ctx context.Context, p *plan) error {
	d.mu.Lock()
	gate := d.gate
	d.mu.Unlock()
	if gate != nil {
		d.counts.stalled.Add(1)
		select {
		case <-gate:
		case <-ctx.Done():
			return d.canceled(p, ctx.Err())
		}
	}
	switch p.before {
	case throttle:
		d.counts.throttled.Add(1)
		var exc error = &types.ProvisionedThroughputExceededException{
			Message: aws.String("faultdb: injected throttling: the level of configured provisioned throughput for the table was exceeded"),
		}
		if d.cfg.ThrottleError != nil {
			exc = d.cfg.ThrottleError()
		}
		return d.serviceError(p, http.StatusBadRequest, exc)
	case serverError:
		d.counts.server.Add(1)
		return d.serviceError(p, http.StatusInternalServerError, &types.InternalServerError{
			Message: aws.String("faultdb: injected internal server error"),
		})
	case timeoutBefore:
		d.counts.before.Add(1)
		return d.timeout(ctx, p, false)
	}
	return nil
}

// leave applies the timeout after DynamoDB: a non-nil error replaces the
// real response.
func (d *DB) leave(ctx context.Context, p *plan) error {
	if !p.timeoutAfter {
		return nil
	}
	d.counts.after.Add(1)
	return d.timeout(ctx, p, true)
}

// serviceError wraps exc as the SDK wraps an error response.
func (d *DB) serviceError(p *plan, status int, exc error) error {
	return &smithy.OperationError{
		ServiceID:     "DynamoDB",
		OperationName: p.operationName,
		Err: &awshttp.ResponseError{
			ResponseError: &smithyhttp.ResponseError{
				Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: http.Header{}}},
				Err:      exc,
			},
			RequestID: fmt.Sprintf("%s%d", RequestIDPrefix, p.n),
		},
	}
}

// RequestIDPrefix starts the request ID of every service error the wrapper
// injects.
const RequestIDPrefix = "faultdb-"

// canceled wraps a context error as the SDK does for a canceled request.
func (d *DB) canceled(p *plan, err error) error {
	return &smithy.OperationError{ServiceID: "DynamoDB", OperationName: p.operationName, Err: &aws.RequestCanceledError{Err: err}}
}

// timeout returns an injected timeout, after TimeoutDelay.
func (d *DB) timeout(ctx context.Context, p *plan, reached bool) error {
	if d.cfg.TimeoutDelay > 0 {
		t := time.NewTimer(d.cfg.TimeoutDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return d.canceled(p, ctx.Err())
		}
	}
	return &smithy.OperationError{
		ServiceID:     "DynamoDB",
		OperationName: p.operationName,
		Err: &smithyhttp.RequestSendError{Err: &url.Error{
			Op:  "Post",
			URL: "https://dynamodb.faultdb.invalid/",
			Err: &TimeoutError{Reached: reached},
		}},
	}
}

// TimeoutError is the innermost error of an injected timeout. Like a net
// timeout its Timeout method returns true. Reached tells whether the call
// was performed before the caller saw the timeout.
type TimeoutError struct {
	Reached bool
}

func (e *TimeoutError) Error() string {
	if e.Reached {
		return "faultdb: injected timeout awaiting response headers (the request reached DynamoDB)"
	}
	return "faultdb: injected timeout before the request reached DynamoDB"
}

// Timeout reports true: this is a timeout.
func (e *TimeoutError) Timeout() bool { return true }

// Temporary reports true, as net timeouts do.
func (e *TimeoutError) Temporary() bool { return true }

// IsInjected reports whether err is a fault the wrapper injected (and not
// one DynamoDB returned).
func IsInjected(err error) bool {
	var te *TimeoutError
	if errors.As(err, &te) {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && strings.HasPrefix(re.RequestID, RequestIDPrefix)
}

// PutItem injects faults into a PutItem call.
func (d *DB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	p := d.plan("PutItem")
	if err := d.enter(ctx, p); err != nil {
		return nil, err
	}
	out, err := d.Client.PutItem(ctx, in, opts...)
	if terr := d.leave(ctx, p); terr != nil {
		return nil, terr
	}
	return out, err
}

// UpdateItem injects faults into an UpdateItem call.
func (d *DB) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	p := d.plan("UpdateItem")
	if err := d.enter(ctx, p); err != nil {
		return nil, err
	}
	out, err := d.Client.UpdateItem(ctx, in, opts...)
	if terr := d.leave(ctx, p); terr != nil {
		return nil, terr
	}
	return out, err
}

// DeleteItem injects faults into a DeleteItem call.
func (d *DB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	p := d.plan("DeleteItem")
	if err := d.enter(ctx, p); err != nil {
		return nil, err
	}
	out, err := d.Client.DeleteItem(ctx, in, opts...)
	if terr := d.leave(ctx, p); terr != nil {
		return nil, terr
	}
	return out, err
}

// BatchWriteItem injects faults into a BatchWriteItem call: besides the
// faults of every write call, it holds back UnprocessedShare of each table's
// items and returns them as UnprocessedItems, merged with any that DynamoDB
// itself returned.
func (d *DB) BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	p := d.plan("BatchWriteItem")
	if err := d.enter(ctx, p); err != nil {
		return nil, err
	}
	held := map[string][]types.WriteRequest{}
	send := in
	if d.cfg.UnprocessedShare > 0 {
		rest := make(map[string][]types.WriteRequest, len(in.RequestItems))
		for _, table := range slices.Sorted(maps.Keys(in.RequestItems)) {
			reqs := in.RequestItems[table]
			k := int(d.cfg.UnprocessedShare * float64(len(reqs)))
			if k == 0 {
				rest[table] = reqs
				continue
			}
			perm := p.rng.Perm(len(reqs))
			hold := make(map[int]bool, k)
			for _, i := range perm[:k] {
				hold[i] = true
			}
			for i, r := range reqs {
				if hold[i] {
					held[table] = append(held[table], r)
				} else {
					rest[table] = append(rest[table], r)
				}
			}
			d.counts.unprocessed.Add(int64(k))
		}
		c := *in
		c.RequestItems = rest
		send = &c
	}
	out, err := d.Client.BatchWriteItem(ctx, send, opts...)
	if terr := d.leave(ctx, p); terr != nil {
		return nil, terr
	}
	if err != nil {
		return out, err
	}
	if len(held) > 0 {
		if out.UnprocessedItems == nil {
			out.UnprocessedItems = map[string][]types.WriteRequest{}
		}
		for table, reqs := range held {
			out.UnprocessedItems[table] = append(out.UnprocessedItems[table], reqs...)
		}
	}
	return out, nil
}
