package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

// Sink stores events durably. *tracker.Tracker satisfies it: PutBatch
// validates each event, stores it by its route (DynamoDB or Firehose) and
// returns when every event is stored or has failed, nil when all were
// stored, else one error per event. The handler tells the errors apart
// with errors.Is: tracker.ErrInvalidEvent (a *tracker.ValidationError),
// tracker.ErrDuplicateEvent, and anything else (tracker.ErrNotStored) as a
// storage failure.
type Sink interface {
	PutBatch(ctx context.Context, events []tracker.Event) []error
}

// Limits, as Segment documents them for its tracking API.
const (
	// DefaultMaxEventBytes bounds one event: the body of a single-event
	// request, and each event of a batch.
	DefaultMaxEventBytes = 32 << 10
	// DefaultMaxBatchBytes bounds the body of a batch request
	// (/v1/batch, /v1/events), after decompression.
	DefaultMaxBatchBytes = 500 << 10
)

// DefaultClockSkewTolerance is Config.ClockSkewTolerance's default.
const DefaultClockSkewTolerance = time.Minute

// Config configures a Handler. WriteKeys is required; the zero value of
// every other field means its default.
type Config struct {
	// WriteKeys holds the valid write keys (required). Replace them at run
	// time with WriteKeys.Set.
	WriteKeys *KeySet
	// AllowedOrigins are the origins browsers may send events from, such as
	// "https://shop.example" (scheme, host and port, as in an Origin
	// header), or "*" for any. Empty means no CORS headers: browsers on
	// other origins cannot send.
	AllowedOrigins []string
	// TrustedProxies are the networks of proxies and load balancers in
	// front of the collector, such as "10.0.0.0/8". A request from one of
	// them has its client's address taken from X-Forwarded-For (the
	// rightmost address not itself trusted); any other request's client is
	// the connection's peer. Empty means X-Forwarded-For is ignored.
	TrustedProxies []string
	// EventNames maps the names of Segment track events to eventlake event
	// types, such as "Order Completed" -> "purchase". Names are compared
	// normalized (see NormalizeEventName), so "Order Completed" and
	// "order_completed" are one key. A name it does not map becomes its
	// normalized form, which must be in the tracker's allowlist. nil means
	// DefaultEventNames(); an empty map maps nothing.
	EventNames map[string]string
	// MaxEventBytes and MaxBatchBytes bound request bodies and events;
	// defaults DefaultMaxEventBytes and DefaultMaxBatchBytes.
	MaxEventBytes int
	MaxBatchBytes int
	// ClockSkewTolerance is the clock difference between a Segment client
	// and the collector below which the client's timestamps are kept as
	// they are; a larger one is corrected as Segment does (timestamp +
	// receivedAt - sentAt). The tolerance absorbs network delay and the
	// delays of a client's retries (analytics-go resends a batch with its
	// first sentAt), so a retried event keeps its time and with it its
	// DynamoDB key. Default DefaultClockSkewTolerance; negative means always
	// correct.
	ClockSkewTolerance time.Duration
	// Now returns the current time (receivedAt); nil means time.Now.
	Now func() time.Time
	// Logger receives the handler's logs (storage failures, as JSON with
	// the LogField* names); nil means slog.Default(). No log line holds an
	// event's values, IP addresses or write keys.
	Logger *slog.Logger
}

// DefaultEventNames returns the default mapping of Segment track event
// names (Segment's spec names) to eventlake event types. The map is a copy.
func DefaultEventNames() map[string]string { return maps.Clone(defaultEventNames) }

var defaultEventNames = map[string]string{
	"Order Completed":        "purchase",
	"Products Searched":      "search",
	"Signed Up":              "signup",
	"Signed In":              "login",
	"Signed Out":             "logout",
	"Trial Started":          "trial_started",
	"Subscription Started":   "subscribed",
	"Subscription Cancelled": "unsubscribed",
	"Product Clicked":        "click",
	"Promotion Viewed":       "impression",
}

// NormalizeEventName returns the event type a Segment track event's name
// becomes when Config.EventNames does not map it: ASCII letters lowered,
// every run of other characters than letters and digits one '_', none at
// either end. "Order Completed" becomes "order_completed", "Login" "login".
func NormalizeEventName(name string) string {
	b := make([]byte, 0, len(name))
	gap := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'A' && c <= 'Z':
			c += 'a' - 'A'
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		default:
			gap = len(b) > 0
			continue
		}
		if gap {
			b = append(b, '_')
			gap = false
		}
		b = append(b, c)
	}
	return string(b)
}

// options is a validated Config with defaults filled in.
type options struct {
	keys        *KeySet
	anyOrigin   bool
	origins     map[string]bool
	trusted     []netip.Prefix
	names       map[string]string // normalized name -> type
	maxEvent    int
	maxBatch    int
	tolerance   time.Duration
	now         func() time.Time
	log         *slog.Logger
	corsEnabled bool
}

func newOptions(cfg Config) (options, error) {
	o := options{
		keys:      cfg.WriteKeys,
		maxEvent:  cfg.MaxEventBytes,
		maxBatch:  cfg.MaxBatchBytes,
		tolerance: cfg.ClockSkewTolerance,
		now:       cfg.Now,
		log:       cfg.Logger,
	}
	var bad []string
	if o.keys == nil || o.keys.Len() == 0 {
		bad = append(bad, "WriteKeys is empty: set at least one write key")
	}
	if o.maxEvent < 0 || o.maxBatch < 0 {
		bad = append(bad, "negative MaxEventBytes or MaxBatchBytes")
	}
	if o.maxEvent == 0 {
		o.maxEvent = DefaultMaxEventBytes
	}
	if o.maxBatch == 0 {
		o.maxBatch = DefaultMaxBatchBytes
	}
	if o.maxBatch < o.maxEvent {
		bad = append(bad, fmt.Sprintf("MaxBatchBytes %d is below MaxEventBytes %d", o.maxBatch, o.maxEvent))
	}
	if o.tolerance == 0 {
		o.tolerance = DefaultClockSkewTolerance
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	o.origins = map[string]bool{}
	for _, origin := range cfg.AllowedOrigins {
		if origin == "*" {
			o.anyOrigin = true
			continue
		}
		u, err := url.Parse(origin)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			bad = append(bad, fmt.Sprintf("AllowedOrigins: %q is not an origin such as https://shop.example", origin))
			continue
		}
		o.origins[strings.ToLower(origin)] = true
	}
	o.corsEnabled = o.anyOrigin || len(o.origins) > 0
	for _, p := range cfg.TrustedProxies {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			addr, aerr := netip.ParseAddr(p)
			if aerr != nil {
				bad = append(bad, fmt.Sprintf("TrustedProxies: %q is not a CIDR such as 10.0.0.0/8 or an address", p))
				continue
			}
			prefix = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
		}
		o.trusted = append(o.trusted, prefix.Masked())
	}
	names := cfg.EventNames
	if names == nil {
		names = defaultEventNames
	}
	o.names = make(map[string]string, len(names))
	for name, typ := range names {
		n := NormalizeEventName(name)
		if n == "" || typ == "" {
			bad = append(bad, fmt.Sprintf("EventNames: %q -> %q: neither may be empty", name, typ))
			continue
		}
		o.names[n] = typ
	}
	if len(bad) > 0 {
		return o, errors.New("collector: " + strings.Join(bad, "; "))
	}
	return o, nil
}
