package summary

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventlake/eventlake/tracker"
)

// record is what the handler reads of one stream record.
type record struct {
	name string // eventName: INSERT, MODIFY, REMOVE
	seq  string // dynamodb.SequenceNumber
	// image reports that the record has a NewImage; the fields are its
	// string (or number) attributes, empty when absent or of another type.
	image                                 bool
	userID, anonymousID, eventAt, eventID string
}

// actorAgg is what a window knows about one actor.
type actorAgg struct {
	count    int64
	lastSeen string // newest event_at (tracker.TimeLayout); "" when count is 0
	// ids, for a user: the anonymous IDs of the user's events, first seen
	// first, at most tracker.MaxLinkedAnonymousIDs.
	ids []string
	// linkUser and linkAt, for a visitor: the user and event key of the
	// earliest event carrying both IDs.
	linkUser, linkAt string
	size             int // JSON bytes of the state entry (key and value)
}

// aggregate is the state of a window: what its records so far say about
// each actor. Its JSON form (the state Lambda carries between invocations)
// is a map of strings:
//
//	"_v":     "1", the format
//	"_first": the sequence number of the first record aggregated (the
//	          write token's seed)
//	"_n":     the number of events aggregated
//	"u#<user>" or "a#<visitor>": count TAB newest-event_at [TAB anonymous ID]...
//	          for a user, count TAB newest-event_at [TAB user TAB event key]
//	          for a visitor (TAB never occurs in a valid ID)
type aggregate struct {
	first  string
	events int64
	actors map[string]*actorAgg
	bytes  int // JSON size of the state (the map)
}

// State keys that are not actors (actor keys start with "u#" or "a#").
const (
	stateVersionKey = "_v"
	stateFirstKey   = "_first"
	stateEventsKey  = "_n"
	stateVersion    = "1"
)

func newAggregate() *aggregate {
	return &aggregate{actors: make(map[string]*actorAgg), bytes: 2}
}

// errNotEvent is the reason a record is skipped as malformed.
type errNotEvent string

func (e errNotEvent) Error() string { return string(e) }

// checkRecord returns why an INSERT record is not an event, or nil.
func checkRecord(r *record) error {
	switch {
	case !r.image:
		return errNotEvent("no NewImage (is the stream's view NEW_IMAGE?)")
	case r.eventID == "":
		return errNotEvent("event_id missing")
	case !validTime(r.eventAt):
		return errNotEvent("event_at missing or not " + tracker.TimeLayout)
	}
	if err := tracker.CheckActor(r.userID, r.anonymousID); err != nil {
		return errNotEvent(err.Error())
	}
	if strings.ContainsRune(r.eventID, '\t') || !utf8.ValidString(r.eventID) {
		return errNotEvent("event_id holds a tab or invalid UTF-8")
	}
	return nil
}

func validTime(s string) bool {
	if len(s) != len(tracker.TimeLayout) {
		return false
	}
	_, err := time.Parse(tracker.TimeLayout, s)
	return err == nil
}

// add aggregates one valid event (checkRecord returned nil).
func (a *aggregate) add(r *record) {
	if a.first == "" {
		a.first = r.seq
		a.bytes += jsonLen(stateFirstKey) + jsonLen(r.seq) + 2
	}
	a.events++
	key := tracker.ActorKey(r.userID, r.anonymousID)
	act := a.actor(key)
	act.count++
	if r.eventAt > act.lastSeen {
		act.lastSeen = r.eventAt
	}
	if r.userID != "" && r.anonymousID != "" {
		if len(act.ids) < tracker.MaxLinkedAnonymousIDs && !contains(act.ids, r.anonymousID) {
			act.ids = append(act.ids, r.anonymousID)
		}
		vkey := tracker.ActorKey("", r.anonymousID)
		v := a.actor(vkey)
		// The link's event key, tracker.EventKey(event_at, event_id): keys
		// order as (event_at, event_id), the identities view's order.
		if k := r.eventAt + "#" + r.eventID; v.linkUser == "" || k < v.linkAt {
			v.linkUser, v.linkAt = r.userID, k
		}
		a.resize(vkey, v)
	}
	a.resize(key, act)
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (a *aggregate) actor(key string) *actorAgg {
	act := a.actors[key]
	if act == nil {
		act = &actorAgg{}
		a.actors[key] = act
	}
	return act
}

// resize updates the state's size after act changed.
func (a *aggregate) resize(key string, act *actorAgg) {
	n := jsonLen(key) + 2 + jsonLen(act.value()) // key, colon, value, comma
	a.bytes += n - act.size
	act.size = n
}

// value is the actor's state entry.
func (act *actorAgg) value() string {
	var b strings.Builder
	b.WriteString(strconv.FormatInt(act.count, 10))
	b.WriteByte('\t')
	b.WriteString(act.lastSeen)
	for _, id := range act.ids {
		b.WriteByte('\t')
		b.WriteString(id)
	}
	if act.linkUser != "" {
		b.WriteByte('\t')
		b.WriteString(act.linkUser)
		b.WriteByte('\t')
		b.WriteString(act.linkAt)
	}
	return b.String()
}

// Size returns the JSON size of the state in bytes.
func (a *aggregate) size() int {
	n := a.bytes
	if a.events > 0 {
		n += jsonLen(stateVersionKey) + jsonLen(stateVersion) + 2 +
			jsonLen(stateEventsKey) + len(strconv.FormatInt(a.events, 10)) + 4
	}
	return n
}

// state returns the aggregate as Lambda's state map.
func (a *aggregate) state() map[string]string {
	m := make(map[string]string, len(a.actors)+3)
	if a.events == 0 {
		return m
	}
	m[stateVersionKey] = stateVersion
	m[stateFirstKey] = a.first
	m[stateEventsKey] = strconv.FormatInt(a.events, 10)
	for k, act := range a.actors {
		m[k] = act.value()
	}
	return m
}

// errBadState reports a state this handler did not write.
var errBadState = errors.New("malformed window state")

// decodeState rebuilds the aggregate from a state map (nil or empty: a new
// window).
func decodeState(m map[string]string) (*aggregate, error) {
	a := newAggregate()
	if len(m) == 0 {
		return a, nil
	}
	if v := m[stateVersionKey]; v != stateVersion {
		return nil, fmt.Errorf("%w: format %q, want %q", errBadState, v, stateVersion)
	}
	n, err := strconv.ParseInt(m[stateEventsKey], 10, 64)
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("%w: %s %q", errBadState, stateEventsKey, m[stateEventsKey])
	}
	a.events = n
	a.first = m[stateFirstKey]
	if a.first == "" {
		return nil, fmt.Errorf("%w: no %s", errBadState, stateFirstKey)
	}
	a.bytes += jsonLen(stateFirstKey) + jsonLen(a.first) + 2
	for k, v := range m {
		switch k {
		case stateVersionKey, stateFirstKey, stateEventsKey:
			continue
		}
		act, err := decodeActor(k, v)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %.80q: %v", errBadState, k, err)
		}
		a.actors[k] = act
		a.resize(k, act)
	}
	return a, nil
}

func decodeActor(key, v string) (*actorAgg, error) {
	user := strings.HasPrefix(key, "u#")
	if !user && !strings.HasPrefix(key, "a#") || len(key) == 2 {
		return nil, errors.New("not an actor key")
	}
	parts := strings.Split(v, "\t")
	if len(parts) < 2 {
		return nil, errors.New("too few fields")
	}
	act := &actorAgg{lastSeen: parts[1]}
	var err error
	if act.count, err = strconv.ParseInt(parts[0], 10, 64); err != nil || act.count < 0 {
		return nil, errors.New("bad count")
	}
	if (act.count > 0) != (act.lastSeen != "") || act.lastSeen != "" && !validTime(act.lastSeen) {
		return nil, errors.New("bad last seen")
	}
	rest := parts[2:]
	switch {
	case user:
		if len(rest) > tracker.MaxLinkedAnonymousIDs {
			return nil, errors.New("too many anonymous IDs")
		}
		for _, id := range rest {
			if id == "" {
				return nil, errors.New("empty anonymous ID")
			}
		}
		act.ids = rest
	case len(rest) == 2:
		act.linkUser, act.linkAt = rest[0], rest[1]
		if act.linkUser == "" || len(act.linkAt) <= len(tracker.TimeLayout)+1 || !validTime(act.linkAt[:len(tracker.TimeLayout)]) {
			return nil, errors.New("bad link")
		}
	case len(rest) != 0:
		return nil, errors.New("bad visitor fields")
	}
	if act.count == 0 && act.linkUser == "" {
		return nil, errors.New("empty entry")
	}
	return act, nil
}

// jsonLen is an upper bound of the length of s as a JSON string written by
// an encoder without HTML escaping: quotes, then 2 bytes for '"', '\\',
// \n, \r and \t, 6 for other control characters, 2 per byte from 0x80
// (U+2028 and U+2029, 3 bytes, become 6), 1 otherwise.
func jsonLen(s string) int {
	n := 2
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t':
			n += 2
		case c < 0x20:
			n += 6
		case c >= 0x80:
			n += 2
		default:
			n++
		}
	}
	return n
}

// delta returns the SummaryDelta of an actor of the aggregate.
func delta(key string, act *actorAgg, batch string) tracker.SummaryDelta {
	d := tracker.SummaryDelta{Actions: act.count, Batch: batch}
	id := key[2:]
	if key[0] == 'u' {
		d.UserID = id
		d.AnonymousIDs = act.ids
	} else {
		d.AnonymousID = id
		d.LinkedUser, d.LinkedAt = act.linkUser, act.linkAt
	}
	if act.lastSeen != "" {
		d.LastSeen, _ = time.Parse(tracker.TimeLayout, act.lastSeen)
	}
	return d
}
