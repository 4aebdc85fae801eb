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
	"sort"
	"strconv"
	"strings"
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
	// Users is the number of accounts: people who have a user ID by the
	// end of the span, whether they signed up before it or during it;
	// default DefaultUsers. About three in ten sign up during the span
	// (when Users is at least 3). Anonymous visitors who never sign up and
	// crawlers come on top. Fewer users may appear when Events is small.
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

// person is a user (an account) or an anonymous visitor.
type person struct {
	userID    string // the account's ID; "" for a visitor who never signs up
	weight    float64
	tz        int // offset from UTC in minutes
	devices   []*device
	signupDay int  // the day a new user plans to sign up; -1 for accounts older than the span
	signedUp  bool // has a user ID now
	lastDay   int  // the last day the person comes back
	plan      string
	trialDay  int // the day a trial ends (trial plan only)
	paying    bool
	cancelled bool
	first     *source // how a new user first arrives
}

// device is a browser (or the native app) on a machine, with its
// first-party anonymous ID and its networks.
type device struct {
	ua      userAgent
	anonID  string
	from    int            // the first day it is used
	home    netip.Addr     // its address at home or at the office
	carrier []netip.Prefix // a phone's mobile networks
}

// source is where a visit comes from: an external referrer, a campaign's
// utm parameters, both or neither (direct).
type source struct {
	referrer                      string
	utmSource, utmMedium, utmName string
	term, content                 string
	landing                       string
	// convert weights the source for visitors who will sign up.
	weight, convert float64
}

// planned is a session fixed in advance on a day.
type planned struct {
	kind int
	p    *person
	dev  *device
	src  *source
}

const (
	planVisit      = iota // a visitor browses the marketing site
	planSignup            // a new user's visit that ends in signing up
	planSession           // a user's session on a given device
	planFamily            // a user logs in on someone else's browser
	planAppInstall        // a user installs the app and aliases its ID
	planScript            // a customer's export script runs
)

type gen struct {
	cfg    Config
	rng    *rand.Rand
	users  []*person // accounts, busiest first
	plans  [][]planned
	start  time.Time
	nextID uint64
}

// Roles of the busiest accounts when Config.Users >= minRoles.
const (
	minRoles     = 8
	rankShared   = 1 // an account shared by several households
	rankScript   = 2 // runs an export script (bot user agent, user ID)
	rankFamilyA  = 3 // owns the family computer
	rankFamilyB  = 4 // logs in on it once, after A
	rankApp      = 5 // installs the app: alias
	rankShared2  = 6 // a second shared account (Users >= 20)
	firstOrdinal = 7 // ranks from here on may be new users or churn
)

func newGen(cfg Config) *gen {
	g := &gen{
		cfg:   cfg,
		rng:   rand.New(rand.NewPCG(cfg.Seed, 0x65766e746c616b65)), // "evntlake"
		start: cfg.End.Add(-time.Duration(cfg.Days) * 24 * time.Hour),
		plans: make([][]planned, cfg.Days),
	}
	first := firstOrdinal
	if cfg.Users < minRoles {
		first = 1
	}
	for i := range cfg.Users {
		g.users = append(g.users, g.newAccount(i, first))
	}
	if last := g.users[len(g.users)-1]; cfg.Users >= 3 && cfg.Days >= 2 && !slices.ContainsFunc(g.users, isNew) {
		// At least one signup, so that attribution has something to show.
		g.makeNew(last)
	}
	// The roles' sessions come first in their days' plans, so that a small
	// budget cuts visits rather than them.
	if cfg.Users >= minRoles {
		g.planRoles()
	}
	// A user who stops coming back visits on their last day, and cancels
	// then if paying.
	for _, p := range g.users {
		if p.lastDay < cfg.Days-1 {
			g.plan(p.lastDay, planned{kind: planSession, p: p, dev: p.devices[0]})
		}
	}
	twoDevices := false // the first new user browses on a phone first
	for _, p := range g.users {
		if p.signupDay >= 0 {
			g.planNewUser(p, !twoDevices)
			twoDevices = true
		}
	}
	for range 2 * cfg.Users {
		g.planVisitor()
	}
	return g
}

var timeZones = []int{-8 * 60, -7 * 60, -5 * 60, -3 * 60, 0, 60, 60, 120, 330, 480, 540, 600}

func (g *gen) newAccount(i, first int) *person {
	r := g.rng
	p := &person{
		// Zipf-like: the account of rank i is about 1/(i+1)^0.8 as active
		// as the busiest.
		weight:    1 / math.Pow(float64(i+1), 0.8),
		tz:        timeZones[r.IntN(len(timeZones))],
		signupDay: -1,
		signedUp:  true,
		lastDay:   g.cfg.Days - 1,
		plan:      plans[r.IntN(len(plans))],
	}
	if r.IntN(10) < 4 {
		p.userID = strconv.Itoa(100_000 + i*7919%900_000) // numeric IDs are strings too
	} else {
		var b [5]byte
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		p.userID = "usr_" + hex.EncodeToString(b[:])
	}
	p.paying = p.plan == "pro"
	home := g.homeIP()
	carrier := []netip.Prefix{g.network(), g.network()}
	switch {
	case g.cfg.Users >= minRoles && (i == rankShared || (i == rankShared2 && g.cfg.Users >= 20)):
		// Five households share the account: each its own device, home
		// and mobile network.
		kinds := []string{desktop, desktop, mobile, mobile, tablet}
		for _, k := range kinds {
			d := g.newDevice(g.browser(k), g.homeIP(), []netip.Prefix{g.network()})
			p.devices = append(p.devices, d)
		}
		return p
	case i >= first && g.cfg.Users >= 3 && g.cfg.Days >= 2 && r.IntN(10) < 3:
		g.makeNew(p)
		return p
	case i >= first && r.IntN(5) == 0:
		// Churns: stops coming back some day.
		p.lastDay = g.cfg.Days/5 + r.IntN(max(1, g.cfg.Days-g.cfg.Days/5-7))
	}
	p.devices = []*device{g.newDevice(g.anyBrowser(), home, carrier)}
	for range r.IntN(3) {
		k := mobile
		if r.IntN(4) == 0 {
			k = tablet
		}
		office := home
		if r.IntN(3) == 0 {
			office = g.homeIP()
			k = desktop
		}
		p.devices = append(p.devices, g.newDevice(g.browser(k), office, carrier))
	}
	return p
}

// makeNew turns p into a new user, who signs up during the span.
func (g *gen) makeNew(p *person) {
	r := g.rng
	p.signedUp = false
	p.signupDay = 1 + r.IntN(g.cfg.Days-1)
	p.plan = signupPlans[r.IntN(len(signupPlans))]
	p.paying = false
	p.lastDay = g.cfg.Days - 1
	p.first = g.pick(func(s *source) float64 { return s.convert })
	home := g.homeIP()
	carrier := []netip.Prefix{g.network(), g.network()}
	p.devices = []*device{g.newDevice(g.anyBrowser(), home, carrier)}
	if p.devices[0].ua.kind == desktop && r.IntN(3) == 0 {
		p.devices = append(p.devices, g.newDevice(g.browser(mobile), home, carrier))
	}
	if r.IntN(10) == 0 {
		p.lastDay = min(p.signupDay+7+r.IntN(30), g.cfg.Days-1)
	}
}

func isNew(p *person) bool { return p.signupDay >= 0 }

func (g *gen) newDevice(ua userAgent, home netip.Addr, carrier []netip.Prefix) *device {
	d := &device{ua: ua, anonID: g.uuid(), home: home}
	if ua.kind == mobile {
		d.carrier = carrier
	}
	return d
}

// anyBrowser draws a browser by share.
func (g *gen) anyBrowser() userAgent {
	return browserUserAgents[g.rng.IntN(len(browserUserAgents))]
}

// browser draws a browser of a kind of device.
func (g *gen) browser(kind string) userAgent {
	for {
		if ua := g.anyBrowser(); ua.kind == kind {
			return ua
		}
	}
}

// planNewUser plans a new user's visits before signing up: up to three on
// the days before, then the signup visit. With twoDevices the user first
// browses on a phone, signs up on a laptop, and logs in on the phone a day
// later: two anonymous IDs become one user.
func (g *gen) planNewUser(p *person, twoDevices bool) {
	r := g.rng
	s := p.signupDay
	if twoDevices {
		p.devices = []*device{
			g.newDevice(g.browser(desktop), p.devices[0].home, p.devices[0].carrier),
			g.newDevice(g.browser(mobile), p.devices[0].home, []netip.Prefix{g.network(), g.network()}),
		}
		if s >= 2 {
			g.plan(s-2, planned{kind: planVisit, p: p, dev: p.devices[1], src: p.first})
		}
		g.plan(s, planned{kind: planSignup, p: p, dev: p.devices[0], src: g.pick(nil)})
		if s+1 < g.cfg.Days {
			g.plan(s+1, planned{kind: planSession, p: p, dev: p.devices[1]})
		}
		return
	}
	src := p.first
	visits := r.IntN(4)
	days := make([]int, 0, visits)
	for range visits {
		days = append(days, max(0, s-1-r.IntN(14)))
	}
	slices.Sort(days)
	for _, d := range days {
		g.plan(d, planned{kind: planVisit, p: p, dev: p.devices[0], src: src})
		src = g.pick(nil) // later visits come from anywhere
	}
	g.plan(s, planned{kind: planSignup, p: p, dev: p.devices[0], src: src})
}

// planRoles plans the identity edge cases and the export script.
func (g *gen) planRoles() {
	days := g.cfg.Days
	a, b, c := g.users[rankFamilyA], g.users[rankFamilyB], g.users[rankApp]
	// The family computer: A's desktop, linked to A on the first day, then
	// identified as B halfway through.
	family := g.newDevice(g.browser(desktop), a.devices[0].home, nil)
	a.devices = append([]*device{family}, a.devices...)
	g.plan(0, planned{kind: planSession, p: a, dev: family})
	g.plan(days/2, planned{kind: planFamily, p: b, dev: family})
	// The app, installed a third of the way in.
	app := g.newDevice(appUserAgent, c.devices[0].home, []netip.Prefix{g.network(), g.network()})
	app.from = days / 3
	c.devices = append(c.devices, app)
	g.plan(days/3, planned{kind: planAppInstall, p: c, dev: app})
	// The export script, weekly.
	script := &device{ua: userAgent{s: scriptUserAgent, kind: tracker.DeviceBot}, home: g.cloudIP()}
	for d := 2; d < days; d += 7 {
		g.plan(d, planned{kind: planScript, p: g.users[rankScript], dev: script})
	}
}

// planVisitor plans one to three visits of an anonymous visitor who never
// signs up.
func (g *gen) planVisitor() {
	r := g.rng
	p := &person{tz: timeZones[r.IntN(len(timeZones))], signupDay: -1}
	p.devices = []*device{g.newDevice(g.anyBrowser(), g.homeIP(), []netip.Prefix{g.network()})}
	d := r.IntN(g.cfg.Days)
	for range 1 + r.IntN(3) {
		g.plan(d, planned{kind: planVisit, p: p, dev: p.devices[0], src: g.pick(nil)})
		d += 1 + r.IntN(10)
		if d >= g.cfg.Days {
			break
		}
	}
}

func (g *gen) plan(d int, pl planned) {
	if d >= 0 && d < g.cfg.Days {
		g.plans[d] = append(g.plans[d], pl)
	}
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
		made := 0
		for _, pl := range g.plans[d] {
			if made >= budget {
				break
			}
			s := g.planned(pl, d, dayStart, budget-made)
			made += len(s)
			buf = append(buf, s...)
		}
		// A signup visit cut short by the budget is tried again the next
		// day.
		for _, pl := range g.plans[d] {
			if pl.kind == planSignup && !pl.p.signedUp {
				g.plan(d+1, pl)
			}
		}
		eligible, cum := g.eligible(d)
		for made < budget {
			s := g.fill(d, dayStart, budget-made, eligible, cum)
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

// eligible returns the accounts that may act on day d (signed up, not yet
// gone) and their cumulative weights.
func (g *gen) eligible(d int) ([]*person, []float64) {
	var ps []*person
	var cum []float64
	total := 0.0
	for _, p := range g.users {
		if p.signedUp && d <= p.lastDay && (p.signupDay < 0 || d > p.signupDay) {
			total += p.weight
			ps = append(ps, p)
			cum = append(cum, total)
		}
	}
	return ps, cum
}

// fill returns one unplanned session: a crawler, a one-off visitor or, most
// often, a user drawn by weight.
func (g *gen) fill(d int, dayStart time.Time, max int, eligible []*person, cum []float64) []tracker.Event {
	r := g.rng
	x := r.IntN(100)
	if x < 7 {
		return g.crawl(dayStart, max)
	}
	if x < 22 || len(eligible) == 0 {
		p := &person{tz: timeZones[r.IntN(len(timeZones))], signupDay: -1}
		dev := g.newDevice(g.anyBrowser(), g.homeIP(), []netip.Prefix{g.network()})
		s := g.newSession(p, dev, dayStart, max)
		g.visit(s, g.pick(nil))
		return s.out
	}
	i := sort.SearchFloat64s(cum, r.Float64()*cum[len(cum)-1])
	p := eligible[min(i, len(eligible)-1)]
	var devs []*device
	for _, dv := range p.devices {
		if dv.from <= d {
			devs = append(devs, dv)
		}
	}
	s := g.newSession(p, devs[r.IntN(len(devs))], dayStart, max)
	g.userSession(s, d)
	return s.out
}

// planned returns the events of a planned session.
func (g *gen) planned(pl planned, d int, dayStart time.Time, max int) []tracker.Event {
	s := g.newSession(pl.p, pl.dev, dayStart, max)
	switch pl.kind {
	case planVisit:
		g.visit(s, pl.src)
	case planSignup:
		if pl.p.signedUp {
			return nil
		}
		g.signupVisit(s, pl.src, d)
	case planSession:
		if !pl.p.signedUp {
			return nil
		}
		g.userSession(s, d)
	case planFamily:
		g.familyLogin(s)
	case planAppInstall:
		g.appInstall(s)
	case planScript:
		g.script(s)
	}
	return s.out
}

// session builds the events of one visit: who (the user ID, "" while
// anonymous, and the device's anonymous ID), from where and when.
type session struct {
	g    *gen
	p    *person
	dev  *device
	out  []tracker.Event
	max  int
	at   time.Time
	user string
	anon string
	ip   netip.Addr
	page string // the current page's URL
}

func (g *gen) newSession(p *person, dev *device, dayStart time.Time, max int) *session {
	s := &session{g: g, p: p, dev: dev, max: max, anon: dev.anonID, ip: dev.home}
	if len(dev.carrier) > 0 && g.rng.IntN(2) == 0 {
		s.ip = g.hostIn(dev.carrier[g.rng.IntN(len(dev.carrier))]) // on the mobile network
	}
	s.at = g.sessionStart(p, dayStart, dev.ua.kind == tracker.DeviceBot)
	return s
}

// add appends an event at the session's current time. It returns false
// when the budget is spent or the time is past End.
func (s *session) add(typ string, attrs map[string]string) bool {
	if len(s.out) >= s.max || s.at.After(s.g.cfg.End) {
		return false
	}
	if u, ok := attrs[tracker.AttrURL]; ok && u == "" {
		delete(attrs, tracker.AttrURL) // a screen of the app has no URL
	}
	e := tracker.Event{UserID: s.user, AnonymousID: s.anon, Type: typ, At: s.at, UserAgent: s.dev.ua.s,
		IP: s.ip.String(), Attributes: attrs}
	if s.g.cfg.IDs {
		e.ID = s.g.id(s.at)
	}
	s.out = append(s.out, e)
	return true
}

// step moves the clock by a second plus an exponential wait of the given
// mean.
func (s *session) step(mean time.Duration) {
	s.at = s.at.Add(time.Second + time.Duration(s.g.rng.ExpFloat64()*float64(mean))).Truncate(time.Millisecond)
}

// pageView records a page view of path, or a screen view on the app. The
// landing page of a visit carries src's referrer and utm parameters; later
// pages have the previous page as their referrer.
func (s *session) pageView(path string, src *source) bool {
	if s.dev.ua.app {
		return s.add("screen", map[string]string{tracker.AttrTitle: titleOf(path), "name": strings.Trim(path, "/")})
	}
	url := site + path
	attrs := map[string]string{tracker.AttrPath: path, tracker.AttrTitle: titleOf(path)}
	if src != nil {
		if src.referrer != "" {
			attrs[tracker.AttrReferrer] = src.referrer
		}
		if src.utmSource != "" {
			q := []string{"utm_source=" + src.utmSource, "utm_medium=" + src.utmMedium, "utm_campaign=" + src.utmName}
			attrs[tracker.AttrUTMSource] = src.utmSource
			attrs[tracker.AttrUTMMedium] = src.utmMedium
			attrs[tracker.AttrUTMCampaign] = src.utmName
			if src.term != "" {
				attrs[tracker.AttrUTMTerm] = src.term
				q = append(q, "utm_term="+strings.ReplaceAll(src.term, " ", "+"))
			}
			if src.content != "" {
				attrs[tracker.AttrUTMContent] = src.content
				q = append(q, "utm_content="+src.content)
			}
			url += "?" + strings.Join(q, "&")
		}
	} else if s.page != "" {
		attrs[tracker.AttrReferrer] = s.page
	}
	attrs[tracker.AttrURL] = url
	if !s.add("page_view", attrs) {
		return false
	}
	s.page = site + path
	return true
}

// visit is an anonymous visit of the marketing site from src.
func (g *gen) visit(s *session, src *source) bool {
	r := g.rng
	s.user = ""
	if !s.pageView(src.landing, src) {
		return false
	}
	for range r.IntN(5) {
		if r.IntN(4) == 0 {
			s.step(5 * time.Second)
			if !s.add("impression", g.ad(s.page)) {
				return false
			}
		}
		if r.IntN(3) == 0 {
			s.step(15 * time.Second)
			if !s.add("click", map[string]string{tracker.AttrURL: s.page, "element": marketingElements[r.IntN(len(marketingElements))]}) {
				return false
			}
		}
		s.step(40 * time.Second)
		if !s.pageView(marketingPaths[r.IntN(len(marketingPaths))], nil) {
			return false
		}
	}
	return true
}

// signupVisit is a new user's visit from src that ends with identify and
// signup; the user's later events carry both IDs.
func (g *gen) signupVisit(s *session, src *source, d int) {
	r := g.rng
	p := s.p
	if !g.visit(s, src) {
		return
	}
	s.step(20 * time.Second)
	if !s.add("click", map[string]string{tracker.AttrURL: s.page, "element": "cta_signup"}) || !s.pageView("/signup", nil) {
		return
	}
	s.step(50 * time.Second)
	s.user = p.userID
	method := signupMethods[r.IntN(len(signupMethods))]
	if !s.add(tracker.TypeIdentify, map[string]string{"method": method}) {
		return
	}
	s.at = s.at.Add(150 * time.Millisecond)
	if !s.add("signup", map[string]string{"plan": p.plan, "method": method}) {
		return
	}
	p.signedUp = true
	p.signupDay = d
	switch p.plan {
	case "trial":
		p.trialDay = d + 14
		s.step(time.Second)
		s.add("trial_started", map[string]string{"plan": "pro", "trial_days": "14"})
	case "pro":
		s.step(30 * time.Second)
		if !g.subscribe(s) {
			return
		}
	}
	s.step(2 * time.Second)
	if !s.pageView("/welcome", nil) {
		return
	}
	g.browseApp(s)
}

// subscribe records a subscription and its first payment.
func (g *gen) subscribe(s *session) bool {
	billing := "monthly"
	amount := "49.00"
	if g.rng.IntN(3) == 0 {
		billing, amount = "annual", "490.00"
	}
	s.p.paying = true
	if !s.add("subscribed", map[string]string{"plan": "pro", "billing": billing}) {
		return false
	}
	s.step(2 * time.Second)
	return s.add("purchase", map[string]string{"sku": "pro-" + billing, "amount": amount, "currency": "USD"})
}

// userSession is a signed-up user's session on s's device: anonymous pages
// and a login unless the browser remembers the user, then the app.
func (g *gen) userSession(s *session, d int) {
	r := g.rng
	p := s.p
	if s.dev.ua.app || r.IntN(10) < 3 {
		s.user = p.userID
		if !s.pageView(appPaths[r.IntN(len(appPaths))], g.userSource()) {
			return
		}
	} else {
		s.user = ""
		src := g.userSource()
		landing := "/"
		if src.landing != "" && r.IntN(2) == 0 {
			landing = src.landing
		}
		if !s.pageView(landing, src) {
			return
		}
		s.step(10 * time.Second)
		if !s.pageView("/login", nil) {
			return
		}
		s.step(15 * time.Second)
		if r.IntN(40) == 0 {
			if !s.add("login_failed", map[string]string{"method": "password", "reason": "wrong_password"}) {
				return
			}
			s.step(10 * time.Second)
		}
		s.user = p.userID
		if !s.add("login", map[string]string{"method": loginMethods[r.IntN(len(loginMethods))], "mfa": strconv.FormatBool(r.IntN(3) == 0)}) {
			return
		}
		s.step(2 * time.Second)
		if !s.pageView("/dashboard", nil) {
			return
		}
	}
	// The subscription's life.
	switch {
	case p.plan == "trial" && !p.paying && !p.cancelled && p.trialDay > 0 && d >= p.trialDay:
		p.cancelled = r.IntN(2) == 0 // the trial ends without buying
		if !p.cancelled {
			s.step(20 * time.Second)
			if !s.pageView("/settings/billing", nil) || !g.subscribe(s) {
				return
			}
		}
	case p.plan == "free" && !p.paying && r.IntN(60) == 0:
		s.step(20 * time.Second)
		if !s.pageView("/pricing", nil) || !g.subscribe(s) {
			return
		}
	case p.paying && d >= p.lastDay-3 && p.lastDay < g.cfg.Days-1:
		// Leaving: cancels before going quiet.
		s.step(20 * time.Second)
		if !s.pageView("/settings/billing", nil) || !s.add("unsubscribed", map[string]string{"plan": "pro", "reason": cancelReasons[r.IntN(len(cancelReasons))]}) {
			return
		}
		p.paying, p.cancelled = false, true
	case p.paying && r.IntN(25) == 0:
		s.step(20 * time.Second)
		if !s.add("purchase", map[string]string{"sku": "extra-seats", "amount": "15.00", "currency": "USD", "quantity": strconv.Itoa(1 + r.IntN(5))}) {
			return
		}
	}
	if !g.browseApp(s) {
		return
	}
	if !s.dev.ua.app && r.IntN(2) == 0 {
		s.step(30 * time.Second)
		s.add("logout", nil)
	}
}

// browseApp adds a signed-in user's pages, clicks, impressions and searches.
func (g *gen) browseApp(s *session) bool {
	r := g.rng
	for range r.IntN(8) {
		if r.IntN(3) == 0 {
			s.step(time.Second)
			if !s.add("impression", g.ad(s.page)) {
				return false
			}
		}
		switch r.IntN(6) {
		case 0:
			s.step(20 * time.Second)
			if !s.add("search", map[string]string{"query": searches[r.IntN(len(searches))], tracker.AttrURL: s.page}) {
				return false
			}
		case 1, 2:
			s.step(12 * time.Second)
			if !s.add("click", map[string]string{tracker.AttrURL: s.page, "element": appElements[r.IntN(len(appElements))]}) {
				return false
			}
		}
		s.step(45 * time.Second)
		if !s.pageView(appPaths[r.IntN(len(appPaths))], nil) {
			return false
		}
	}
	return true
}

// familyLogin: a user signs in on someone else's browser (already linked to
// its owner), browses, signs out, and the browser is used anonymously again.
// The browser's anonymous ID stays its first user's.
func (g *gen) familyLogin(s *session) {
	s.user = ""
	if !s.pageView("/", nil) || !s.pageView("/login", nil) {
		return
	}
	s.step(20 * time.Second)
	s.user = s.p.userID
	if !s.add("login", map[string]string{"method": "password", "mfa": "false"}) {
		return
	}
	s.step(3 * time.Second)
	if !s.pageView("/dashboard", nil) || !s.pageView("/settings/team", nil) {
		return
	}
	s.step(30 * time.Second)
	if !s.add("logout", nil) {
		return
	}
	s.user = ""
	s.step(5 * time.Minute)
	s.pageView("/blog", nil)
}

// appInstall: screens of a freshly installed app, anonymous until the user
// signs in and the app aliases its install ID to the user.
func (g *gen) appInstall(s *session) {
	s.user = ""
	if !s.pageView("/welcome", nil) || !s.pageView("/login", nil) {
		return
	}
	s.step(20 * time.Second)
	s.user = s.p.userID
	if !s.add(tracker.TypeAlias, nil) {
		return
	}
	s.step(time.Second)
	if !s.add("login", map[string]string{"method": "apple", "mfa": "false"}) {
		return
	}
	g.browseApp(s)
}

// script: a customer's export script downloads reports with its user's ID
// and no cookie.
func (g *gen) script(s *session) {
	s.user, s.anon = s.p.userID, ""
	for range 2 + g.rng.IntN(3) {
		if !s.add("page_view", map[string]string{tracker.AttrURL: site + "/api/v1/reports/export", tracker.AttrPath: "/api/v1/reports/export", "format": "csv"}) {
			return
		}
		s.step(2 * time.Second)
	}
}

// crawl is a crawler's visit: anonymous page views without a cookie of its
// own (a new anonymous ID every time), from a crawler operator's block.
// Crawlers that render JavaScript fire the pages' ad impressions too.
func (g *gen) crawl(dayStart time.Time, max int) []tracker.Event {
	r := g.rng
	dev := &device{ua: userAgent{s: crawlerUserAgents[r.IntN(len(crawlerUserAgents))], kind: tracker.DeviceBot},
		anonID: g.uuid(), home: g.datacenterIP()}
	s := g.newSession(&person{}, dev, dayStart, max)
	for range 1 + r.IntN(8) {
		path := marketingPaths[r.IntN(len(marketingPaths))]
		if !s.add("page_view", map[string]string{tracker.AttrURL: site + path, tracker.AttrPath: path, tracker.AttrTitle: titleOf(path)}) {
			break
		}
		if r.IntN(3) == 0 {
			s.step(time.Second)
			if !s.add("impression", g.ad(site+path)) {
				break
			}
		}
		s.step(3 * time.Second)
	}
	return s.out
}

// ad returns an ad impression's attributes on page.
func (g *gen) ad(page string) map[string]string {
	r := g.rng
	return map[string]string{tracker.AttrURL: page, "placement": placements[r.IntN(len(placements))],
		"ad_id": "ad_" + strconv.Itoa(1000+r.IntN(40)), "ad_campaign": adCampaigns[r.IntN(len(adCampaigns))]}
}

// pick draws a source by weight, or by the weight for converting visitors.
func (g *gen) pick(weight func(*source) float64) *source {
	if weight == nil {
		weight = func(s *source) float64 { return s.weight }
	}
	total := 0.0
	for i := range sources {
		total += weight(&sources[i])
	}
	x := g.rng.Float64() * total
	for i := range sources {
		if x -= weight(&sources[i]); x < 0 {
			return &sources[i]
		}
	}
	return &sources[len(sources)-1]
}

// userSource draws where a returning user comes from: mostly direct, some
// from the newsletter or a search engine.
func (g *gen) userSource() *source {
	switch x := g.rng.IntN(20); {
	case x < 12:
		return &sources[0] // direct
	case x < 15:
		return &sources[len(sources)-1] // the newsletter
	default:
		return &sources[1+g.rng.IntN(3)] // a search engine
	}
}

// activity is the relative number of sessions starting in each local hour.
var activity = [24]float64{
	0.15, 0.08, 0.05, 0.04, 0.04, 0.06, 0.15, 0.35, 0.6, 0.8, 0.9, 0.95,
	1, 0.95, 0.9, 0.85, 0.85, 0.9, 0.95, 1, 0.95, 0.8, 0.55, 0.3,
}

// sessionStart draws a start time in the day that begins at dayStart,
// following the daily rhythm of p's time zone (bots keep no hours), never
// after End.
func (g *gen) sessionStart(p *person, dayStart time.Time, bot bool) time.Time {
	r := g.rng
	span := 24 * time.Hour
	if end := g.cfg.End.Sub(dayStart); end < span {
		span = end
	}
	for {
		t := dayStart.Add(time.Duration(r.Int64N(int64(span) + 1))).Truncate(time.Millisecond)
		if bot || r.Float64() < activity[t.Add(time.Duration(p.tz)*time.Minute).Hour()] {
			return t
		}
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
	return uuidText(u)
}

// uuid returns a random (version 4) UUID, the form analytics libraries use
// for anonymous IDs.
func (g *gen) uuid() string {
	var u [16]byte
	a, b := g.rng.Uint64(), g.rng.Uint64()
	for i := range 8 {
		u[i], u[8+i] = byte(a>>(8*i)), byte(b>>(8*i))
	}
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return uuidText(u)
}

func uuidText(u [16]byte) string {
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
	return g.hostIn(g.network())
}

// network returns a customer network: an IPv4 /24 three times in four,
// else an IPv6 /48.
func (g *gen) network() netip.Prefix {
	r := g.rng
	if r.IntN(4) == 0 {
		var b [16]byte
		p := homeIPv6Prefixes[r.IntN(len(homeIPv6Prefixes))]
		b[0], b[1] = byte(p>>8), byte(p)
		for i := 2; i < 6; i++ {
			b[i] = byte(r.Uint32())
		}
		return netip.PrefixFrom(netip.AddrFrom16(b), 48)
	}
	for {
		a := netip.AddrFrom4([4]byte{homeIPv4Prefixes[r.IntN(len(homeIPv4Prefixes))], byte(r.Uint32()), byte(r.Uint32()), 0})
		if public(a) {
			return netip.PrefixFrom(a, 24)
		}
	}
}

// hostIn returns a random public host address in n.
func (g *gen) hostIn(n netip.Prefix) netip.Addr {
	r := g.rng
	if n.Addr().Is4() {
		b := n.Addr().As4()
		b[3] = byte(1 + r.IntN(254))
		return netip.AddrFrom4(b)
	}
	b := n.Addr().As16()
	for i := 6; i < 16; i++ {
		b[i] = byte(r.Uint32())
	}
	if b[15] == 0 {
		b[15] = 1
	}
	return netip.AddrFrom16(b)
}

// datacenterIP returns an address in a crawler operator's block.
func (g *gen) datacenterIP() netip.Addr {
	return g.blockIP(crawlerBlocks)
}

// cloudIP returns an address of a cloud provider's servers.
func (g *gen) cloudIP() netip.Addr {
	return g.blockIP(cloudBlocks)
}

func (g *gen) blockIP(blocks []netip.Prefix) netip.Addr {
	p := blocks[g.rng.IntN(len(blocks))]
	b := p.Addr().As4()
	host := g.rng.Uint32()&(1<<(32-p.Bits())-1) | 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

var (
	crawlerBlocks = []netip.Prefix{netip.MustParsePrefix("66.249.64.0/19"), netip.MustParsePrefix("157.55.39.0/24"),
		netip.MustParsePrefix("40.77.167.0/24"), netip.MustParsePrefix("54.36.148.0/23")}
	cloudBlocks = []netip.Prefix{netip.MustParsePrefix("3.120.0.0/14"), netip.MustParsePrefix("34.64.0.0/10")}
)

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

const site = "https://app.example.com"

// marketingPaths are the public site's pages; appPaths the signed-in app's.
var (
	marketingPaths = []string{
		"/", "/pricing", "/pricing", "/features", "/features/realtime", "/customers", "/docs", "/docs/getting-started",
		"/blog", "/blog/launch-week", "/blog/how-we-scaled-dynamodb", "/integrations", "/changelog", "/about",
	}
	appPaths = []string{
		"/dashboard", "/dashboard", "/dashboard/reports", "/projects", "/projects/42", "/projects/42/events",
		"/settings", "/settings/billing", "/settings/team", "/integrations", "/docs/api",
	}
)

var titles = map[string]string{
	"/": "eventlake: user activity analytics for Go", "/pricing": "Pricing", "/features": "Features",
	"/features/realtime": "Real-time dashboards", "/customers": "Customers", "/docs": "Documentation",
	"/docs/getting-started": "Getting started", "/docs/api": "API reference", "/blog": "Blog",
	"/blog/launch-week": "Launch week recap", "/blog/how-we-scaled-dynamodb": "How we scaled DynamoDB",
	"/integrations": "Integrations", "/changelog": "Changelog", "/about": "About us", "/signup": "Sign up",
	"/login": "Log in", "/welcome": "Welcome", "/dashboard": "Dashboard", "/dashboard/reports": "Reports",
	"/projects": "Projects", "/projects/42": "Project: checkout", "/projects/42/events": "Project events",
	"/settings": "Settings", "/settings/billing": "Billing", "/settings/team": "Team",
}

func titleOf(path string) string {
	if t, ok := titles[path]; ok {
		return t
	}
	return strings.Trim(path, "/")
}

// sources: direct first, the newsletter last (userSource relies on both).
// weight is the share of visitors' arrivals; convert the share among
// visitors who will sign up (a brand search converts better than social).
var sources = []source{
	{landing: "/", weight: 25, convert: 20},
	{referrer: "https://www.google.com/", landing: "/", weight: 14, convert: 12},
	{referrer: "https://www.bing.com/", landing: "/docs/getting-started", weight: 4, convert: 3},
	{referrer: "https://duckduckgo.com/", landing: "/blog/how-we-scaled-dynamodb", weight: 3, convert: 2},
	{referrer: "https://news.ycombinator.com/", landing: "/blog/how-we-scaled-dynamodb", weight: 7, convert: 2},
	{referrer: "https://www.reddit.com/r/golang/", landing: "/blog/launch-week", weight: 4, convert: 2},
	{referrer: "https://github.com/", landing: "/docs", weight: 4, convert: 4},
	{referrer: "https://www.google.com/", utmSource: "google", utmMedium: "cpc", utmName: "brand-search", term: "eventlake", landing: "/", weight: 9, convert: 16},
	{referrer: "https://www.bing.com/", utmSource: "bing", utmMedium: "cpc", utmName: "competitor-terms", term: "segment alternative", landing: "/pricing", weight: 5, convert: 6},
	{referrer: "https://www.linkedin.com/", utmSource: "linkedin", utmMedium: "social", utmName: "launch-week", content: "carousel", landing: "/features", weight: 7, convert: 5},
	{referrer: "https://t.co/", utmSource: "twitter", utmMedium: "social", utmName: "launch-week", landing: "/blog/launch-week", weight: 6, convert: 3},
	{referrer: "https://partners.example.net/", utmSource: "partner", utmMedium: "referral", utmName: "integrations-directory", landing: "/integrations", weight: 4, convert: 7},
	{utmSource: "newsletter", utmMedium: "email", utmName: "2026-11-product-update", content: "hero-button", landing: "/blog/launch-week", weight: 8, convert: 18},
}

var (
	plans             = []string{"free", "free", "free", "pro", "pro"}
	signupPlans       = []string{"free", "free", "trial", "trial", "trial", "pro"}
	signupMethods     = []string{"email", "email", "google", "github"}
	loginMethods      = []string{"password", "password", "password", "google", "sso", "apple", "magic_link"}
	cancelReasons     = []string{"too_expensive", "missing_feature", "switched_tool", "project_ended"}
	marketingElements = []string{"nav_pricing", "nav_docs", "cta_trial", "cta_demo", "footer_link"}
	appElements       = []string{"export_csv", "invite_member", "create_report", "filter", "upgrade_banner", "share_link"}
	searches          = []string{"export", "retention", "signup funnel", "api key", "webhooks", "billing"}
	placements        = []string{"sidebar", "banner", "feed", "footer"}
	adCampaigns       = []string{"winter-sale", "pro-upgrade", "webinar-dec", "referral-bonus"}
)
