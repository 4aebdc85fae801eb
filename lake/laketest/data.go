package laketest

import (
	"bufio"
	"compress/gzip"
	"context"
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

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
	"github.com/eventlake/eventlake/tracker"
)

// Event is one event as the relay writes it to the lake (schema v2: the
// keys of tracker.EventFields, optional fields omitted when empty).
type Event struct {
	UserID      string            `json:"user_id,omitempty"`
	AnonymousID string            `json:"anonymous_id,omitempty"`
	EventAt     string            `json:"event_at"`
	EventID     string            `json:"event_id"`
	EventType   string            `json:"event_type"`
	UserAgent   string            `json:"user_agent,omitempty"`
	IPAddress   string            `json:"ip_address,omitempty"`
	DeviceType  string            `json:"device_type,omitempty"`
	Browser     string            `json:"browser,omitempty"`
	OS          string            `json:"os,omitempty"`
	IsBot       bool              `json:"is_bot"`
	Attributes  map[string]string `json:"attributes,omitempty"`
}

// Day is the UTC day of EventAt, the event's partition.
func (e Event) Day() string { return e.EventAt[:10] }

// Identity is the event's identity in the lake (events_dedup's).
func (e Event) Identity() string {
	return e.UserID + "\x00" + e.AnonymousID + "\x00" + e.EventAt + "\x00" + e.EventID
}

var agents = []string{
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1.2 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
	"Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
	"",
}

const botAgent = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

var (
	pages     = []string{"/", "/pricing", "/docs", "/blog/athena", "/signup"}
	referrers = []string{"https://www.google.com/", "https://news.ycombinator.com/", "https://twitter.com/", ""}
	campaigns = []string{"spring_launch", "newsletter_42", ""}
)

// Config shapes a generated history. The zero value of every field means
// the default.
type Config struct {
	// End is the last day; default today (UTC).
	End time.Time
	// Days ending with End; default 30.
	Days int
	// Users signed in from the start (u0001, ...); default 10.
	Users int
	// Visitors browse anonymously (cookies v-0001, ...); every second one
	// identifies as a new user (s0001, ...) on some day and keeps using the
	// product with the same cookie; default Users.
	Visitors int
	// Sessions is the mean number of sessions of an active actor a day;
	// default 1.5.
	Sessions float64
	// Seed makes the history reproducible; default 1.
	Seed uint64
}

type gen struct {
	cfg   Config
	rnd   *rand.Rand
	start time.Time
	out   []Event
}

// Generate returns a deterministic history, sorted by event_at then
// event_id: signed-in users on a few devices (their events carry their
// cookie too), anonymous visitors from referrers and campaigns, some of whom
// identify (an identify event with both IDs, then signup), a crawler, and
// events without a user agent. Enrichment is tracker.Classify's.
func Generate(cfg Config) []Event {
	if cfg.End.IsZero() {
		cfg.End = time.Now()
	}
	if cfg.Days == 0 {
		cfg.Days = 30
	}
	if cfg.Users == 0 {
		cfg.Users = 10
	}
	if cfg.Visitors == 0 {
		cfg.Visitors = cfg.Users
	}
	if cfg.Sessions == 0 {
		cfg.Sessions = 1.5
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	end := cfg.End.UTC().Truncate(24 * time.Hour)
	g := &gen{cfg: cfg, rnd: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x1a4e)), start: end.AddDate(0, 0, -(cfg.Days - 1))}
	for u := 1; u <= cfg.Users; u++ {
		user := fmt.Sprintf("u%04d", u)
		cookie := fmt.Sprintf("c-%s", user)
		agent := agents[g.rnd.IntN(len(agents))]
		for d := g.rnd.IntN(min(3, cfg.Days)); d < cfg.Days; d++ {
			if g.rnd.IntN(4) == 0 {
				continue
			}
			for n := g.poisson(cfg.Sessions); n > 0; n-- {
				g.session(user, cookie, g.at(d), agent)
			}
		}
	}
	for v := 1; v <= cfg.Visitors; v++ {
		cookie := fmt.Sprintf("v-%04d", v)
		agent := agents[g.rnd.IntN(len(agents))]
		first := g.rnd.IntN(cfg.Days)
		identifyDay := -1
		if v%2 == 1 && first < cfg.Days-1 {
			identifyDay = first + 1 + g.rnd.IntN(cfg.Days-first-1)
		}
		for d := first; d < cfg.Days && (identifyDay < 0 || d < identifyDay); d++ {
			if g.rnd.IntN(2) == 0 {
				g.browse(cookie, g.at(d), agent)
			}
		}
		if identifyDay >= 0 {
			user := fmt.Sprintf("s%04d", v)
			t := g.at(identifyDay)
			g.browse(cookie, t.Add(-time.Minute), agent)
			g.add(user, cookie, tracker.TypeIdentify, t, agent, nil)
			g.add(user, cookie, "signup", t.Add(time.Second), agent, map[string]string{"plan": "free"})
			for d := identifyDay + 1; d < cfg.Days; d++ {
				if g.rnd.IntN(3) > 0 {
					g.session(user, cookie, g.at(d), agent)
				}
			}
		}
	}
	for d := 0; d < cfg.Days; d += 2 {
		g.add("", "bot-1", "page_view", g.at(d), botAgent, map[string]string{tracker.AttrURL: "/"})
	}
	slices.SortFunc(g.out, func(a, b Event) int {
		return strings.Compare(a.EventAt+a.EventID, b.EventAt+b.EventID)
	})
	return g.out
}

func (g *gen) poisson(mean float64) int {
	n, p := 0, g.rnd.Float64()
	for limit := math.Exp(-mean); p > limit; n++ {
		p *= g.rnd.Float64()
	}
	return n
}

func (g *gen) at(d int) time.Time {
	return g.start.AddDate(0, 0, d).Add(time.Duration(g.rnd.Int64N(int64(23 * time.Hour)))).Truncate(time.Millisecond)
}

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

func (g *gen) add(user, anon, typ string, t time.Time, agent string, attrs map[string]string) {
	c := tracker.Classify(agent)
	ip := fmt.Sprintf("203.0.113.%d", g.rnd.IntN(250)+1)
	if g.rnd.IntN(8) == 0 {
		ip = ""
	}
	g.out = append(g.out, Event{
		UserID: user, AnonymousID: anon, EventAt: t.UTC().Format(tracker.TimeLayout), EventID: g.id(t), EventType: typ,
		UserAgent: agent, IPAddress: ip, DeviceType: c.DeviceType, Browser: c.Browser, OS: c.OS, IsBot: c.Bot, Attributes: attrs,
	})
}

func (g *gen) step(t time.Time) time.Time {
	return t.Add(time.Duration(1+g.rnd.IntN(90))*time.Second + time.Duration(g.rnd.IntN(1000))*time.Millisecond)
}

// session is a signed-in visit: events carry the user and the cookie.
func (g *gen) session(user, cookie string, t time.Time, agent string) {
	if g.rnd.IntN(2) == 0 {
		g.add(user, cookie, "login", t, agent, nil)
	}
	for n := g.rnd.IntN(6); n >= 0; n-- {
		t = g.step(t)
		switch k := g.rnd.IntN(10); {
		case k < 3:
			g.add(user, cookie, "impression", t, agent, map[string]string{"slot": fmt.Sprint("banner-", g.rnd.IntN(3))})
		case k < 5:
			g.add(user, cookie, "click", t, agent, map[string]string{"target": "cta"})
		case k < 8:
			g.add(user, cookie, "page_view", t, agent, map[string]string{tracker.AttrURL: pages[g.rnd.IntN(len(pages))], tracker.AttrPath: pages[g.rnd.IntN(len(pages))]})
		case k < 9:
			g.add(user, cookie, "search", t, agent, map[string]string{"q": "go lambda"})
		default:
			g.add(user, cookie, "purchase", t, agent, map[string]string{"sku": "pro", "amount": "49"})
		}
	}
	if g.rnd.IntN(3) == 0 {
		g.add(user, cookie, "logout", g.step(t), agent, nil)
	}
}

// browse is an anonymous visit from a referrer or a campaign.
func (g *gen) browse(cookie string, t time.Time, agent string) {
	attrs := map[string]string{tracker.AttrURL: pages[g.rnd.IntN(len(pages))]}
	if r := referrers[g.rnd.IntN(len(referrers))]; r != "" {
		attrs[tracker.AttrReferrer] = r
	}
	if c := campaigns[g.rnd.IntN(len(campaigns))]; c != "" {
		attrs[tracker.AttrUTMSource], attrs[tracker.AttrUTMCampaign] = "newsletter", c
	}
	for n := 1 + g.rnd.IntN(3); n > 0; n-- {
		g.add("", cookie, "page_view", t, agent, attrs)
		t = g.step(t)
	}
}

// Deliveries returns events as the pipeline delivers them, at least once:
// every event, and a duplicate of about rate of them (seeded), each
// duplicate after its original.
func Deliveries(events []Event, rate float64, seed uint64) []Event {
	rnd := rand.New(rand.NewPCG(seed, seed^0xd0b1e))
	out := make([]Event, 0, len(events)+int(float64(len(events))*rate)+1)
	var dups []Event
	for _, e := range events {
		out = append(out, e)
		if rnd.Float64() < rate {
			dups = append(dups, e)
		}
		if len(dups) > 0 && rnd.IntN(20) == 0 {
			out = append(out, dups[0])
			dups = dups[1:]
		}
	}
	return append(out, dups...)
}

// ObjectKey is the key of a Firehose-like object: events/dt=<day>/<name>.
func ObjectKey(day, name string) string {
	return "events/" + tracker.PartitionColumn + "=" + day + "/" + name
}

// WriteLake writes deliveries under root as Firehose lands them: for each
// day, in delivery order, objects of at most perObject lines, named
// eventlake-1-<day>-<n> with the format's extension. It returns the keys.
func WriteLake(ctx context.Context, root string, deliveries []Event, perObject int, format athena.Format) ([]string, error) {
	return writeLake(ctx, root, deliveries, func(int) int { return perObject }, format)
}

// WriteLakeDaily is WriteLake with objectsPerDay objects in each day (fewer
// in a day with fewer events), as a buffer interval that always fills
// lands them: 288 a day for Firehose's 5-minute default.
func WriteLakeDaily(ctx context.Context, root string, deliveries []Event, objectsPerDay int, format athena.Format) ([]string, error) {
	return writeLake(ctx, root, deliveries, func(n int) int { return (n + objectsPerDay - 1) / max(objectsPerDay, 1) }, format)
}

func writeLake(ctx context.Context, root string, deliveries []Event, perObjectOf func(dayEvents int) int, format athena.Format) ([]string, error) {
	byDay := map[string][]Event{}
	var days []string
	for _, e := range deliveries {
		if _, ok := byDay[e.Day()]; !ok {
			days = append(days, e.Day())
		}
		byDay[e.Day()] = append(byDay[e.Day()], e)
	}
	slices.Sort(days)
	var w *local.ParquetWriter
	if format == athena.FormatParquet {
		var err error
		if w, err = local.NewParquetWriter(); err != nil {
			return nil, err
		}
		w.Threads = 1
		defer w.Close()
	}
	var keys []string
	for _, day := range days {
		evs := byDay[day]
		perObject := perObjectOf(len(evs))
		for n := 0; len(evs) > 0; n++ {
			k := min(len(evs), max(perObject, 1))
			key := ObjectKey(day, fmt.Sprintf("eventlake-1-%s-%05d", day, n))
			key, err := writeObject(ctx, w, root, key, evs[:k], format)
			if err != nil {
				return nil, err
			}
			keys = append(keys, key)
			evs = evs[k:]
		}
	}
	return keys, nil
}

// WriteObject writes one object of events under root at key (plus the
// format's extension) and returns its key.
func WriteObject(ctx context.Context, root, key string, events []Event, format athena.Format) (string, error) {
	var w *local.ParquetWriter
	if format == athena.FormatParquet {
		var err error
		if w, err = local.NewParquetWriter(); err != nil {
			return "", err
		}
		w.Threads = 1
		defer w.Close()
	}
	return writeObject(ctx, w, root, key, events, format)
}

func writeObject(ctx context.Context, w *local.ParquetWriter, root, key string, events []Event, format athena.Format) (string, error) {
	final := filepath.Join(root, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return "", err
	}
	// The NDJSON is written outside the lake, then converted or renamed
	// into place: a concurrent query never sees half an object.
	dir, err := os.MkdirTemp("", "laketest-object-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "object.gz")
	if err := writeNDJSON(src, events); err != nil {
		return "", err
	}
	if format == athena.FormatParquet {
		return key + ".parquet", w.Convert(ctx, final+".parquet", src)
	}
	body, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	tmp := filepath.Join(filepath.Dir(final), "."+filepath.Base(final)+".tmp-laketest")
	if err := os.WriteFile(tmp, body, 0o644); err != nil {
		return "", err
	}
	return key + ".gz", os.Rename(tmp, final+".gz")
}

func writeNDJSON(path string, events []Event) (err error) {
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
	zw := gzip.NewWriter(bw)
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	for _, e := range events {
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return bw.Flush()
}
