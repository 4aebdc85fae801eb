package tracker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attributes of a summary item (SummaryTableDef, partition key actor: "u#"
// and the user ID, or "a#" and the anonymous ID).
const (
	// AttrAnonymousIDs, on a user's item, is the string set of the anonymous
	// IDs seen on the user's events (at most MaxLinkedAnonymousIDs): the
	// visitor histories the admin page shows beside the user's own.
	AttrAnonymousIDs = "anonymous_ids"
	// AttrLinkedUser, on a visitor's item, is the user ID of the earliest
	// event (by event_at, then event_id: AttrLinkedAt) that carried both the
	// visitor's anonymous ID and a user ID: the first link wins, as in the
	// lake's identities view.
	AttrLinkedUser = "user_id"
	// AttrLastSeen is when the user was last seen, formatted with TimeLayout
	// (type S, so that comparisons in condition expressions order by time).
	AttrLastSeen = "last_seen"
	// AttrActions counts the user's actions (type N), kept with ADD.
	AttrActions = "actions"
)

// Summary defaults.
const (
	// DefaultLastSeenInterval is how often last_seen is written at most, per
	// user, when SummaryConfig.Interval is zero.
	DefaultLastSeenInterval = time.Hour
	// DefaultSummaryCacheSize is how many users a Summarizer remembers the
	// last_seen of when SummaryConfig.CacheSize is zero (a few MB).
	DefaultSummaryCacheSize = 100_000
)

// SummaryConfig configures a Summarizer. The zero value means defaults.
type SummaryConfig struct {
	// Interval is the least time between two writes of a user's last_seen,
	// across all processes; zero means DefaultLastSeenInterval. last_seen is
	// therefore accurate to Interval.
	Interval time.Duration
	// CacheSize bounds the users whose last write the Summarizer remembers
	// to skip writes without asking DynamoDB; zero means
	// DefaultSummaryCacheSize. A forgotten user costs one conditional write
	// that DynamoDB rejects; the interval still holds.
	CacheSize int
}

// MaxLinkedAnonymousIDs bounds the anonymous IDs a user's summary keeps.
const MaxLinkedAnonymousIDs = 20

// UserSummary is what the summary table knows about a user or a visitor.
type UserSummary struct {
	// UserID is the user; for a visitor's summary, the user the visitor
	// became (the first link), or empty.
	UserID string
	// LinkedAt, for a visitor's summary, is the time of the event that
	// linked the visitor to UserID; zero when unknown or not linked.
	LinkedAt time.Time
	// AnonymousID is the visitor, for a visitor's summary; empty for a
	// user's.
	AnonymousID string
	// AnonymousIDs are the visitors seen with the user (a user's summary:
	// the anonymous IDs of the user's events that carried one), sorted; at
	// most MaxLinkedAnonymousIDs, the first ones applied. A visitor seen with
	// several users (a shared device) is listed by each, while its own
	// UserID names only the first link.
	AnonymousIDs []string
	// LastSeen is when the actor was last seen: the time of the newest
	// event the summarize consumer applied (SummaryWriter), or of the last
	// Summarizer write (accurate to its interval), whichever is later; zero
	// when never seen.
	LastSeen time.Time
	// Actions counts the actor's events (applied by the summarize consumer,
	// for a user the events carrying the user ID, for a visitor those
	// carrying only the anonymous ID) plus Summarizer.Touch calls.
	Actions int64
}

// Summarizer maintains the per-user summary: last seen and an action count.
// It writes only to the summary table, which has no stream, so summary writes
// never reach the analytics pipeline as events. It is safe for concurrent
// use; create one per process and share it, so its throttle sees every call.
type Summarizer struct {
	t        *Tracker
	interval time.Duration
	cache    seenCache
	// countExpr is the unconditional update that counts an action.
	countExpr expression.Expression
}

// NewSummarizer returns a Summarizer writing t's summary table, with t's
// clock (Config.Now). It fails when the configuration is negative.
func NewSummarizer(t *Tracker, cfg SummaryConfig) (*Summarizer, error) {
	if t == nil {
		return nil, errors.New("tracker: NewSummarizer: nil Tracker")
	}
	if cfg.Interval < 0 || cfg.CacheSize < 0 {
		return nil, errors.New("tracker: NewSummarizer: negative Interval or CacheSize")
	}
	s := &Summarizer{t: t, interval: cfg.Interval}
	if s.interval == 0 {
		s.interval = DefaultLastSeenInterval
	}
	s.cache.init(cmp0(cfg.CacheSize, DefaultSummaryCacheSize))
	var err error
	s.countExpr, err = expression.NewBuilder().
		WithUpdate(expression.Add(expression.Name(AttrActions), expression.Value(1))).Build()
	if err != nil {
		return nil, fmt.Errorf("tracker: build summary update: %w", err)
	}
	return s, nil
}

// Touch records one action of the user: it adds 1 to the action count, on
// every call, and sets last_seen to now when the last write is at least the
// interval old. A write of last_seen is skipped in process when this
// Summarizer wrote or saw a recent one, and otherwise made conditional
// (attribute_not_exists(last_seen) OR last_seen <= now - interval), so that
// across any number of processes two writes of one user's last_seen are at
// least the interval apart and last_seen never goes back. A write the
// condition rejects is not an error.
//
// Touch costs one UpdateItem, or two when another process wrote last_seen
// within the interval and this one did not know (the count then goes in a
// second, unconditional update). The count is exact for every Touch that
// returns nil; as with any DynamoDB ADD, an SDK retry of an update whose
// response was lost can count it twice.
//
// Errors: an *ArgumentError for an invalid user ID, or the DynamoDB error
// wrapped with the user; nothing is counted then unless DynamoDB applied it.
func (s *Summarizer) Touch(ctx context.Context, userID string) error {
	return s.touch(ctx, "touch", userID, true)
}

// Seen records that the user was seen, without counting an action: it sets
// last_seen as Touch does, and does no I/O at all while this Summarizer's
// last write for the user is less than the interval old. Call it on every
// request of a signed-in user.
func (s *Summarizer) Seen(ctx context.Context, userID string) error {
	return s.touch(ctx, "seen", userID, false)
}

// Due reports, without I/O, whether Seen would write the user's last_seen
// now: this Summarizer has not written or seen a last_seen of the user
// within the interval. It does not claim the write; an HTTP middleware uses
// it to hand only due users to a background writer.
func (s *Summarizer) Due(userID string) bool {
	now := s.t.v.now().UTC().Truncate(time.Millisecond)
	s.cache.mu.Lock()
	defer s.cache.mu.Unlock()
	prev, ok := s.cache.get(userID)
	return !ok || now.Sub(prev) >= s.interval
}

func (s *Summarizer) touch(ctx context.Context, op, userID string, count bool) error {
	if err := checkUserID(op, userID); err != nil {
		return err
	}
	if s.t.summaryTable == "" {
		return ErrNoSummaryTable
	}
	now := s.t.v.now().UTC().Truncate(time.Millisecond)
	prev, due := s.cache.claim(userID, now, s.interval)
	if !due {
		if !count {
			return nil
		}
		return s.add(ctx, op, userID)
	}
	upd := expression.Set(expression.Name(AttrLastSeen), expression.Value(now.Format(TimeLayout)))
	if count {
		upd = upd.Add(expression.Name(AttrActions), expression.Value(1))
	}
	cond := expression.Name(AttrLastSeen).AttributeNotExists().
		Or(expression.Name(AttrLastSeen).LessThanEqual(expression.Value(now.Add(-s.interval).Format(TimeLayout))))
	ex, err := expression.NewBuilder().WithUpdate(upd).WithCondition(cond).Build()
	if err != nil {
		s.cache.release(userID, now, prev)
		return fmt.Errorf("%s user %q: build update: %w", op, userID, err)
	}
	_, err = s.t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                           aws.String(s.t.summaryTable),
		Key:                                 summaryKey(userID),
		UpdateExpression:                    ex.Update(),
		ConditionExpression:                 ex.Condition(),
		ExpressionAttributeNames:            ex.Names(),
		ExpressionAttributeValues:           ex.Values(),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld,
	})
	var ccf *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &ccf):
		// Another process wrote last_seen within the interval: remember
		// when, so this one does not ask again before it is due.
		if stored, ok := storedLastSeen(ccf.Item); ok {
			s.cache.settle(userID, now, stored)
		}
		if count {
			return s.add(ctx, op, userID)
		}
		return nil
	case err != nil:
		s.cache.release(userID, now, prev)
		return fmt.Errorf("%s user %q: update summary: %w", op, userID, err)
	}
	return nil
}

// add counts one action unconditionally.
func (s *Summarizer) add(ctx context.Context, op, userID string) error {
	ex := s.countExpr
	_, err := s.t.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.t.summaryTable),
		Key:                       summaryKey(userID),
		UpdateExpression:          ex.Update(),
		ExpressionAttributeNames:  ex.Names(),
		ExpressionAttributeValues: ex.Values(),
	})
	if err != nil {
		return fmt.Errorf("%s user %q: count action: %w", op, userID, err)
	}
	return nil
}

func summaryKey(userID string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{AttrActor: &types.AttributeValueMemberS{Value: ActorKey(userID, "")}}
}

func storedLastSeen(item map[string]types.AttributeValue) (time.Time, bool) {
	v, ok := item[AttrLastSeen].(*types.AttributeValueMemberS)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(TimeLayout, v.Value)
	return t, err == nil
}

// summaryItem is a summary table item.
type summaryItem struct {
	LastSeen     string   `dynamodbav:"last_seen"`
	Actions      int64    `dynamodbav:"actions"`
	AnonymousIDs []string `dynamodbav:"anonymous_ids,stringset"`
	LinkedUser   string   `dynamodbav:"user_id"`
	LinkedAt     string   `dynamodbav:"linked_at"`
}

// ErrNoSummaryTable is returned by summary reads and writes of a Tracker
// configured without Config.SummaryTable.
var ErrNoSummaryTable = errors.New("tracker: no summary table configured (Config.SummaryTable)")

// Summary returns what the summary table knows about the user: the zero
// LastSeen and Actions (and no error) for a user never seen. It reads with
// one eventually consistent GetItem. Errors: an *ArgumentError for an
// invalid user ID, ErrNoSummaryTable, or the DynamoDB error wrapped with the
// user.
func (t *Tracker) Summary(ctx context.Context, userID string) (UserSummary, error) {
	if err := checkUserID("summary", userID); err != nil {
		return UserSummary{}, err
	}
	sum, err := t.summary(ctx, ActorKey(userID, ""))
	if err != nil {
		return UserSummary{}, fmt.Errorf("summary of user %q: %w", userID, err)
	}
	sum.UserID = userID
	return sum, nil
}

// VisitorSummary returns what the summary table knows about an anonymous
// visitor: last seen, the action count of the events without a user ID, and
// the user the visitor became (UserID), if linked. Errors as Summary's.
func (t *Tracker) VisitorSummary(ctx context.Context, anonymousID string) (UserSummary, error) {
	if err := checkAnonymousID("summary", anonymousID); err != nil {
		return UserSummary{}, err
	}
	sum, err := t.summary(ctx, ActorKey("", anonymousID))
	if err != nil {
		return UserSummary{}, fmt.Errorf("summary of anonymous visitor %q: %w", anonymousID, err)
	}
	sum.AnonymousID = anonymousID
	return sum, nil
}

func (t *Tracker) summary(ctx context.Context, actor string) (UserSummary, error) {
	if t.summaryTable == "" {
		return UserSummary{}, ErrNoSummaryTable
	}
	out, err := t.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(t.summaryTable),
		Key:       map[string]types.AttributeValue{AttrActor: &types.AttributeValueMemberS{Value: actor}},
	})
	if err != nil {
		return UserSummary{}, err
	}
	var sum UserSummary
	if len(out.Item) == 0 {
		return sum, nil
	}
	var it summaryItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return UserSummary{}, err
	}
	sum.Actions = it.Actions
	if it.LastSeen != "" {
		if sum.LastSeen, err = time.Parse(TimeLayout, it.LastSeen); err != nil {
			return UserSummary{}, fmt.Errorf("malformed %s: %w", AttrLastSeen, err)
		}
	}
	if strings.HasPrefix(actor, actorAnonymous) {
		sum.UserID = it.LinkedUser
		sum.LinkedAt = linkedAtTime(it.LinkedAt)
	} else {
		sum.AnonymousIDs = it.AnonymousIDs
		slices.Sort(sum.AnonymousIDs)
	}
	return sum, nil
}

// seenCache remembers, per user, the last_seen this process last wrote or
// saw. It holds at most size users in two generations: when the current one
// fills half the size, it becomes the old one and the previous old one is
// dropped. Lookups are O(1) and a user seen in either generation moves to the
// current one when written. Safe for concurrent use.
type seenCache struct {
	mu       sync.Mutex
	half     int
	cur, old map[string]time.Time
}

func (c *seenCache) init(size int) {
	c.half = max(1, size/2)
	c.cur = make(map[string]time.Time)
}

func (c *seenCache) get(user string) (time.Time, bool) {
	if t, ok := c.cur[user]; ok {
		return t, true
	}
	t, ok := c.old[user]
	return t, ok
}

func (c *seenCache) put(user string, t time.Time) {
	if _, ok := c.cur[user]; !ok && len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[string]time.Time, c.half)
	}
	c.cur[user] = t
}

// claim reports whether last_seen is due for the user at now (nothing
// remembered, or remembered at least interval ago). When it is, it records
// now at once, so that concurrent calls in this process do not all try; the
// caller then either keeps that, sets the stored time, or releases the claim.
func (c *seenCache) claim(user string, now time.Time, interval time.Duration) (prev time.Time, due bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prev, ok := c.get(user)
	if ok && now.Sub(prev) < interval {
		return prev, false
	}
	c.put(user, now)
	return prev, true
}

// release undoes a claim made at now after a failed write, unless a later
// call changed the entry meanwhile.
func (c *seenCache) release(user string, now, prev time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.get(user); ok && t.Equal(now) {
		if prev.IsZero() {
			delete(c.cur, user)
			delete(c.old, user)
		} else {
			c.put(user, prev)
		}
	}
}

// settle replaces a claim made at now with the last_seen the table holds,
// unless a later call changed the entry meanwhile to a later time.
func (c *seenCache) settle(user string, now, stored time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.get(user); !ok || t.Equal(now) || stored.After(t) {
		c.put(user, stored)
	}
}
