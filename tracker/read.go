package tracker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Read limits and defaults.
const (
	// DefaultRecentLimit is the page size when RecentOptions.Limit is zero.
	DefaultRecentLimit = 50
	// MaxRecentLimit is the largest page size Recent accepts.
	MaxRecentLimit = 1000
	// DefaultMaxItemsRead caps the items one type-filtered Recent call reads
	// when neither ReadConfig nor RecentOptions sets a cap: about 1.5 MB of
	// typical items, 200 read capacity units with eventually consistent
	// reads.
	DefaultMaxItemsRead = 5000
	// MaxTypesFilter is the most event types one filter may name.
	MaxTypesFilter = 100
)

// ErrInvalidArgument is matched by errors about bad read or summary
// arguments: errors.Is(err, ErrInvalidArgument) holds for an *ArgumentError.
var ErrInvalidArgument = errors.New("invalid argument")

// ArgumentError names the argument of a read or summary call that is wrong.
// Nothing was read or written.
type ArgumentError struct {
	// Op is the operation: "recent", "touch", "summary", ...
	Op string
	// Field names the argument: "user_id", "limit", "types", "from", ...
	Field string
	// Problem says what is wrong, for people.
	Problem string
}

func (e *ArgumentError) Error() string { return e.Op + ": " + e.Field + ": " + e.Problem }

// Is makes errors.Is(err, ErrInvalidArgument) hold.
func (e *ArgumentError) Is(target error) bool { return target == ErrInvalidArgument }

// checkUserID applies the write path's user ID rules to a read argument.
func checkUserID(op, id string) error {
	return checkActorID(op, FieldUserID, id, MaxUserIDBytes)
}

// checkAnonymousID applies the write path's anonymous ID rules to a read
// argument.
func checkAnonymousID(op, id string) error {
	return checkActorID(op, FieldAnonymousID, id, MaxAnonymousIDBytes)
}

func checkActorID(op, field, id string, maxBytes int) error {
	problem := checkIdentifier(id, maxBytes)
	if id == "" {
		problem = "is empty"
	}
	if problem == "" {
		return nil
	}
	return &ArgumentError{Op: op, Field: field, Problem: problem}
}

// StoredEvent is an event as read back: the event's fields (UserID,
// AnonymousID, Type, At, ID, UserAgent, IP, Attributes), the client
// classification stored with it, and the details its user agent gives.
type StoredEvent struct {
	Event
	// Client is the classification stored at write time (device_type,
	// browser, os, is_bot); for an item written before the tracker stored
	// it, Classify(UserAgent), which gives the same values.
	Client Client
	// Device is ParseUserAgent(UserAgent): versions, platform and model for
	// people to read.
	Device Device
}

// RecentOptions selects a page of a user's activity. The zero value asks for
// the DefaultRecentLimit newest events of any type.
type RecentOptions struct {
	// Limit is the page size: 0 means DefaultRecentLimit; at most
	// MaxRecentLimit.
	Limit int
	// Cursor continues a previous query: Page.Next of the page before. It is
	// only valid with the same user, Types, From and To it was issued for.
	Cursor string
	// Types, when not empty, keeps only events of these types ("login" for
	// the last logins). The page still holds Limit events when that many
	// exist, unless MaxItemsRead events were read first (see Page.Partial).
	Types []string
	// From, when not zero, keeps events at or after From (inclusive).
	From time.Time
	// To, when not zero, keeps events before To (exclusive). With From, it
	// must be after From. Both bound the sort key, so a range costs only the
	// events inside it, across midnight and any time zone.
	To time.Time
	// MaxItemsRead caps the items a Types-filtered call reads; 0 means the
	// reader's cap (ReadConfig.MaxItemsRead, default DefaultMaxItemsRead).
	MaxItemsRead int
	// ConsistentRead asks for strongly consistent reads (twice the cost).
	ConsistentRead bool
}

// Page is one page of a user's activity, newest first.
type Page struct {
	// Events holds at most Limit events, newest first.
	Events []StoredEvent
	// Next continues the query after the last event of this page; empty when
	// no older events match. With a Types filter a non-empty Next can, rarely,
	// lead to an empty last page.
	Next string
	// Partial reports that a Types-filtered call stopped after reading
	// MaxItemsRead items with fewer than Limit matches; Next continues.
	Partial bool
	// ItemsRead is how many items DynamoDB read (and billed) for this page,
	// including those the type filter discarded.
	ItemsRead int
	// CapacityUnits is the read capacity DynamoDB reports as consumed.
	CapacityUnits float64
	// Skipped counts items of the partition that are not events the
	// tracker wrote (a sort key without "<time>#<id>"): they are left out
	// of Events instead of failing the page.
	Skipped int
}

// ReadConfig configures a Reader. The zero value means defaults.
type ReadConfig struct {
	// CursorKeys sign (the first key) and verify (every key) continuation
	// cursors, each at least MinCursorKeyBytes long. To rotate, put the new
	// key first and keep the old one while its cursors may still be in use.
	// Empty means a random key per process: a cursor is then valid only in
	// the process that issued it. Several processes serving the same pages
	// (behind a load balancer) must share a key, for example from AWS
	// Secrets Manager.
	CursorKeys [][]byte
	// MaxItemsRead caps the items a Types-filtered Recent call reads; 0
	// means DefaultMaxItemsRead.
	MaxItemsRead int
}

// Reader reads users' activity. It is immutable and safe for concurrent use.
type Reader struct {
	t       *Tracker
	codec   cursorCodec
	maxRead int
}

// NewReader returns a Reader of t's tables. It fails when a cursor key is
// shorter than MinCursorKeyBytes or MaxItemsRead is negative.
func NewReader(t *Tracker, cfg ReadConfig) (*Reader, error) {
	if t == nil {
		return nil, errors.New("tracker: NewReader: nil Tracker")
	}
	if cfg.MaxItemsRead < 0 {
		return nil, errors.New("tracker: NewReader: negative MaxItemsRead")
	}
	r := &Reader{t: t, maxRead: cmp0(cfg.MaxItemsRead, DefaultMaxItemsRead)}
	for i, k := range cfg.CursorKeys {
		if len(k) < MinCursorKeyBytes {
			return nil, fmt.Errorf("tracker: NewReader: cursor key %d is %d bytes, at least %d are needed", i, len(k), MinCursorKeyBytes)
		}
		r.codec.keys = append(r.codec.keys, slices.Clone(k))
	}
	if len(r.codec.keys) == 0 {
		r.codec.keys = [][]byte{processCursorKey()}
	}
	return r, nil
}

func cmp0(a, b int) int {
	if a != 0 {
		return a
	}
	return b
}

// Recent returns a page of the user's activity, newest first, with the
// default ReadConfig: cursors are signed with a random per-process key, so
// in a deployment of several processes use NewReader with shared
// CursorKeys. See (*Reader).Recent.
func (t *Tracker) Recent(ctx context.Context, userID string, opts RecentOptions) (Page, error) {
	return t.defaultReader().Recent(ctx, userID, opts)
}

// RecentAnonymous is Recent for an anonymous visitor: the events stored
// under the anonymous ID, those without a user ID. See
// (*Reader).RecentAnonymous.
func (t *Tracker) RecentAnonymous(ctx context.Context, anonymousID string, opts RecentOptions) (Page, error) {
	return t.defaultReader().RecentAnonymous(ctx, anonymousID, opts)
}

func (t *Tracker) defaultReader() *Reader {
	return &Reader{t: t, codec: cursorCodec{keys: [][]byte{processCursorKey()}}, maxRead: DefaultMaxItemsRead}
}

// EventTypes returns the tracker's allowlist of event types, sorted.
func (t *Tracker) EventTypes() []string {
	out := make([]string, 0, len(t.v.types))
	for k := range t.v.types {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// readItem is the part of an event item a page needs: event_at and event_id
// are the two halves of event_key. IsBot is a pointer to tell an item
// written before the tracker classified user agents.
type readItem struct {
	EventKey    string            `dynamodbav:"event_key"`
	UserID      string            `dynamodbav:"user_id"`
	AnonymousID string            `dynamodbav:"anonymous_id"`
	EventType   string            `dynamodbav:"event_type"`
	UserAgent   string            `dynamodbav:"user_agent"`
	IPAddress   string            `dynamodbav:"ip_address"`
	DeviceType  string            `dynamodbav:"device_type"`
	Browser     string            `dynamodbav:"browser"`
	OS          string            `dynamodbav:"os"`
	IsBot       *bool             `dynamodbav:"is_bot"`
	Attributes  map[string]string `dynamodbav:"attributes"`
}

var readProjection = expression.NamesList(expression.Name(AttrEventKey),
	expression.Name(FieldUserID), expression.Name(FieldAnonymousID), expression.Name(FieldEventType),
	expression.Name(FieldUserAgent), expression.Name(FieldIPAddress), expression.Name(FieldDeviceType),
	expression.Name(FieldBrowser), expression.Name(FieldOS), expression.Name(FieldIsBot),
	expression.Name(FieldAttributes))

// query is a validated Recent call.
type query struct {
	actor   string // the partition: ActorKey of the user or the visitor
	who     string // for errors: user "42", anonymous visitor "f00"
	user    string
	limit   int
	types   []string // sorted, unique
	lo, hi  string   // event_key bounds: lo inclusive, hi exclusive; "" = open
	maxRead int
	start   string // event_key to continue after; "" = newest
	digest  [cursorDigestLen]byte
}

func (r *Reader) parse(userID, anonymousID string, o RecentOptions) (query, error) {
	const op = "recent"
	q := query{user: userID, limit: cmp0(o.Limit, DefaultRecentLimit), maxRead: cmp0(o.MaxItemsRead, r.maxRead)}
	if anonymousID != "" || userID == "" {
		if err := checkAnonymousID(op, anonymousID); err != nil {
			return q, err
		}
		q.who = fmt.Sprintf("anonymous visitor %q", anonymousID)
	} else {
		if err := checkUserID(op, userID); err != nil {
			return q, err
		}
		q.who = fmt.Sprintf("user %q", userID)
	}
	q.actor = ActorKey(userID, anonymousID)
	if q.limit < 1 || q.limit > MaxRecentLimit {
		return q, &ArgumentError{Op: op, Field: "limit", Problem: fmt.Sprintf("%d is not between 1 and %d", o.Limit, MaxRecentLimit)}
	}
	if q.maxRead < 1 {
		return q, &ArgumentError{Op: op, Field: "max_items_read", Problem: fmt.Sprintf("%d is not positive", o.MaxItemsRead)}
	}
	if len(o.Types) > MaxTypesFilter {
		return q, &ArgumentError{Op: op, Field: "types", Problem: fmt.Sprintf("names %d types, the limit is %d", len(o.Types), MaxTypesFilter)}
	}
	for _, t := range o.Types {
		if len(t) > MaxEventTypeBytes || !validAttributeKey(t) {
			return q, &ArgumentError{Op: op, Field: "types", Problem: fmt.Sprintf("%q is not an event type", truncateForError(t))}
		}
	}
	if len(o.Types) > 0 {
		q.types = slices.Clone(o.Types)
		slices.Sort(q.types)
		q.types = slices.Compact(q.types)
	}
	var err error
	if q.lo, err = rangeBound(op, "from", o.From); err != nil {
		return q, err
	}
	if q.hi, err = rangeBound(op, "to", o.To); err != nil {
		return q, err
	}
	if q.lo != "" && q.hi != "" && q.lo >= q.hi {
		return q, &ArgumentError{Op: op, Field: "to", Problem: "is not after from"}
	}
	q.digest = queryDigest(r.t.eventsTable, q.actor, q.types, q.lo, q.hi)
	if o.Cursor != "" {
		if q.start, err = r.codec.decode(o.Cursor, q.digest); err != nil {
			return q, fmt.Errorf("recent events of %s: %w", q.who, err)
		}
	}
	return q, nil
}

// rangeBound formats a range end as a sort key bound. Stored times have
// millisecond precision, so a bound with a finer fraction is rounded up: an
// event at or after the bound is exactly an event at or after the rounded
// bound. Event keys are "<time>#<id>", so no key equals a bare time: the
// bound sorts just before every event at that millisecond.
func rangeBound(op, field string, t time.Time) (string, error) {
	if t.IsZero() {
		return "", nil
	}
	t = t.UTC()
	if r := t.Truncate(time.Millisecond); r.Before(t) {
		t = r.Add(time.Millisecond)
	}
	if t.Year() < 1 || t.After(maxEventTime) {
		return "", &ArgumentError{Op: op, Field: field, Problem: "is outside years 0001-9999"}
	}
	return t.Format(TimeLayout), nil
}

// Recent returns a page of the user's activity, newest first.
//
// Without Types, it reads Limit+1 items (one more to know whether there is
// a next page). With Types, DynamoDB applies its Limit before the filter,
// so Recent queries page after page, sizing each from the matches seen so
// far, until it has Limit matches, the user's events are exhausted, or it
// has read opts.MaxItemsRead items (then Page.Partial is set and Page.Next
// continues). Reading the last 10 logins when 1 event in 100 is a login thus
// reads (and pays for) about 1,000 items; see docs/read.md.
//
// Errors: an *ArgumentError (ErrInvalidArgument) naming a bad argument, a
// *CursorError (ErrInvalidCursor) for a cursor that is altered, signed with
// another key or issued for another query, or the DynamoDB error wrapped
// with the user. A user without events gets an empty page and no error.
func (r *Reader) Recent(ctx context.Context, userID string, opts RecentOptions) (Page, error) {
	if userID == "" {
		return Page{}, &ArgumentError{Op: "recent", Field: FieldUserID, Problem: "is empty"}
	}
	return r.recent(ctx, userID, "", opts)
}

// RecentAnonymous returns a page of an anonymous visitor's activity, newest
// first: the events stored under the anonymous ID, which are those without a
// user ID. Events the visitor sent after being identified carry the user ID
// and are the user's (Recent). Otherwise as Recent; errors name
// anonymous_id.
func (r *Reader) RecentAnonymous(ctx context.Context, anonymousID string, opts RecentOptions) (Page, error) {
	if anonymousID == "" {
		return Page{}, &ArgumentError{Op: "recent", Field: FieldAnonymousID, Problem: "is empty"}
	}
	return r.recent(ctx, "", anonymousID, opts)
}

func (r *Reader) recent(ctx context.Context, userID, anonymousID string, opts RecentOptions) (Page, error) {
	q, err := r.parse(userID, anonymousID, opts)
	if err != nil {
		return Page{}, err
	}
	page, err := r.run(ctx, q, opts.ConsistentRead)
	if err != nil {
		return Page{}, fmt.Errorf("recent events of %s: %w", q.who, err)
	}
	return page, nil
}

func (r *Reader) build(q query) (expression.Expression, error) {
	kc := expression.Key(AttrActor).Equal(expression.Value(q.actor))
	ek := expression.Key(AttrEventKey)
	switch {
	case q.lo != "" && q.hi != "":
		// BETWEEN is inclusive, but no key equals the bare time q.hi.
		kc = kc.And(ek.Between(expression.Value(q.lo), expression.Value(q.hi)))
	case q.lo != "":
		kc = kc.And(ek.GreaterThanEqual(expression.Value(q.lo)))
	case q.hi != "":
		kc = kc.And(ek.LessThan(expression.Value(q.hi)))
	}
	b := expression.NewBuilder().WithKeyCondition(kc).WithProjection(readProjection)
	switch len(q.types) {
	case 0:
	case 1:
		b = b.WithFilter(expression.Name(FieldEventType).Equal(expression.Value(q.types[0])))
	default:
		ops := make([]expression.OperandBuilder, len(q.types)-1)
		for i, t := range q.types[1:] {
			ops[i] = expression.Value(t)
		}
		b = b.WithFilter(expression.Name(FieldEventType).In(expression.Value(q.types[0]), ops...))
	}
	return b.Build()
}

func (r *Reader) run(ctx context.Context, q query, consistent bool) (Page, error) {
	ex, err := r.build(q)
	if err != nil {
		return Page{}, fmt.Errorf("build query: %w", err)
	}
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(r.t.eventsTable),
		KeyConditionExpression:    ex.KeyCondition(),
		FilterExpression:          ex.Filter(),
		ProjectionExpression:      ex.Projection(),
		ExpressionAttributeNames:  ex.Names(),
		ExpressionAttributeValues: ex.Values(),
		ScanIndexForward:          aws.Bool(false),
		ConsistentRead:            aws.Bool(consistent),
		ReturnConsumedCapacity:    types.ReturnConsumedCapacityTotal,
	}
	filtered := len(q.types) > 0
	var (
		page    Page
		items   []readItem
		start   = q.start
		devices = map[string]Device{}
	)
	for {
		need := q.limit - len(page.Events)
		if filtered {
			in.Limit = aws.Int32(int32(filteredPageSize(need, len(page.Events), page.ItemsRead, q.maxRead)))
		} else {
			in.Limit = aws.Int32(int32(need + 1))
		}
		in.ExclusiveStartKey = nil
		if start != "" {
			in.ExclusiveStartKey = map[string]types.AttributeValue{
				AttrActor:    &types.AttributeValueMemberS{Value: q.actor},
				AttrEventKey: &types.AttributeValueMemberS{Value: start},
			}
		}
		out, err := r.t.db.Query(ctx, in)
		if err != nil {
			return Page{}, err
		}
		page.ItemsRead += int(out.ScannedCount)
		if out.ConsumedCapacity != nil && out.ConsumedCapacity.CapacityUnits != nil {
			page.CapacityUnits += *out.ConsumedCapacity.CapacityUnits
		}
		items = items[:0]
		if err := attributevalue.UnmarshalListOfMaps(out.Items, &items); err != nil {
			return Page{}, fmt.Errorf("unmarshal events: %w", err)
		}
		for _, it := range items {
			if len(page.Events) == q.limit {
				// A further match exists: continue after the last one kept.
				page.Next = r.codec.encode(q.digest, eventKeyOf(page.Events[len(page.Events)-1]))
				return page, nil
			}
			e, ok := it.event(devices)
			if !ok {
				page.Skipped++
				continue
			}
			page.Events = append(page.Events, e)
		}
		last, _ := out.LastEvaluatedKey[AttrEventKey].(*types.AttributeValueMemberS)
		if last == nil {
			return page, nil // the user's events (in range) are exhausted
		}
		start = last.Value
		if len(page.Events) == q.limit || filtered && page.ItemsRead >= q.maxRead {
			page.Partial = len(page.Events) < q.limit
			page.Next = r.codec.encode(q.digest, start)
			return page, nil
		}
	}
}

// filteredPageSize is how many items to read next for a filtered query that
// still needs need matches after finding found in read items, within the cap.
// It reads a first guess of 4 items per wanted match (at least 100), doubles
// while nothing matches, and otherwise extrapolates the match rate seen so
// far with 20% to spare, so that a rare type costs few round trips and
// little over-reading.
func filteredPageSize(need, found, read, maxRead int) int {
	var n int
	switch {
	case read == 0:
		n = max(4*need, 100)
	case found == 0:
		n = 2 * read
	default:
		n = int(math.Ceil(float64(need) * float64(read) / float64(found) * 1.2))
	}
	n = max(n, need+1)
	return max(1, min(n, maxRead-read, math.MaxInt32))
}

func eventKeyOf(e StoredEvent) string { return EventKey(e.At, e.ID) }

// event returns the stored event of an item, or false for an item whose
// sort key is not "<time>#<id>" (not written by the tracker).
func (it *readItem) event(devices map[string]Device) (StoredEvent, bool) {
	at, id, ok := strings.Cut(it.EventKey, "#")
	if !ok || id == "" {
		return StoredEvent{}, false
	}
	t, err := time.Parse(TimeLayout, at)
	if err != nil {
		return StoredEvent{}, false
	}
	d, seen := devices[it.UserAgent]
	if !seen {
		d = ParseUserAgent(it.UserAgent)
		devices[it.UserAgent] = d
	}
	c := Client{DeviceType: it.DeviceType, Browser: it.Browser, OS: it.OS}
	if it.IsBot != nil {
		c.Bot = *it.IsBot
	} else {
		c = Classify(it.UserAgent) // written before classification was stored
	}
	return StoredEvent{
		Event: Event{
			UserID:      it.UserID,
			AnonymousID: it.AnonymousID,
			Type:        it.EventType,
			At:          t,
			ID:          id,
			UserAgent:   it.UserAgent,
			IP:          it.IPAddress,
			Attributes:  it.Attributes,
		},
		Client: c,
		Device: d,
	}, true
}
