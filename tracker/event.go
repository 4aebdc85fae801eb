package tracker

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Event is one thing a user or an anonymous visitor did. Type and one of
// UserID and AnonymousID are required; the zero value of every other field
// means "use the default".
type Event struct {
	// UserID identifies the signed-in user (numeric IDs are strings). Empty
	// for an anonymous visitor.
	UserID string
	// AnonymousID identifies a visitor who is not (or not yet) identified:
	// a first-party cookie, a device ID, Segment's anonymousId, a
	// fingerprint. An event with both IDs links the visitor to the user (an
	// identify event does exactly that); events without a UserID are never
	// counted as a user's.
	AnonymousID string
	// Type is what happened; it must be in the tracker's allowlist.
	Type string
	// At is when it happened. The zero time means now; any other time is
	// stored in UTC, truncated to the millisecond.
	At time.Time
	// ID identifies the event. Empty means generate a UUIDv7. A caller that
	// supplies IDs (to make retries idempotent) must keep them unique per user
	// and millisecond; they may hold letters, digits, '-' and '_'.
	ID string
	// UserAgent is the client's User-Agent header. Invalid UTF-8 is replaced
	// and a longer value is truncated to MaxUserAgentBytes, never rejected:
	// the header is client controlled and the event still matters.
	UserAgent string
	// IP is the client's address, IPv4 or IPv6 without a zone, as
	// "192.0.2.1", "2001:db8::1", or with a port as in r.RemoteAddr
	// ("192.0.2.1:1234", "[2001:db8::1]:443"; the port is not stored). It
	// is stored in netip's canonical form; an IPv4-mapped IPv6 address
	// (::ffff:192.0.2.1) is stored as IPv4. Event.WithRequest fills it
	// from an *http.Request, believing proxies' headers only from trusted
	// proxies.
	IP string
	// Attributes are free-form strings (url, referrer, campaign, fingerprint).
	// Keys start with a letter and hold letters, digits, '_', '-' and '.'.
	// Neither Put copies the map: AsyncWriter.Put keeps it until the event is
	// written, so the caller must not modify it after the call.
	Attributes map[string]string
}

// ErrInvalidEvent is matched by every validation error:
// errors.Is(err, ErrInvalidEvent) holds for a *ValidationError.
var ErrInvalidEvent = errors.New("invalid event")

// ErrDuplicateEvent reports that an event with the same user, time and ID is
// already stored with different content. Nothing was overwritten.
var ErrDuplicateEvent = errors.New("duplicate event")

// FieldError is one problem with one field.
type FieldError struct {
	// Field is the schema field name (for attributes, "attributes.<key>").
	Field string
	// Problem says what is wrong, for people.
	Problem string
}

func (e FieldError) Error() string { return e.Field + ": " + e.Problem }

// MaxFieldErrors is the most problems a ValidationError lists; the rest
// are only counted (ValidationError.More), so that an error stays small
// whatever the event holds.
const MaxFieldErrors = 20

// ValidationError lists the bad fields of one event: the first
// MaxFieldErrors problems in Fields, and how many more there were in More.
// Nothing of an event that fails validation is written.
type ValidationError struct {
	Fields []FieldError
	// More counts the problems found beyond those in Fields.
	More int
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString("invalid event: ")
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "; and %d more problem(s)", e.More)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalidEvent) hold.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidEvent }

// Has reports whether the error names field.
func (e *ValidationError) Has(field string) bool {
	for _, f := range e.Fields {
		if f.Field == field || strings.HasPrefix(f.Field, field+".") {
			return true
		}
	}
	return false
}

func (e *ValidationError) add(field, format string, args ...any) {
	if len(e.Fields) >= MaxFieldErrors {
		e.More++
		return
	}
	e.Fields = append(e.Fields, FieldError{Field: field, Problem: fmt.Sprintf(format, args...)})
}

// Event types with a meaning of their own to eventlake's queries.
const (
	// TypeIdentify links the event's anonymous_id to its user_id (Segment's
	// identify call); any event carrying both IDs links them too.
	TypeIdentify = "identify"
	// TypeAlias links a previous identifier, stored as anonymous_id, to the
	// user_id (Segment's alias call).
	TypeAlias = "alias"
)

// defaultEventTypes is the allowlist used when Config.EventTypes is nil.
var defaultEventTypes = []string{
	"login", "logout", "login_failed", "signup", "trial_started", "subscribed", "unsubscribed",
	"page_view", "screen", "click", "impression", "search", "purchase", "password_reset", "profile_update",
	TypeIdentify, TypeAlias,
}

// DefaultEventTypes returns the allowlist used when Config.EventTypes is
// nil. The slice is a copy.
func DefaultEventTypes() []string { return slices.Clone(defaultEventTypes) }

// IPPolicy says what happens to IP addresses at write time.
type IPPolicy int

const (
	// IPKeep stores the address as given (normalized).
	IPKeep IPPolicy = iota
	// IPAnonymize zeroes the last octet of IPv4 and the last 80 bits of IPv6.
	IPAnonymize
	// IPDrop stores no address. An address that does not parse is still
	// rejected, so a misconfigured caller is noticed under every policy.
	IPDrop
)

// minEventTime rejects zero-ish timestamps such as time.Unix(0, 0).
var minEventTime = time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC)

// maxEventTime keeps the year at four digits so event keys sort lexically.
var maxEventTime = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)

// validator checks and normalizes events. It is immutable after creation and
// safe for concurrent use.
type validator struct {
	types  map[string]struct{}
	skew   time.Duration
	ip     IPPolicy
	now    func() time.Time
	maxAge time.Duration
}

// normalize validates e and returns the event as it will be stored: time in
// UTC at millisecond precision, IP normalized by the IP policy, user agent
// cleaned. It allocates nothing for a valid event without attributes to clean.
// The event ID is not generated here.
func (v *validator) normalize(e Event) (Event, error) {
	if err := v.normalizeInPlace(&e); err != nil {
		return Event{}, err
	}
	return e, nil
}

// normalizeInPlace is normalize on the caller's copy, which saves copying
// the event on the hot path of AsyncWriter.Put. On error e is partly
// normalized and must be discarded.
func (v *validator) normalizeInPlace(e *Event) error {
	var verr *ValidationError
	fail := func(field, format string, args ...any) {
		if verr == nil {
			verr = &ValidationError{}
		}
		verr.add(field, format, args...)
	}

	if e.UserID == "" && e.AnonymousID == "" {
		fail(FieldUserID, "is empty, and so is anonymous_id: an event needs one of them")
	}
	if p := checkIdentifier(e.UserID, MaxUserIDBytes); p != "" {
		fail(FieldUserID, "%s", p)
	}
	if p := checkIdentifier(e.AnonymousID, MaxAnonymousIDBytes); p != "" {
		fail(FieldAnonymousID, "%s", p)
	}

	switch _, ok := v.types[e.Type]; {
	case e.Type == "":
		fail(FieldEventType, "is empty")
	case !ok:
		if len(e.Type) > MaxEventTypeBytes {
			fail(FieldEventType, "is %d bytes and not an allowed type", len(e.Type))
		} else {
			fail(FieldEventType, "%q is not an allowed type", e.Type)
		}
	}

	now := v.now()
	if e.At.IsZero() {
		e.At = now
	}
	e.At = e.At.UTC().Truncate(time.Millisecond)
	switch {
	case e.At.Before(minEventTime):
		fail(FieldEventAt, "%s is a zero or pre-1970 time", e.At.Format(time.RFC3339))
	case e.At.After(maxEventTime):
		fail(FieldEventAt, "is after year 9999")
	case e.At.After(now.Add(v.skew)):
		fail(FieldEventAt, "%s is more than %s in the future", e.At.Format(TimeLayout), v.skew)
	case v.maxAge > 0 && e.At.Before(now.Add(-v.maxAge)):
		fail(FieldEventAt, "%s is older than %s", e.At.Format(TimeLayout), v.maxAge)
	}

	if e.ID != "" {
		if len(e.ID) > MaxEventIDBytes {
			fail(FieldEventID, "is %d bytes, the limit is %d", len(e.ID), MaxEventIDBytes)
		} else if !validID(e.ID) {
			fail(FieldEventID, "may hold only letters, digits, '-' and '_'")
		}
	}

	if e.UserAgent != "" {
		e.UserAgent = cleanUserAgent(e.UserAgent)
	}

	if e.IP != "" {
		addr, err := netip.ParseAddr(e.IP)
		if err != nil {
			// r.RemoteAddr and some proxies give "host:port".
			if ap, perr := netip.ParseAddrPort(e.IP); perr == nil {
				addr, err = ap.Addr(), nil
			}
		}
		switch {
		case err != nil:
			fail(FieldIPAddress, "%q is not an IPv4 or IPv6 address", truncateForError(e.IP))
		case addr.Zone() != "":
			fail(FieldIPAddress, "has a zone")
		default:
			addr = addr.Unmap()
			switch v.ip {
			case IPDrop:
				e.IP = ""
			case IPAnonymize:
				addr = AnonymizeIP(addr)
				fallthrough
			default:
				// Format on the stack; allocate only when the text changes.
				var buf [48]byte
				if b := addr.AppendTo(buf[:0]); string(b) != e.IP {
					e.IP = string(b)
				}
			}
		}
	}

	switch {
	case len(e.Attributes) == 0:
		// An empty, non-nil map would be stored as an empty M attribute;
		// the schema says attributes are omitted when empty.
		e.Attributes = nil
	case len(e.Attributes) > MaxAttributes:
		fail(FieldAttributes, "has %d entries, the limit is %d", len(e.Attributes), MaxAttributes)
	}
	if len(e.Attributes) > 0 {
		total := 0
		var bad []string // keys with a problem, reported in sorted order
		for k, val := range e.Attributes {
			total += len(k) + len(val)
			if !validAttributeKey(k) || len(val) > MaxAttributeValueBytes || !utf8.ValidString(val) {
				bad = append(bad, k)
			}
		}
		if len(bad) > 1 {
			slices.Sort(bad)
		}
		for _, k := range bad {
			val := e.Attributes[k]
			switch {
			case !validAttributeKey(k):
				fail(FieldAttributes, "key %q must start with a letter, hold only letters, digits, '_', '-', '.' and be at most %d bytes",
					truncateForError(k), MaxAttributeKeyBytes)
			case len(val) > MaxAttributeValueBytes:
				fail(FieldAttributes+"."+k, "is %d bytes, the limit is %d", len(val), MaxAttributeValueBytes)
			default:
				fail(FieldAttributes+"."+k, "is not valid UTF-8")
			}
		}
		if total > MaxAttributesBytes {
			fail(FieldAttributes, "total %d bytes, the limit is %d", total, MaxAttributesBytes)
		}
	}

	if verr != nil {
		return verr
	}
	return nil
}

// checkIdentifier applies the rules of user and anonymous IDs to a non-empty
// s and returns the problem, or "" when s is empty or valid. Control
// characters are refused because no query could ever name such an ID.
func checkIdentifier(s string, maxBytes int) string {
	switch {
	case s == "":
		return ""
	case len(s) > maxBytes:
		return fmt.Sprintf("is %d bytes, the limit is %d", len(s), maxBytes)
	case !utf8.ValidString(s):
		return "is not valid UTF-8"
	case strings.TrimSpace(s) != s:
		return "has leading or trailing white space"
	case strings.IndexFunc(s, unicode.IsControl) >= 0:
		return "holds a control character"
	}
	return ""
}

func validID(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func validAttributeKey(s string) bool {
	if s == "" || len(s) > MaxAttributeKeyBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !letter {
			return false
		}
		if !(letter || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// cleanUserAgent replaces invalid UTF-8 and truncates to MaxUserAgentBytes at
// a rune boundary. It allocates only when it changes something.
func cleanUserAgent(ua string) string {
	if !utf8.ValidString(ua) {
		ua = strings.ToValidUTF8(ua, "\uFFFD")
	}
	if len(ua) > MaxUserAgentBytes {
		cut := MaxUserAgentBytes
		for cut > 0 && !utf8.RuneStart(ua[cut]) {
			cut--
		}
		ua = ua[:cut]
	}
	return ua
}

func truncateForError(s string) string {
	if len(s) > 64 {
		return strings.ToValidUTF8(s[:64], "") + "..."
	}
	return s
}

// AnonymizeIP zeroes the last octet of an IPv4 address and the last 80 bits
// of an IPv6 address, as Google Analytics' IP anonymization does. IPv6
// addresses that embed an IPv4 address keep no more of it than an IPv4
// address would: 6to4 (2002::/16, the IPv4 address in bits 16-47) loses the
// embedded last octet too; Teredo (2001::/32, the client's address in the
// last 32 bits), NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and IPv4-compatible
// (::/96) addresses carry the IPv4 address in the zeroed bits.
func AnonymizeIP(addr netip.Addr) netip.Addr {
	addr = addr.Unmap()
	if addr.Is4() {
		b := addr.As4()
		b[3] = 0
		return netip.AddrFrom4(b)
	}
	b := addr.As16()
	first := 6
	if b[0] == 0x20 && b[1] == 0x02 { // 6to4: 2002:AABB:CCDD::/48
		first = 5
	}
	for i := first; i < 16; i++ {
		b[i] = 0
	}
	return netip.AddrFrom16(b).WithZone(addr.Zone())
}

// EventKey returns the sort key of an event stored at t with the given ID.
func EventKey(t time.Time, id string) string {
	return t.UTC().Format(TimeLayout) + "#" + id
}
