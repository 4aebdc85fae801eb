package lake

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

// SuppressionKey is the lake store key of the suppression list.
const SuppressionKey = "maintenance/suppression.json"

// Actor key prefixes, as tracker.ActorKey writes them.
const (
	userPrefix      = "u#"
	anonymousPrefix = "a#"
)

// UserHash returns the suppression hash of a user: the lower-case hex
// SHA-256 of its actor key ("u#" + userID, tracker.ActorKey). The lake's SQL
// computes the same value (see Dialect.hash), so the list, the audit records
// and Athena's query history hold only hashes, never the IDs.
func UserHash(userID string) string { return hashHex(userPrefix, userID) }

// AnonymousHash returns the suppression hash of an anonymous visitor: the
// hex SHA-256 of "a#" + anonymousID.
func AnonymousHash(anonymousID string) string { return hashHex(anonymousPrefix, anonymousID) }

func hashHex(prefix, id string) string {
	sum := hashOf(prefix, id)
	return hex.EncodeToString(sum[:])
}

// hashOf hashes prefix+id without allocating for IDs of valid events.
func hashOf(prefix, id string) [sha256.Size]byte {
	var buf [2 + max(tracker.MaxUserIDBytes, tracker.MaxAnonymousIDBytes)]byte
	if len(prefix)+len(id) <= len(buf) {
		n := copy(buf[:], prefix)
		n += copy(buf[n:], id)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(prefix + id))
}

// SuppressionEntry is one forgotten actor.
type SuppressionEntry struct {
	// Hash is UserHash or AnonymousHash of the actor.
	Hash string `json:"actor_sha256"`
	// AddedAt is when the erasure added it.
	AddedAt time.Time `json:"added_at"`
	// Request is the erasure request that added it (see ForgetConfig).
	Request string `json:"request,omitempty"`
}

// suppressionDoc is the stored form of the list.
type suppressionDoc struct {
	Version int                `json:"version"`
	Entries []SuppressionEntry `json:"entries"`
}

// ErrBadSuppressionList reports a stored list that does not parse or holds
// something that is not a hash; nothing is read from it.
var ErrBadSuppressionList = errors.New("lake: bad suppression list")

// Suppression is a loaded suppression list: the actors whose events the
// tracker, the collector, the relay and every lake rewrite drop. Its
// methods are safe for concurrent use; it is never modified once loaded.
//
// An event is suppressed when its user_id is a forgotten user, or when it
// has no user_id and its anonymous_id is a forgotten visitor (the anonymous
// IDs that the identities view linked to a forgotten user are forgotten
// with it). An event of another user that happens to carry a forgotten
// visitor's anonymous ID is that user's, and is kept: the lake's rewrite
// applies the same rule (see Dialect.suppressedSQL).
type Suppression struct {
	set     map[[sha256.Size]byte]struct{}
	entries []SuppressionEntry // sorted by hash
}

// NewSuppression returns the list of entries; it fails with
// ErrBadSuppressionList when one is not a hex SHA-256.
func NewSuppression(entries []SuppressionEntry) (*Suppression, error) {
	s := &Suppression{set: make(map[[sha256.Size]byte]struct{}, len(entries))}
	for _, e := range entries {
		var k [sha256.Size]byte
		if len(e.Hash) != 2*sha256.Size || strings.ToLower(e.Hash) != e.Hash {
			return nil, fmt.Errorf("%w: entry %q is not a lower-case hex SHA-256", ErrBadSuppressionList, e.Hash)
		}
		if _, err := hex.Decode(k[:], []byte(e.Hash)); err != nil {
			return nil, fmt.Errorf("%w: entry %q: %v", ErrBadSuppressionList, e.Hash, err)
		}
		if _, dup := s.set[k]; dup {
			continue
		}
		s.set[k] = struct{}{}
		s.entries = append(s.entries, e)
	}
	slices.SortFunc(s.entries, func(a, b SuppressionEntry) int { return strings.Compare(a.Hash, b.Hash) })
	return s, nil
}

// Len returns the number of suppressed actors.
func (s *Suppression) Len() int {
	if s == nil {
		return 0
	}
	return len(s.entries)
}

// Entries returns a copy of the entries, sorted by hash.
func (s *Suppression) Entries() []SuppressionEntry {
	if s == nil {
		return nil
	}
	return slices.Clone(s.entries)
}

// Has reports whether hash (UserHash or AnonymousHash) is on the list.
func (s *Suppression) Has(hash string) bool {
	if s.Len() == 0 {
		return false
	}
	var k [sha256.Size]byte
	if _, err := hex.Decode(k[:], []byte(hash)); err != nil || len(hash) != 2*sha256.Size {
		return false
	}
	_, ok := s.set[k]
	return ok
}

// Suppressed reports whether an event with these IDs must be dropped. It
// costs nothing when the list is empty, and one or two SHA-256 of the IDs
// (a few hundred nanoseconds) otherwise.
func (s *Suppression) Suppressed(userID, anonymousID string) bool {
	if s.Len() == 0 {
		return false
	}
	if userID != "" {
		_, ok := s.set[hashOf(userPrefix, userID)]
		return ok
	}
	if anonymousID != "" {
		_, ok := s.set[hashOf(anonymousPrefix, anonymousID)]
		return ok
	}
	return false
}

// LoadSuppression reads the list from store. A store without a list has an
// empty one. It returns the list's ETag (empty when there is none).
func LoadSuppression(ctx context.Context, store Store) (*Suppression, string, error) {
	body, obj, err := store.Get(ctx, SuppressionKey)
	if errors.Is(err, ErrNotFound) {
		s, _ := NewSuppression(nil)
		return s, "", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("load the suppression list: %w", err)
	}
	s, err := parseSuppression(body)
	if err != nil {
		return nil, "", err
	}
	return s, obj.ETag, nil
}

func parseSuppression(body []byte) (*Suppression, error) {
	var doc suppressionDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSuppressionList, err)
	}
	if doc.Version != 1 {
		return nil, fmt.Errorf("%w: version %d (this build reads version 1)", ErrBadSuppressionList, doc.Version)
	}
	return NewSuppression(doc.Entries)
}

// AddSuppression adds entries to the stored list (those already on it are
// left as they are) and returns how many were new. Concurrent writers do not
// lose each other's entries: the list is replaced with a conditional write
// (If-Match its ETag, or If-None-Match for the first list), read again and
// retried when another writer came first.
func AddSuppression(ctx context.Context, store Store, entries []SuppressionEntry) (int, error) {
	for attempt := 0; ; attempt++ {
		cur, etag, err := LoadSuppression(ctx, store)
		if err != nil {
			return 0, err
		}
		all := cur.Entries()
		added := 0
		for _, e := range entries {
			if !cur.Has(e.Hash) && !slices.ContainsFunc(all, func(x SuppressionEntry) bool { return x.Hash == e.Hash }) {
				all = append(all, e)
				added++
			}
		}
		if added == 0 {
			return 0, nil
		}
		next, err := NewSuppression(all)
		if err != nil {
			return 0, err
		}
		body, err := json.MarshalIndent(suppressionDoc{Version: 1, Entries: next.entries}, "", " ")
		if err != nil {
			return 0, err
		}
		cond := Condition{IfMatch: etag}
		if etag == "" {
			cond = Condition{IfNoneMatch: true}
		}
		if _, err := store.Put(ctx, SuppressionKey, body, cond); err == nil {
			return added, nil
		} else if !errors.Is(err, ErrPrecondition) || attempt >= 20 {
			return 0, fmt.Errorf("save the suppression list: %w", err)
		}
		// Another writer came first: read its list and add to it.
	}
}

// Defaults of SuppressionCacheConfig.
const DefaultSuppressionRefresh = time.Minute

// SuppressionCacheConfig configures a SuppressionCache. The zero value
// means defaults.
type SuppressionCacheConfig struct {
	// Refresh is how old the cached list may get before Refresh reads it
	// again; default DefaultSuppressionRefresh. An erasure waits this long
	// (ForgetConfig.Settle) before its last sweep of the hot store.
	Refresh time.Duration
	// Logger receives a warning when a refresh fails; default
	// slog.Default().
	Logger *slog.Logger
	// Now is the clock; nil means time.Now. For tests.
	Now func() time.Time
}

// SuppressionCache keeps the suppression list of a store in memory for the
// hot paths that must honour it: the tracker (BeforeSend, and through it the
// collector), the relay (SuppressingFirehose). Suppressed never does I/O: it
// reads the last list loaded. The list is read again by Refresh when it is
// older than Config.Refresh (one conditional GET, which costs a 304 when
// nothing changed), by Run in the background, or by MaybeRefresh at the
// start of a Lambda invocation. It is safe for concurrent use.
//
// When a refresh fails, the cache keeps the list it has and logs a warning;
// Loaded reports whether it ever loaded one.
type SuppressionCache struct {
	store   Store
	cfg     SuppressionCacheConfig
	cur     atomic.Pointer[Suppression]
	dropped atomic.Int64 // events BeforeSend dropped

	mu       sync.Mutex // one refresh at a time; guards etag and loadedAt
	etag     string
	loadedAt time.Time
}

// NewSuppressionCache returns a cache of store's list and loads it once;
// the error of that load is returned with a usable cache (empty, not
// Loaded), so a caller may choose to start anyway and let Run retry.
func NewSuppressionCache(ctx context.Context, store Store, cfg SuppressionCacheConfig) (*SuppressionCache, error) {
	if store == nil {
		return nil, errors.New("lake: NewSuppressionCache: nil store")
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultSuppressionRefresh
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &SuppressionCache{store: store, cfg: cfg}
	return c, c.Refresh(ctx)
}

// List returns the list loaded last (empty before the first load).
func (c *SuppressionCache) List() *Suppression {
	if s := c.cur.Load(); s != nil {
		return s
	}
	return &Suppression{}
}

// Loaded reports whether a list was ever loaded.
func (c *SuppressionCache) Loaded() bool { return c.cur.Load() != nil }

// Suppressed reports whether an event with these IDs must be dropped, by the
// list loaded last. It does no I/O.
func (c *SuppressionCache) Suppressed(userID, anonymousID string) bool {
	return c.List().Suppressed(userID, anonymousID)
}

// BeforeSend is the tracker hook: it keeps the event unless its actor was
// forgotten. Wire it as
//
//	tracker.Config{..., BeforeSend: cache.BeforeSend}
//
// (Config.BeforeSend is func(tracker.Event) (tracker.Event, bool)). The
// collector writes through the tracker, so it honours the list with it. A
// dropped event is counted (Dropped; the tracker's Stats().Filtered counts
// it too) and logged at info level without any ID: one line with
// LogFieldSuppressedEvents 1 and the event's type. BeforeSend does no I/O:
// keep the list fresh with Run (a long-running process) or MaybeRefresh (at
// the start of each Lambda invocation).
func (c *SuppressionCache) BeforeSend(e tracker.Event) (tracker.Event, bool) {
	if !c.Suppressed(e.UserID, e.AnonymousID) {
		return e, true
	}
	c.dropped.Add(1)
	c.cfg.Logger.LogAttrs(context.Background(), slog.LevelInfo, LogMessageSuppressed,
		slog.Int(LogFieldSuppressedEvents, 1), slog.String("event_type", e.Type), slog.String("source", "tracker"))
	return e, false
}

// Dropped returns the number of events BeforeSend dropped so far.
func (c *SuppressionCache) Dropped() int64 { return c.dropped.Load() }

// Refresh reads the list again: a conditional GET that costs little when it
// did not change.
func (c *SuppressionCache) Refresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refreshLocked(ctx)
}

func (c *SuppressionCache) refreshLocked(ctx context.Context) error {
	body, obj, err := c.store.Get(ctx, SuppressionKey)
	now := c.cfg.Now()
	switch {
	case errors.Is(err, ErrNotFound):
		empty, _ := NewSuppression(nil)
		c.cur.Store(empty)
		c.etag, c.loadedAt = "", now
		return nil
	case err != nil:
		return fmt.Errorf("refresh the suppression list: %w", err)
	}
	if obj.ETag != "" && obj.ETag == c.etag && c.cur.Load() != nil {
		c.loadedAt = now
		return nil
	}
	s, err := parseSuppression(body)
	if err != nil {
		return err
	}
	c.cur.Store(s)
	c.etag, c.loadedAt = obj.ETag, now
	return nil
}

// MaybeRefresh refreshes the list when it is older than Config.Refresh (or
// was never loaded). A failure is logged and returned; the cache keeps the
// list it has.
func (c *SuppressionCache) MaybeRefresh(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur.Load() != nil && c.cfg.Now().Sub(c.loadedAt) < c.cfg.Refresh {
		return nil
	}
	if err := c.refreshLocked(ctx); err != nil {
		c.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "suppression list not refreshed; the last one loaded stays in use",
			slog.String("error", err.Error()), slog.Bool("loaded", c.cur.Load() != nil))
		return err
	}
	return nil
}

// Run refreshes the list every Config.Refresh until ctx is done, for
// long-running processes (an application that runs the tracker). Failures
// are logged and retried at the next tick.
func (c *SuppressionCache) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = c.MaybeRefresh(ctx)
		}
	}
}
