package fakedata

import (
	"cmp"
	"encoding/hex"
	"errors"
	"iter"
	"math"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

// Defaults of Config, used where a field is zero.
const (
	DefaultUsers  = 50
	DefaultEvents = 500
	DefaultDays   = 7
)

// Config says what to generate. The zero value means defaults (and seed 0).
type Config struct {
	// Users is the number of distinct users; default DefaultUsers. Fewer
	// may appear when Events is small: busy users act more often.
	Users int
	// Events is the exact number of events; default DefaultEvents.
	Events int
	// Days is the length of the span, in days, that ends at End; default
	// DefaultDays.
	Days int
	// Seed selects the data set.
	Seed uint64
	// End is the latest possible event time; zero means now. It is
	// truncated to the millisecond. Fix it to get the same events twice.
	End time.Time
	// IDs sets Event.ID to deterministic UUIDv7s; otherwise IDs are left
	// empty and the tracker generates random ones.
	IDs bool
}

// Generate returns the events of cfg, oldest first.
func Generate(cfg Config) ([]tracker.Event, error) {
	seq, err := Events(cfg)
	if err != nil {
		return nil, err
	}
	out := make([]tracker.Event, 0, cmp.Or(cfg.Events, DefaultEvents))
	for e := range seq {
		out = append(out, e)
	}
	return out, nil
}

// Events returns an iterator over the events of cfg, oldest first. Each
// iteration generates the data afresh, identically. It fails when a count
// is negative.
func Events(cfg Config) (iter.Seq[tracker.Event], error) {
	if cfg.Users < 0 || cfg.Events < 0 || cfg.Days < 0 {
		return nil, errors.New("fakedata: negative count in Config")
	}
	cfg.Users = cmp.Or(cfg.Users, DefaultUsers)
	cfg.Events = cmp.Or(cfg.Events, DefaultEvents)
	cfg.Days = cmp.Or(cfg.Days, DefaultDays)
	if cfg.End.IsZero() {
		cfg.End = time.Now()
	}
	cfg.End = cfg.End.UTC().Truncate(time.Millisecond)
	return func(yield func(tracker.Event) bool) {
		g := newGen(cfg)
		g.run(yield)
	}, nil
}

// user is one simulated person (or crawler).
type user struct {
	id       string
	weight   float64 // relative activity
	tz       int     // offset from UTC in minutes
	devices  []device
	bot      bool
	signupAt int // index of the day on which a new user signs up; -1 for existing users
	signedUp bool
}

// device is a browser on a machine, with the address it usually has.
type device struct {
	ua     string
	mobile bool
	ip     netip.Addr
}

type gen struct {
	cfg    Config
	rng    *rand.Rand
	users  []*user
	total  float64 // sum of weights
	start  time.Time
	n      int // events emitted or buffered so far
	nextID uint64
}

func newGen(cfg Config) *gen {
	g := &gen{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(cfg.Seed, 0x65766e746c616b65)), // "evntlake"
		start: cfg.End.Add(-time.Duration(cfg.Days) * 24 * time.Hour),
	}
	for i := range cfg.Users {
		g.users = append(g.users, g.newUser(i))
	}
	for _, u := range g.users {
		g.total += u.weight
	}
	return g
}

var timeZones = []int{-8 * 60, -7 * 60, -5 * 60, -3 * 60, 0, 60, 60, 120, 330, 480, 540, 600}

func (g *gen) newUser(i int) *user {
	r := g.rng
	u := &user{
		// Zipf-like: the user of rank i is about 1/(i+1)^0.8 as active as
		// the busiest.
		weight:   1 / math.Pow(float64(i+1), 0.8),
		tz:       timeZones[r.IntN(len(timeZones))],
		signupAt: -1,
	}
	switch {
	case i%25 == 24:
		u.bot = true
		u.id = "crawler-" + strconv.Itoa(i/25+1)
	case r.IntN(10) < 4:
		u.id = strconv.Itoa(100_000 + i*7919%900_000) // numeric IDs are strings too
	default:
		var b [5]byte
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		u.id = "usr_" + hex.EncodeToString(b[:])
	}
	if u.bot {
		u.devices = []device{{ua: BotUserAgents[r.IntN(len(BotUserAgents))], ip: g.datacenterIP()}}
		return u
	}
	// One user in five signs up during the span; the busiest user is always
	// an existing one, so that some user can act on the first day.
	if r.IntN(5) == 0 && i > 0 {
		u.signupAt = r.IntN(g.cfg.Days)
	} else {
		u.signedUp = true
	}
	home := g.homeIP()
	for range 1 + r.IntN(3) {
		ua := browserUserAgents[r.IntN(len(browserUserAgents))]
		d := device{ua: ua.s, mobile: ua.mobile, ip: home}
		if ua.mobile && r.IntN(2) == 0 {
			d.ip = g.homeIP() // on the carrier's network
		}
		u.devices = append(u.devices, d)
	}
	return u
}

// run generates day after day and yields in time order. A session that
// starts late in one day may end in the next; its later events wait in
// the buffer until their day is yielded.
func (g *gen) run(yield func(tracker.Event) bool) {
	weights := make([]float64, g.cfg.Days)
	sum := 0.0
	for d := range weights {
		weights[d] = 1
		if wd := g.start.Add(time.Duration(d) * 24 * time.Hour).Weekday(); wd == time.Saturday || wd == time.Sunday {
			weights[d] = 0.7
		}
		sum += weights[d]
	}
	var buf []tracker.Event
	planned := 0
	for d := range g.cfg.Days {
		budget := int(math.Round(float64(g.cfg.Events) * weights[d] / sum))
		if d == g.cfg.Days-1 {
			budget = g.cfg.Events - planned
		}
		budget = min(budget, g.cfg.Events-planned)
		planned += budget
		dayStart := g.start.Add(time.Duration(d) * 24 * time.Hour)
		dayEnd := dayStart.Add(24 * time.Hour)
		for made := 0; made < budget; {
			s := g.session(d, dayStart, budget-made)
			made += len(s)
			buf = append(buf, s...)
		}
		slices.SortStableFunc(buf, func(a, b tracker.Event) int { return a.At.Compare(b.At) })
		cut := len(buf)
		if d < g.cfg.Days-1 {
			cut, _ = slices.BinarySearchFunc(buf, dayEnd, func(e tracker.Event, t time.Time) int { return e.At.Compare(t) })
		}
		for _, e := range buf[:cut] {
			if !yield(e) {
				return
			}
		}
		buf = append(buf[:0], buf[cut:]...)
	}
}

// session returns up to max events of one visit that starts on day d.
func (g *gen) session(d int, dayStart time.Time, max int) []tracker.Event {
	r := g.rng
	u := g.pickUser(d)
	dev := u.devices[r.IntN(len(u.devices))]
	ip := dev.ip
	if dev.mobile && r.IntN(3) == 0 {
		ip = g.homeIP() // a new address on the mobile network
	}
	at := g.sessionStart(u, dayStart)
	var out []tracker.Event
	add := func(typ string, attrs map[string]string) bool {
		if len(out) >= max || at.After(g.cfg.End) {
			return false
		}
		e := tracker.Event{UserID: u.id, Type: typ, At: at, UserAgent: dev.ua, IP: ip.String(), Attributes: attrs}
		if g.cfg.IDs {
			e.ID = g.id(at)
		}
		out = append(out, e)
		return true
	}
	step := func(mean time.Duration) {
		at = at.Add(time.Second + time.Duration(r.ExpFloat64()*float64(mean))).Truncate(time.Millisecond)
	}

	if u.bot {
		for range 1 + r.IntN(6) {
			if !add("page_view", map[string]string{"url": pageURL(paths[r.IntN(len(paths))])}) {
				break
			}
			step(3 * time.Second)
		}
		return out
	}

	referrer, campaign := g.arrival()
	landing := paths[r.IntN(len(paths))]
	newUser := !u.signedUp && d >= u.signupAt
	if newUser {
		landing = "/"
		if r.IntN(2) == 0 {
			landing = "/pricing"
		}
	}
	attrs := map[string]string{"url": pageURL(landing)}
	if referrer != "" {
		attrs["referrer"] = referrer
	}
	for k, v := range campaign {
		attrs[k] = v
	}
	if !add("page_view", attrs) {
		return out
	}
	page := landing
	fingerprint := fingerprintOf(u.id, dev.ua)
	switch {
	case newUser:
		step(20 * time.Second)
		if !add("click", map[string]string{"url": pageURL(page), "element": "cta_signup"}) {
			return out
		}
		step(40 * time.Second)
		signup := map[string]string{"plan": plans[r.IntN(len(plans))], "fingerprint": fingerprint}
		for k, v := range campaign {
			signup[k] = v
		}
		if !add("signup", signup) {
			return out
		}
		u.signedUp = true
		page = "/welcome"
		step(2 * time.Second)
		if !add("page_view", map[string]string{"url": pageURL(page), "referrer": pageURL("/signup")}) {
			return out
		}
	case r.IntN(10) < 8:
		step(15 * time.Second)
		if r.IntN(40) == 0 {
			if !add("login_failed", map[string]string{"method": "password", "reason": "wrong_password", "fingerprint": fingerprint}) {
				return out
			}
			step(10 * time.Second)
		}
		if !add("login", map[string]string{"method": loginMethods[r.IntN(len(loginMethods))], "fingerprint": fingerprint,
			"mfa": strconv.FormatBool(r.IntN(3) == 0)}) {
			return out
		}
		step(2 * time.Second)
		next := paths[r.IntN(len(paths))]
		if !add("page_view", map[string]string{"url": pageURL(next), "referrer": pageURL("/login")}) {
			return out
		}
		page = next
	}

	for range r.IntN(8) {
		if r.IntN(3) == 0 {
			step(time.Second)
			slot := placements[r.IntN(len(placements))]
			if !add("impression", map[string]string{"url": pageURL(page), "placement": slot, "ad_id": "ad_" + strconv.Itoa(1000+r.IntN(40)),
				"campaign": adCampaigns[r.IntN(len(adCampaigns))]}) {
				return out
			}
		}
		if r.IntN(2) == 0 {
			step(12 * time.Second)
			if !add("click", map[string]string{"url": pageURL(page), "element": elements[r.IntN(len(elements))]}) {
				return out
			}
		}
		step(45 * time.Second)
		next := paths[r.IntN(len(paths))]
		if !add("page_view", map[string]string{"url": pageURL(next), "referrer": pageURL(page)}) {
			return out
		}
		page = next
	}
	if r.IntN(2) == 0 {
		step(30 * time.Second)
		add("logout", nil)
	}
	return out
}

// pickUser draws a user by weight among those who may act on day d (a new
// user appears on the day of sign-up).
func (g *gen) pickUser(d int) *user {
	for {
		x := g.rng.Float64() * g.total
		for _, u := range g.users {
			if x -= u.weight; x < 0 {
				if u.signupAt > d {
					break // not a user yet: draw again
				}
				return u
			}
		}
	}
}

// activity is the relative number of sessions starting in each local hour.
var activity = [24]float64{
	0.15, 0.08, 0.05, 0.04, 0.04, 0.06, 0.15, 0.35, 0.6, 0.8, 0.9, 0.95,
	1, 0.95, 0.9, 0.85, 0.85, 0.9, 0.95, 1, 0.95, 0.8, 0.55, 0.3,
}

// sessionStart draws a start time in the day that begins at dayStart,
// following the daily rhythm of u's time zone, never after End.
func (g *gen) sessionStart(u *user, dayStart time.Time) time.Time {
	r := g.rng
	span := 24 * time.Hour
	if end := g.cfg.End.Sub(dayStart); end < span {
		span = end
	}
	for {
		t := dayStart.Add(time.Duration(r.Int64N(int64(span)))).Truncate(time.Millisecond)
		if u.bot || r.Float64() < activity[t.Add(time.Duration(u.tz)*time.Minute).Hour()] {
			return t
		}
	}
}

// arrival draws where a visit comes from: an external referrer and, for a
// campaign, its utm_* attributes.
func (g *gen) arrival() (string, map[string]string) {
	r := g.rng
	switch x := r.IntN(20); {
	case x < 7:
		return "", nil // direct
	case x < 12:
		return referrers[r.IntN(len(referrers))], nil
	default:
		c := campaigns[r.IntN(len(campaigns))]
		return c.referrer, map[string]string{"utm_source": c.source, "utm_medium": c.medium, "utm_campaign": c.campaign}
	}
}

// id returns a deterministic UUIDv7 for time t.
func (g *gen) id(t time.Time) string {
	var u [16]byte
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	g.nextID++
	r := rand.New(rand.NewPCG(g.cfg.Seed^0x5eed, g.nextID))
	a, b := r.Uint64(), r.Uint64()
	u[6] = byte(a>>8)&0x0f | 0x70
	u[7] = byte(a)
	for i := 8; i < 16; i++ {
		u[i] = byte(b >> (8 * (15 - i)))
	}
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// homeIPv4Prefixes are first octets of blocks that ISPs around the world
// use for customers; documentation, private and reserved ranges are absent.
var homeIPv4Prefixes = []byte{24, 31, 37, 46, 62, 66, 68, 73, 77, 78, 81, 82, 84, 86, 88, 90, 91, 94, 95, 98, 99, 108, 109, 151, 176, 178, 188, 189, 201}

// homeIPv6Prefixes are the first 16 bits of RIR blocks in wide use.
var homeIPv6Prefixes = []uint16{0x2a00, 0x2a01, 0x2a02, 0x2003, 0x2600, 0x2601, 0x2603, 0x2804, 0x2405, 0x240e}

// homeIP returns a public-looking address: IPv4 three times in four.
func (g *gen) homeIP() netip.Addr {
	r := g.rng
	if r.IntN(4) == 0 {
		var b [16]byte
		p := homeIPv6Prefixes[r.IntN(len(homeIPv6Prefixes))]
		b[0], b[1] = byte(p>>8), byte(p)
		for i := 2; i < 16; i++ {
			b[i] = byte(r.Uint32())
		}
		return netip.AddrFrom16(b)
	}
	for {
		a := netip.AddrFrom4([4]byte{homeIPv4Prefixes[r.IntN(len(homeIPv4Prefixes))], byte(r.Uint32()), byte(r.Uint32()), byte(1 + r.IntN(254))})
		if public(a) {
			return a
		}
	}
}

// datacenterIP returns an address in a crawler operator's block.
func (g *gen) datacenterIP() netip.Addr {
	blocks := []netip.Prefix{netip.MustParsePrefix("66.249.64.0/19"), netip.MustParsePrefix("157.55.39.0/24"), netip.MustParsePrefix("40.77.167.0/24")}
	p := blocks[g.rng.IntN(len(blocks))]
	b := p.Addr().As4()
	host := g.rng.Uint32() & (1<<(32-p.Bits()) - 1)
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// documentation holds the ranges reserved for examples, which real traffic
// never comes from.
var documentation = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8::/32"),
}

// public reports whether a is a globally routable unicast address outside
// the documentation ranges.
func public(a netip.Addr) bool {
	if !a.IsGlobalUnicast() || a.IsPrivate() {
		return false
	}
	for _, p := range documentation {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

// fingerprintOf returns a stable device fingerprint.
func fingerprintOf(userID, ua string) string {
	h := uint64(14695981039346656037)
	for _, s := range []string{userID, "\x00", ua} {
		for i := 0; i < len(s); i++ {
			h ^= uint64(s[i])
			h *= 1099511628211
		}
	}
	return "fp_" + strconv.FormatUint(h, 36)
}

const site = "https://app.example.com"

func pageURL(path string) string { return site + path }

var paths = []string{
	"/", "/pricing", "/features", "/docs", "/docs/getting-started", "/docs/api", "/blog", "/blog/launch-week",
	"/blog/how-we-scaled-dynamodb", "/dashboard", "/dashboard/reports", "/settings", "/settings/billing",
	"/settings/team", "/integrations", "/changelog", "/search?q=export", "/products/42", "/cart", "/checkout",
}

var referrers = []string{
	"https://www.google.com/", "https://www.bing.com/", "https://duckduckgo.com/", "https://news.ycombinator.com/",
	"https://www.reddit.com/r/golang/", "https://t.co/", "https://www.linkedin.com/", "https://github.com/",
}

type campaign struct{ source, medium, campaign, referrer string }

var campaigns = []campaign{
	{"newsletter", "email", "2026-11-product-update", ""},
	{"google", "cpc", "brand-search", "https://www.google.com/"},
	{"linkedin", "social", "launch-week", "https://www.linkedin.com/"},
	{"twitter", "social", "launch-week", "https://t.co/"},
	{"partner", "referral", "integrations-directory", "https://partners.example.net/"},
	{"bing", "cpc", "competitor-terms", "https://www.bing.com/"},
}

var (
	plans        = []string{"free", "free", "trial", "trial", "pro"}
	loginMethods = []string{"password", "password", "password", "google", "sso", "apple", "magic_link"}
	elements     = []string{"nav_pricing", "nav_docs", "cta_trial", "add_to_cart", "export_csv", "invite_member", "search", "upgrade_banner"}
	placements   = []string{"sidebar", "banner", "feed", "footer"}
	adCampaigns  = []string{"winter-sale", "pro-upgrade", "webinar-dec", "referral-bonus"}
)
