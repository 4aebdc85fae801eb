// Package lakegen generates a known, deterministic event history and writes
// it as a lake folder the way the pipeline lands it: gzip NDJSON objects
// under events/dt=YYYY-MM-DD/, dt being the arrival day. The history covers
// what the queries of athena/queries ask about: regular users on several
// devices, users who stop coming back, anonymous visitors who browse from
// referrers and campaigns and then sign up, clicks and impressions, bots,
// events without a user agent, events exactly on hour and day boundaries,
// events arriving after midnight or days late, and duplicate deliveries.
//
// Tests compute the expected answer of each query from Dataset.Events and
// compare it with what the SQL returns over the written files; the benchmark
// writes a million events with it. It is a test helper.
package lakegen

import (
	"bufio"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

// Event is one event as the stream Lambda writes it (the JSON keys of
// tracker.EventFields(), optional fields omitted when empty) plus the day it
// arrived.
type Event struct {
	UserID     string            `json:"user_id"`
	EventAt    string            `json:"event_at"`
	EventID    string            `json:"event_id"`
	EventType  string            `json:"event_type"`
	UserAgent  string            `json:"user_agent,omitempty"`
	IPAddress  string            `json:"ip_address,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
	// Dt is the arrival day, the partition; not part of the JSON line.
	Dt string `json:"-"`
}

// Time parses EventAt.
func (e Event) Time() time.Time {
	t, err := time.Parse(tracker.TimeLayout, e.EventAt)
	if err != nil {
		panic(fmt.Sprintf("lakegen: event_at %q: %v", e.EventAt, err))
	}
	return t
}

// Day is the UTC day of EventAt.
func (e Event) Day() string { return e.EventAt[:10] }

// Agent is a user agent with the classification a person reading it gives.
type Agent struct {
	UA                  string
	Device, Browser, OS string
}

// Agents are the user agents of the history, labelled by hand.
var Agents = []Agent{
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "desktop", "Chrome", "Windows"},
	{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15", "desktop", "Safari", "macOS"},
	{"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "desktop", "Firefox", "Linux"},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.61", "desktop", "Edge", "Windows"},
	{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36 OPR/105.0.0.0", "desktop", "Opera", "Windows"},
	{"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "desktop", "Chrome", "Chrome OS"},
	{"Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko", "desktop", "Internet Explorer", "Windows"},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1", "mobile", "Safari", "iOS"},
	{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 Mobile/15E148 Safari/604.1", "mobile", "Chrome", "iOS"},
	{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36", "mobile", "Chrome", "Android"},
	{"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36", "mobile", "Samsung Internet", "Android"},
	{"Mozilla/5.0 (Android 14; Mobile; rv:121.0) Gecko/121.0 Firefox/121.0", "mobile", "Firefox", "Android"},
	{"Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1", "tablet", "Safari", "iOS"},
	{"Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36", "tablet", "Chrome", "Android"},
	{"Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.14977", "mobile", "Edge", "Windows Phone"},
}

// Bot agents.
var Bots = []Agent{
	{"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot", "other", "other"},
	{"curl/8.4.0", "bot", "other", "other"},
}

// NoAgent labels an event without a user agent.
var NoAgent = Agent{"", "unknown", "unknown", "unknown"}

// AgentOf returns the labels of ua.
func AgentOf(ua string) Agent {
	for _, a := range append(append([]Agent{NoAgent}, Agents...), Bots...) {
		if a.UA == ua {
			return a
		}
	}
	panic("lakegen: unknown user agent " + ua)
}

var (
	referrers = []string{"https://www.google.com/", "https://news.ycombinator.com/", "https://twitter.com/", "https://www.reddit.com/r/golang/", ""}
	campaigns = []string{"spring_launch", "newsletter_42", "retargeting", ""}
	pages     = []string{"/", "/pricing", "/docs", "/blog/athena", "/signup"}
)

// Config shapes the history. The zero value of every field means the
// default.
type Config struct {
	// End is the last day (its UTC date); default today.
	End time.Time
	// Days is the number of days ending with End; default 90.
	Days int
	// Users is the number of regular users; default 8. Two more stop coming
	// back (rotting), Users/2 visitors sign up, and one bot crawls.
	Users int
	// Sessions is the average number of sessions of an active user per day;
	// default 1.5.
	Sessions float64
	// DuplicateRate is the share of events delivered twice; default 0.03.
	DuplicateRate float64
	// Seed makes the history reproducible; default 1.
	Seed uint64
}

// Dataset is a generated history.
type Dataset struct {
	// Start and End are the first and last day, YYYY-MM-DD.
	Start, End string
	// Events holds each event once, with its arrival day.
	Events []Event
	// Deliveries holds what lands in the lake: Events plus the duplicate
	// copies, in arrival order.
	Deliveries []Event
}

type gen struct {
	cfg   Config
	rnd   *rand.Rand
	start time.Time // midnight of the first day
	end   time.Time // midnight after the last day
	out   []Event
}

// Generate builds the history. The same Config (and End day) gives the same
// Dataset.
func Generate(cfg Config) *Dataset {
	if cfg.End.IsZero() {
		cfg.End = time.Now()
	}
	if cfg.Days == 0 {
		cfg.Days = 90
	}
	if cfg.Users == 0 {
		cfg.Users = 8
	}
	if cfg.Sessions == 0 {
		cfg.Sessions = 1.5
	}
	if cfg.DuplicateRate == 0 {
		cfg.DuplicateRate = 0.03
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	endDay := cfg.End.UTC().Truncate(24 * time.Hour)
	g := &gen{
		cfg:   cfg,
		rnd:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed)),
		start: endDay.AddDate(0, 0, -(cfg.Days - 1)),
		end:   endDay.AddDate(0, 0, 1),
	}
	g.regulars()
	g.rotting()
	g.visitors()
	g.bot()
	g.boundaries()

	slices.SortFunc(g.out, func(a, b Event) int { return strings.Compare(a.EventAt+a.EventID, b.EventAt+b.EventID) })
	ds := &Dataset{Start: g.start.Format(tracker.DateLayout), End: endDay.Format(tracker.DateLayout)}
	for i := range g.out {
		g.out[i].Dt = g.arrival(g.out[i])
	}
	ds.Events = g.out
	for _, e := range g.out {
		ds.Deliveries = append(ds.Deliveries, e)
		if g.rnd.Float64() < cfg.DuplicateRate {
			ds.Deliveries = append(ds.Deliveries, e)
		}
	}
	return ds
}

// arrival picks the arrival day: the day of event_at, except that an event in
// the last three minutes of a day arrives after midnight half of the time,
// and one event in 500 arrives three days late (a backfill).
func (g *gen) arrival(e Event) string {
	t := e.Time()
	day := t.Truncate(24 * time.Hour)
	switch r := g.rnd.Float64(); {
	case r < 0.002:
		day = day.AddDate(0, 0, 3)
	case t.Sub(day) >= 24*time.Hour-3*time.Minute && r < 0.5:
		day = day.AddDate(0, 0, 1)
	}
	return day.Format(tracker.DateLayout)
}

// id returns a UUIDv7 for time t (RFC 9562: 48-bit Unix milliseconds, then
// 74 random bits), the form the tracker generates, so that the IDs compress
// in the lake as real ones do.
func (g *gen) id(t time.Time) string {
	var u [16]byte
	ms := t.UnixMilli()
	for i := range 6 {
		u[i] = byte(ms >> (40 - 8*i))
	}
	r1, r2 := g.rnd.Uint64(), g.rnd.Uint64()
	u[6] = byte(r1>>8)&0x0f | 0x70
	u[7] = byte(r1)
	for i := 8; i < 16; i++ {
		u[i] = byte(r2 >> (8 * (15 - i)))
	}
	u[8] = u[8]&0x3f | 0x80
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (g *gen) ip() string {
	if g.rnd.IntN(10) == 0 {
		return ""
	}
	if g.rnd.IntN(5) == 0 {
		return fmt.Sprintf("2001:db8::%x", g.rnd.IntN(1<<16))
	}
	return fmt.Sprintf("203.0.113.%d", g.rnd.IntN(250)+1)
}

func (g *gen) add(user, typ string, at time.Time, agent Agent, attrs map[string]string) {
	if !at.Before(g.end) || at.Before(g.start) {
		return
	}
	g.out = append(g.out, Event{
		UserID:     user,
		EventAt:    at.UTC().Format(tracker.TimeLayout),
		EventID:    g.id(at),
		EventType:  typ,
		UserAgent:  agent.UA,
		IPAddress:  g.ip(),
		Attributes: attrs,
	})
}

// at returns a random time on day d (0 = first day).
func (g *gen) at(d int) time.Time {
	return g.start.AddDate(0, 0, d).Add(time.Duration(g.rnd.Int64N(int64(24 * time.Hour))).Truncate(time.Millisecond))
}

// session adds one visit of a signed-in user starting at t.
func (g *gen) session(user string, t time.Time, agent Agent) {
	if g.rnd.IntN(3) > 0 {
		g.add(user, "login", t, agent, nil)
	}
	step := func() {
		t = t.Add(time.Duration(1+g.rnd.IntN(120)) * time.Second).Add(time.Duration(g.rnd.IntN(1000)) * time.Millisecond)
	}
	for n := g.rnd.IntN(5); n >= 0; n-- {
		step()
		switch k := g.rnd.IntN(10); {
		case k < 4:
			g.add(user, "impression", t, agent, map[string]string{"slot": fmt.Sprintf("banner-%d", g.rnd.IntN(3))})
		case k < 6:
			g.add(user, "click", t, agent, map[string]string{"target": "cta"})
		case k < 8:
			g.add(user, "page_view", t, agent, map[string]string{"url": pages[g.rnd.IntN(len(pages))]})
		case k < 9:
			g.add(user, "search", t, agent, map[string]string{"q": "go lambda"})
		default:
			g.add(user, "purchase", t, agent, map[string]string{"sku": "pro", "amount": "49"})
		}
	}
	if g.rnd.IntN(4) == 0 {
		step()
		g.add(user, "logout", t, agent, nil)
	}
}

// activeDays adds sessions on days [from, to) for user, skipping some days.
func (g *gen) activeDays(user string, from, to int, devices []Agent) {
	for d := from; d < to && d < g.cfg.Days; d++ {
		if g.rnd.IntN(5) == 0 {
			continue // a day off
		}
		for n := g.poisson(g.cfg.Sessions); n > 0; n-- {
			g.session(user, g.at(d), devices[g.rnd.IntN(len(devices))])
		}
	}
}

func (g *gen) poisson(mean float64) int {
	n, p := 0, g.rnd.Float64()
	for limit := math.Exp(-mean); p > limit; n++ {
		p *= g.rnd.Float64()
	}
	return n
}

func (g *gen) devices() []Agent {
	out := []Agent{Agents[g.rnd.IntN(len(Agents))]}
	if g.rnd.IntN(2) == 0 {
		out = append(out, Agents[g.rnd.IntN(len(Agents))])
	}
	if g.rnd.IntN(8) == 0 {
		out = append(out, NoAgent) // a server-side integration without a header
	}
	return out
}

func (g *gen) regulars() {
	for u := 1; u <= g.cfg.Users; u++ {
		g.activeDays(fmt.Sprintf("u%04d", u), g.rnd.IntN(10), g.cfg.Days, g.devices())
	}
}

// rotting adds two users who stop coming back 40 and 20 days before the end.
func (g *gen) rotting() {
	g.activeDays("r0001", 0, g.cfg.Days-40, g.devices())
	g.activeDays("r0002", 5, g.cfg.Days-20, g.devices())
}

// visitors adds anonymous visitors who browse (page views with a fingerprint,
// a referrer and sometimes a campaign) and then sign up, and keep using the
// product. Every third signs up without a fingerprint: their earlier page
// views carry their user_id instead. Some sign up without any page view.
func (g *gen) visitors() {
	n := max(g.cfg.Users/2, 4)
	for v := 1; v <= n; v++ {
		user := fmt.Sprintf("s%04d", v)
		fp := fmt.Sprintf("fp-%04d", v)
		signupDay := 5 + g.rnd.IntN(g.cfg.Days-5)
		signupAt := g.at(signupDay)
		agent := Agents[g.rnd.IntN(len(Agents))]
		withFP := v%3 != 0
		direct := v%5 == 0
		if !direct {
			for k := g.rnd.IntN(6) + 1; k > 0; k-- {
				// Up to 45 days before the signup, so some fall outside a
				// 30-day lookback.
				t := signupAt.Add(-time.Duration(g.rnd.Int64N(int64(45 * 24 * time.Hour)))).Truncate(time.Millisecond)
				attrs := map[string]string{"url": pages[g.rnd.IntN(len(pages))]}
				if r := referrers[g.rnd.IntN(len(referrers))]; r != "" {
					attrs["referrer"] = r
				}
				if c := campaigns[g.rnd.IntN(len(campaigns))]; c != "" {
					attrs["campaign"] = c
				}
				who := user
				if withFP {
					attrs["fingerprint"] = fp
					who = "anon-" + fp
				}
				g.add(who, "page_view", t, agent, attrs)
			}
			if v%4 == 1 {
				// Two page views in the same millisecond, and one in the
				// signup's own millisecond (not before it, so not a touch).
				t := signupAt.Add(-time.Hour)
				for _, ref := range []string{"https://a.example/", "https://b.example/"} {
					attrs := map[string]string{"url": "/", "referrer": ref}
					who := user
					if withFP {
						attrs["fingerprint"] = fp
						who = "anon-" + fp
					}
					g.add(who, "page_view", t, agent, attrs)
				}
				attrs := map[string]string{"url": "/signup", "referrer": "https://same-ms.example/"}
				if withFP {
					attrs["fingerprint"] = fp
				}
				g.add(user, "page_view", signupAt, agent, attrs)
			}
		}
		var attrs map[string]string
		if withFP {
			attrs = map[string]string{"fingerprint": fp, "plan": "free"}
		}
		g.add(user, "signup", signupAt, agent, attrs)
		g.activeDays(user, signupDay+1, g.cfg.Days, []Agent{agent})
	}
}

func (g *gen) bot() {
	for d := 0; d < g.cfg.Days; d += 3 {
		g.add("crawler", "page_view", g.at(d), Bots[d%len(Bots)], map[string]string{"url": "/"})
	}
}

// boundaries adds clicks and impressions just before and exactly on hour and
// day boundaries, for the windowed queries to get exactly right.
func (g *gen) boundaries() {
	agent := Agents[0]
	for d := 0; d < g.cfg.Days; d++ {
		day := g.start.AddDate(0, 0, d)
		for _, h := range []int{0, 10, 23} {
			top := day.Add(time.Duration(h) * time.Hour)
			g.add("u0001", "click", top, agent, nil)
			g.add("u0002", "impression", top.Add(-time.Millisecond), agent, nil)
			g.add("u0003", "impression", top.Add(59*time.Minute+59*time.Second+999*time.Millisecond), agent, nil)
		}
		g.add("u0004", "login", day.Add(24*time.Hour-time.Millisecond), agent, nil)
		g.add("u0004", "login", day, agent, nil)
	}
}

// Layout says how deliveries are cut into objects, as Firehose's buffering
// hints do: a new object at every Interval of arrival (Firehose flushes at
// least every 900 seconds) and after PerObject lines. Zero fields do not cut.
type Layout struct {
	PerObject int
	Interval  time.Duration
}

// WriteNDJSON writes the deliveries under root as the pipeline lands them:
// root/events/dt=<day>/<stream>-1-<yyyy-MM-dd-HH-mm-ss>-<n>.gz, each object
// gzip-compressed NDJSON. A duplicate copy lands in the object after its
// original's. It returns the object paths in order.
func (ds *Dataset) WriteNDJSON(root string, l Layout) ([]string, error) {
	return ds.write(root, l, true)
}

// WritePlainJSON writes the deliveries as the design this project replaces
// stored them: uncompressed NDJSON objects directly in dir, no partitions.
func (ds *Dataset) WritePlainJSON(dir string, l Layout) ([]string, error) {
	return ds.write(dir, l, false)
}

func (ds *Dataset) write(root string, l Layout, partitioned bool) ([]string, error) {
	byDay := map[string][]Event{}
	var days []string
	for _, e := range ds.Deliveries {
		if _, ok := byDay[e.Dt]; !ok {
			days = append(days, e.Dt)
		}
		byDay[e.Dt] = append(byDay[e.Dt], e)
	}
	slices.Sort(days)
	var paths []string
	n := 0
	for _, day := range days {
		midnight, err := time.Parse(tracker.DateLayout, day)
		if err != nil {
			return nil, fmt.Errorf("arrival day %q: %w", day, err)
		}
		// window is the flush interval an event arrives in; an event from an
		// earlier day arrives in the first.
		window := func(e Event) int {
			if l.Interval <= 0 {
				return 0
			}
			return int(max(e.Time().Sub(midnight), 0) / l.Interval)
		}
		// Originals in arrival order; then each duplicate in the object
		// after its original's (a redelivery comes later), the last
		// object's in one more object.
		var objects [][]Event
		var starts []int // the window each object belongs to
		var dups []Event
		seen := map[string]int{}
		for _, e := range events(byDay[day]) {
			key := e.UserID + "|" + e.EventAt + "|" + e.EventID
			if _, dup := seen[key]; dup {
				dups = append(dups, e)
				continue
			}
			w := window(e)
			last := len(objects) - 1
			if last < 0 || starts[last] != w || (l.PerObject > 0 && len(objects[last]) >= l.PerObject) {
				objects = append(objects, nil)
				starts = append(starts, w)
				last++
			}
			seen[key] = last
			objects[last] = append(objects[last], e)
		}
		originals := len(objects)
		for _, e := range dups {
			target := seen[e.UserID+"|"+e.EventAt+"|"+e.EventID] + 1
			if target == originals && len(objects) == originals {
				objects = append(objects, nil)
				starts = append(starts, starts[originals-1])
			}
			objects[target] = append(objects[target], e)
		}
		dir := root
		if partitioned {
			dir = filepath.Join(root, "events", tracker.PartitionColumn+"="+day)
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		for i, obj := range objects {
			n++
			stamp := midnight.Add(time.Duration(starts[i]) * l.Interval)
			name := fmt.Sprintf("eventlake-events-1-%s-%012d", stamp.Format("2006-01-02-15-04-05"), n)
			if partitioned {
				name += ".gz"
			} else {
				name += ".json"
			}
			p := filepath.Join(dir, name)
			if err := writeObject(p, obj, partitioned); err != nil {
				return nil, err
			}
			paths = append(paths, p)
		}
	}
	return paths, nil
}

// events returns the day's deliveries in arrival order: late ones (from
// earlier days) first, then by event time.
func events(ev []Event) []Event {
	out := slices.Clone(ev)
	slices.SortStableFunc(out, func(a, b Event) int { return strings.Compare(a.EventAt, b.EventAt) })
	return out
}

func writeObject(path string, events []Event, gz bool) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<16)
	var w interface {
		Write([]byte) (int, error)
	} = bw
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(bw)
		w = zw
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	return bw.Flush()
}
