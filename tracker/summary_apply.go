package tracker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// More attributes of a summary item, written by SummaryWriter.
const (
	// AttrLinkedAt, on a visitor's item, is the event key (EventKey: event_at
	// "#" event_id) of the event that linked the visitor to AttrLinkedUser.
	// A link is replaced only by one with a smaller key, so the stored link
	// is the earliest by event_at, then event_id: the rule of the lake's
	// identities view, whatever order the events are applied in.
	AttrLinkedAt = "linked_at"
	// AttrAppliedBatch is an opaque token of the last SummaryDelta batch
	// applied to the item (SummaryDelta.Batch). A delta carrying the same
	// token is not applied again, so a retried batch does not count twice.
	AttrAppliedBatch = "applied_batch"
)

// DefaultSummaryApplyAttempts bounds the UpdateItem calls of one Apply when
// SummaryWriterConfig.MaxAttempts is zero.
const DefaultSummaryApplyAttempts = 5

// SummaryUpdater is the DynamoDB call a SummaryWriter makes; the real
// *dynamodb.Client and tracker.DynamoDB satisfy it.
type SummaryUpdater interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// SummaryWriterConfig configures a SummaryWriter. Table is required; the
// zero value of every other field means its default.
type SummaryWriterConfig struct {
	// Table is the summary table's name (SummaryTableDef).
	Table string
	// MaxAttempts bounds the UpdateItem calls of one Apply (the first
	// attempt and those that follow a conditional check failure); zero means
	// DefaultSummaryApplyAttempts. DynamoDB errors are not retried here: the
	// SDK client retries them, and Apply returns what remains.
	MaxAttempts int
	// CacheSize bounds the actors whose stored summary the writer remembers
	// (from its own writes and from the items DynamoDB returns with a failed
	// condition), so that it leaves out of an update what DynamoDB would
	// refuse: a last_seen not later than the stored one, a link not earlier,
	// anonymous IDs already stored or a full set. Without it such an update
	// costs a second UpdateItem. Zero means DefaultSummaryWriterCacheSize;
	// negative disables the cache.
	CacheSize int
	// CacheTTL is how long a remembered summary is used; zero means
	// DefaultSummaryWriterCacheTTL. What is remembered stays true as other
	// writers write (last_seen only grows, a link only moves earlier, the
	// set only grows) until the item is deleted, for example when a user is
	// forgotten: for CacheTTL after that, an update may then leave out a
	// last_seen or link it should have written.
	CacheTTL time.Duration
}

// Defaults of SummaryWriterConfig's cache.
const (
	DefaultSummaryWriterCacheSize = 100_000
	DefaultSummaryWriterCacheTTL  = 15 * time.Minute
)

// SummaryDelta is what a consumer of the events learned about one actor (a
// user or an anonymous visitor) from a batch of events, to be added to the
// actor's summary item by SummaryWriter.Apply.
type SummaryDelta struct {
	// UserID or AnonymousID names the actor; UserID wins when both are set,
	// as in ActorKey.
	UserID      string
	AnonymousID string
	// Actions is added to the action count (ADD actions); zero adds nothing.
	Actions int64
	// LastSeen, when not zero, is the time of the actor's newest event in the
	// batch. It replaces the stored last_seen only when later, so last_seen
	// never goes back, whatever order batches are applied in; Actions is
	// added either way.
	LastSeen time.Time
	// AnonymousIDs, on a user's delta, are visitors seen with the user (the
	// anonymous IDs of events carrying both IDs), added to the user's
	// anonymous_ids while it holds fewer than MaxLinkedAnonymousIDs: the
	// earlier ones in this slice are kept first.
	AnonymousIDs []string
	// LinkedUser, on a visitor's delta, is the user of the earliest event of
	// the batch that carried the visitor's anonymous ID and a user ID, and
	// LinkedAt that event's key (EventKey). The stored link is replaced only
	// by one with a smaller key (AttrLinkedAt).
	LinkedUser string
	LinkedAt   string
	// Batch, when not empty, identifies the batch (at most 64 bytes): a
	// delta whose Batch equals the token the item stores (AttrAppliedBatch)
	// is not applied again. Give every batch of events its own token and a
	// retry of the same batch the same token.
	Batch string
}

func (d *SummaryDelta) actor() string { return ActorKey(d.UserID, d.AnonymousID) }

// ApplyResult says what Apply did.
type ApplyResult struct {
	// Writes is the number of UpdateItem calls made: usually 1; one more
	// after each conditional check failure; 0 when there was nothing to
	// write.
	Writes int
	// AlreadyApplied reports that the item already held the delta's Batch:
	// nothing was written.
	AlreadyApplied bool
	// LastSeenKept reports that the stored last_seen was not earlier than
	// the delta's: only the count (and links) were written.
	LastSeenKept bool
	// LinkKept reports that the visitor's stored link was earlier (or of
	// unknown time): the delta's link was not written.
	LinkKept bool
	// AnonymousIDsDropped counts anonymous IDs not added because the user's
	// set was full (MaxLinkedAnonymousIDs).
	AnonymousIDsDropped int
}

// SummaryWriter applies SummaryDeltas to the summary table: the writer of
// the stream consumer that keeps the summary for every event (and of any
// batch job that replays events). Each Apply is one conditional UpdateItem,
// or a few when a condition fails (see Apply). It is safe for concurrent
// use.
type SummaryWriter struct {
	db          SummaryUpdater
	table       string
	maxAttempts int
	cache       *factCache // nil when disabled
}

// NewSummaryWriter returns a SummaryWriter writing cfg.Table with db. It
// does no I/O and fails when db is nil, the table is empty or MaxAttempts is
// negative.
func NewSummaryWriter(db SummaryUpdater, cfg SummaryWriterConfig) (*SummaryWriter, error) {
	switch {
	case db == nil:
		return nil, errors.New("tracker: NewSummaryWriter: nil DynamoDB client")
	case cfg.Table == "":
		return nil, errors.New("tracker: NewSummaryWriter: SummaryWriterConfig.Table is empty")
	case cfg.MaxAttempts < 0 || cfg.CacheTTL < 0:
		return nil, errors.New("tracker: NewSummaryWriter: negative MaxAttempts or CacheTTL")
	}
	w := &SummaryWriter{db: db, table: cfg.Table, maxAttempts: cmp0(cfg.MaxAttempts, DefaultSummaryApplyAttempts)}
	if cfg.CacheSize >= 0 {
		ttl := cfg.CacheTTL
		if ttl == 0 {
			ttl = DefaultSummaryWriterCacheTTL
		}
		w.cache = newFactCache(cmp0(cfg.CacheSize, DefaultSummaryWriterCacheSize), ttl)
	}
	return w, nil
}

// ErrSummaryContention is returned (wrapped) by Apply when the item's
// conditions kept failing because other writers changed it between attempts.
var ErrSummaryContention = errors.New("tracker: summary item changed by other writers at every attempt")

// Apply adds d to its actor's summary item with one UpdateItem:
//
//	SET last_seen = :t, user_id = :u, linked_at = :k, applied_batch = :b
//	ADD actions :n, anonymous_ids :ids
//	IF (attribute_not_exists(applied_batch) OR applied_batch <> :b)
//	   AND (attribute_not_exists(last_seen) OR last_seen < :t)
//	   AND (attribute_not_exists(anonymous_ids) OR size(anonymous_ids) <= :max - len(:ids))
//	   AND (attribute_not_exists(user_id) OR linked_at > :k)
//
// with only the parts the delta has. When the condition fails, DynamoDB
// returns the stored item (ReturnValuesOnConditionCheckFailure), and Apply
// writes again what still applies: nothing if the batch was applied already;
// otherwise the count, with last_seen only if later, the anonymous IDs not
// yet stored that fit, and the link only if earlier. So a late batch costs a
// second write, and any number of concurrent writers keep every rule.
//
// Errors: an *ArgumentError for a delta without an actor, an invalid ID or a
// malformed LinkedAt or Batch; ErrSummaryContention after MaxAttempts
// conditional failures; otherwise the DynamoDB error wrapped with the actor.
// On error the delta may be partly applied by an earlier attempt only if
// that attempt's response was lost; applying the same delta (same Batch)
// again is then safe.
func (w *SummaryWriter) Apply(ctx context.Context, d SummaryDelta) (ApplyResult, error) {
	var res ApplyResult
	if err := d.check(); err != nil {
		return res, err
	}
	p := newApplyPlan(&d)
	actor := d.actor()
	if f, ok := w.cache.get(actor); ok {
		p.narrow(&f, &res)
	}
	for res.Writes < w.maxAttempts {
		if p.empty() {
			return res, nil
		}
		in, err := p.input(w.table)
		if err != nil {
			return res, fmt.Errorf("apply summary of %s: build update: %w", actor, err)
		}
		res.Writes++
		_, err = w.db.UpdateItem(ctx, in)
		var ccf *types.ConditionalCheckFailedException
		switch {
		case err == nil:
			w.cache.wrote(actor, p)
			return res, nil
		case errors.As(err, &ccf):
			f := factsOf(ccf.Item)
			w.cache.put(actor, f)
			if b, ok := ccf.Item[AttrAppliedBatch].(*types.AttributeValueMemberS); ok && d.Batch != "" && b.Value == d.Batch {
				res.AlreadyApplied = true
				return res, nil
			}
			p.narrow(&f, &res)
		default:
			return res, fmt.Errorf("apply summary of %s: %w", actor, err)
		}
	}
	return res, fmt.Errorf("apply summary of %s: %w (%d attempts)", d.actor(), ErrSummaryContention, res.Writes)
}

func (d *SummaryDelta) check() error {
	const op = "apply summary"
	if d.UserID != "" {
		if err := checkUserID(op, d.UserID); err != nil {
			return err
		}
	} else if err := checkAnonymousID(op, d.AnonymousID); err != nil {
		return err
	}
	if d.Actions < 0 {
		return &ArgumentError{Op: op, Field: AttrActions, Problem: "is negative"}
	}
	for _, id := range d.AnonymousIDs {
		if err := checkAnonymousID(op, id); err != nil {
			return err
		}
	}
	if d.LinkedUser != "" {
		if err := checkUserID(op, d.LinkedUser); err != nil {
			return err
		}
		if _, _, ok := splitEventKey(d.LinkedAt); !ok {
			return &ArgumentError{Op: op, Field: AttrLinkedAt, Problem: "is not an event key (EventKey)"}
		}
	}
	if len(d.Batch) > 64 {
		return &ArgumentError{Op: op, Field: AttrAppliedBatch, Problem: "is longer than 64 bytes"}
	}
	return nil
}

// splitEventKey splits an event key into its time and ID.
func splitEventKey(k string) (time.Time, string, bool) {
	n := len(TimeLayout)
	if len(k) < n+2 || k[n] != '#' {
		return time.Time{}, "", false
	}
	t, err := time.Parse(TimeLayout, k[:n])
	if err != nil {
		return time.Time{}, "", false
	}
	return t, k[n+1:], true
}

// applyPlan is what an Apply still has to write.
type applyPlan struct {
	d        *SummaryDelta
	key      map[string]types.AttributeValue
	lastSeen string // "" when not to be set
	ids      []string
	link     bool
}

func newApplyPlan(d *SummaryDelta) *applyPlan {
	p := &applyPlan{d: d, key: map[string]types.AttributeValue{AttrActor: &types.AttributeValueMemberS{Value: d.actor()}}}
	if !d.LastSeen.IsZero() {
		p.lastSeen = d.LastSeen.UTC().Format(TimeLayout)
	}
	if d.UserID != "" {
		seen := make(map[string]bool, len(d.AnonymousIDs))
		for _, id := range d.AnonymousIDs {
			if !seen[id] && len(p.ids) < MaxLinkedAnonymousIDs {
				seen[id] = true
				p.ids = append(p.ids, id)
			}
		}
	} else {
		p.link = d.LinkedUser != ""
	}
	return p
}

func (p *applyPlan) empty() bool {
	return p.d.Actions == 0 && p.lastSeen == "" && len(p.ids) == 0 && !p.link
}

func (p *applyPlan) input(table string) (*dynamodb.UpdateItemInput, error) {
	name := expression.Name
	var upd expression.UpdateBuilder
	var conds []expression.ConditionBuilder
	if b := p.d.Batch; b != "" {
		upd = upd.Set(name(AttrAppliedBatch), expression.Value(b))
		conds = append(conds, name(AttrAppliedBatch).AttributeNotExists().Or(name(AttrAppliedBatch).NotEqual(expression.Value(b))))
	}
	if p.d.Actions > 0 {
		upd = upd.Add(name(AttrActions), expression.Value(p.d.Actions))
	}
	if p.lastSeen != "" {
		upd = upd.Set(name(AttrLastSeen), expression.Value(p.lastSeen))
		conds = append(conds, name(AttrLastSeen).AttributeNotExists().Or(name(AttrLastSeen).LessThan(expression.Value(p.lastSeen))))
	}
	if len(p.ids) > 0 {
		upd = upd.Add(name(AttrAnonymousIDs), expression.Value(types.AttributeValueMemberSS{Value: p.ids}))
		conds = append(conds, name(AttrAnonymousIDs).AttributeNotExists().Or(
			expression.Size(name(AttrAnonymousIDs)).LessThanEqual(expression.Value(MaxLinkedAnonymousIDs-len(p.ids)))))
	}
	if p.link {
		upd = upd.Set(name(AttrLinkedUser), expression.Value(p.d.LinkedUser)).Set(name(AttrLinkedAt), expression.Value(p.d.LinkedAt))
		conds = append(conds, name(AttrLinkedUser).AttributeNotExists().Or(name(AttrLinkedAt).GreaterThan(expression.Value(p.d.LinkedAt))))
	}
	b := expression.NewBuilder().WithUpdate(upd)
	switch len(conds) {
	case 0:
	case 1:
		b = b.WithCondition(conds[0])
	default:
		b = b.WithCondition(expression.And(conds[0], conds[1], conds[2:]...))
	}
	ex, err := b.Build()
	if err != nil {
		return nil, err
	}
	return &dynamodb.UpdateItemInput{
		TableName:                           aws.String(table),
		Key:                                 p.key,
		UpdateExpression:                    ex.Update(),
		ConditionExpression:                 ex.Condition(),
		ExpressionAttributeNames:            ex.Names(),
		ExpressionAttributeValues:           ex.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	}, nil
}

// facts is what is known of a stored summary item: bounds that stay true
// as writers write, since last_seen only grows, a link only moves earlier
// and anonymous_ids only grows.
type facts struct {
	lastSeen string   // the stored last_seen is at least this ("" unknown)
	linked   bool     // the item has a link ...
	linkAt   string   // ... whose key is at most this ("": unknown time)
	ids      []string // in the stored set
	full     bool     // the set holds MaxLinkedAnonymousIDs
	complete bool     // ids is the whole stored set (read from the item)
	learned  time.Time
}

// factsOf reads the facts of a stored item.
func factsOf(item map[string]types.AttributeValue) facts {
	f := facts{complete: true}
	if v, ok := item[AttrLastSeen].(*types.AttributeValueMemberS); ok {
		f.lastSeen = v.Value
	}
	if _, ok := item[AttrLinkedUser]; ok {
		f.linked = true
		if v, ok := item[AttrLinkedAt].(*types.AttributeValueMemberS); ok {
			f.linkAt = v.Value
		}
	}
	if ss, ok := item[AttrAnonymousIDs].(*types.AttributeValueMemberSS); ok {
		f.ids = ss.Value
	}
	f.full = len(f.ids) >= MaxLinkedAnonymousIDs
	return f
}

// narrow leaves out of the plan what the stored item, as f describes it,
// would refuse.
func (p *applyPlan) narrow(f *facts, res *ApplyResult) {
	if p.lastSeen != "" && f.lastSeen >= p.lastSeen {
		p.lastSeen = ""
		res.LastSeenKept = true
	}
	if len(p.ids) > 0 {
		p.ids = slices.DeleteFunc(p.ids, func(id string) bool { return slices.Contains(f.ids, id) })
		room := len(p.ids)
		switch {
		case f.full:
			room = 0
		case f.complete:
			room = MaxLinkedAnonymousIDs - len(f.ids)
		}
		if len(p.ids) > room {
			res.AnonymousIDsDropped += len(p.ids) - room
			p.ids = p.ids[:room]
		}
	}
	if p.link && f.linked && (f.linkAt == "" || f.linkAt <= p.d.LinkedAt) {
		p.link = false
		res.LinkKept = true
	}
}

// factCache remembers the facts of recently written items: at most size
// actors in two generations (when the current one fills half the size it
// becomes the old one), each for ttl. Safe for concurrent use; a nil cache
// remembers nothing.
type factCache struct {
	mu       sync.Mutex
	half     int
	ttl      time.Duration
	cur, old map[string]facts
	now      func() time.Time
}

func newFactCache(size int, ttl time.Duration) *factCache {
	return &factCache{half: max(1, size/2), ttl: ttl, cur: make(map[string]facts), now: time.Now}
}

func (c *factCache) get(actor string) (facts, bool) {
	if c == nil {
		return facts{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.cur[actor]
	if !ok {
		f, ok = c.old[actor]
	}
	if !ok || c.now().Sub(f.learned) > c.ttl {
		return facts{}, false
	}
	f.ids = slices.Clone(f.ids)
	return f, true
}

func (c *factCache) put(actor string, f facts) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	f.learned = c.now()
	if _, ok := c.cur[actor]; !ok && len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[string]facts, c.half)
	}
	c.cur[actor] = f
}

// wrote merges what a successful update of p says into the actor's facts.
func (c *factCache) wrote(actor string, p *applyPlan) {
	if c == nil {
		return
	}
	f, _ := c.get(actor)
	if p.lastSeen > f.lastSeen {
		f.lastSeen = p.lastSeen
	}
	if p.link {
		f.linked, f.linkAt = true, p.d.LinkedAt
	}
	for _, id := range p.ids {
		if !slices.Contains(f.ids, id) {
			f.ids = append(f.ids, id)
		}
	}
	f.full = f.full || len(f.ids) >= MaxLinkedAnonymousIDs
	c.put(actor, f)
}

// linkedAtTime returns the time of a stored linked_at event key.
func linkedAtTime(k string) time.Time {
	t, _, _ := splitEventKey(k)
	return t
}

// CheckActor reports whether a stored event's IDs are valid by the write
// path's rules: at least one of userID and anonymousID, each within its
// size, valid UTF-8 without control characters or surrounding white space.
// Consumers of the events table's stream use it to skip items written by
// something other than the tracker. The error is an *ArgumentError.
func CheckActor(userID, anonymousID string) error {
	const op = "check actor"
	if userID == "" && anonymousID == "" {
		return &ArgumentError{Op: op, Field: FieldUserID, Problem: "and anonymous_id are both empty"}
	}
	if userID != "" {
		if err := checkUserID(op, userID); err != nil {
			return err
		}
	}
	if anonymousID != "" {
		return checkAnonymousID(op, anonymousID)
	}
	return nil
}
