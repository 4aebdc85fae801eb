// Package lakegen writes a known event history as a lake folder the way the
// pipeline lands it: gzip NDJSON objects under events/dt=YYYY-MM-DD/, dt
// being the UTC day of each event's event_at (Firehose dynamic
// partitioning), cut into objects as Firehose's buffering would, with some
// events delivered twice (the pipeline is at-least-once).
//
// The events are the demo's: local/fakedata's journeys (anonymous visitors
// from campaigns and referrers, signups with identify, users logging in,
// crawlers, a customer's script, shared accounts and the identity edge
// cases), enriched as the tracker stores them (device_type, browser, os and
// is_bot from tracker.Classify). Tests compute the expected answer of each
// query from Dataset.Events and compare it with what the SQL returns over
// the written files; the benchmark writes a million events with it. It is
// a test helper.
package lakegen

import (
	"bufio"
	"cmp"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/eventlake/eventlake/local/fakedata"
	"github.com/eventlake/eventlake/tracker"
)

// Event is one event as the stream Lambda writes it (the JSON keys of
// tracker.EventFields() in column order, optional fields omitted when
// empty, is_bot always present as the tracker always stores it) plus its
// partition.
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
	// Dt is the partition: the UTC day of EventAt. Not part of the line.
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

// key is the event's identity, as the events_dedup view has it.
func (e Event) key() string {
	return e.UserID + "|" + e.AnonymousID + "|" + e.EventAt + "|" + e.EventID
}

// Day is the UTC day of EventAt.
func (e Event) Day() string { return e.EventAt[:10] }

// FromTracker returns the lake line of a normalized tracker event with its ID
// set, enriched as the tracker stores it.
func FromTracker(e tracker.Event) Event {
	c := tracker.Classify(e.UserAgent)
	at := e.At.UTC().Format(tracker.TimeLayout)
	return Event{
		UserID: e.UserID, AnonymousID: e.AnonymousID, EventAt: at, EventID: e.ID, EventType: e.Type,
		UserAgent: e.UserAgent, IPAddress: e.IP, DeviceType: c.DeviceType, Browser: c.Browser, OS: c.OS,
		IsBot: c.Bot, Attributes: e.Attributes, Dt: at[:10],
	}
}

// Config shapes the history. The zero value of every field means the
// default.
type Config struct {
	// End is the last day (its UTC date); default today. Events may fall
	// anywhere in it, later than now too.
	End time.Time
	// Days is the number of days ending with End; default 90.
	Days int
	// Users is fakedata's number of accounts; default 8.
	Users int
	// Events is the number of events; default 4 per user and day.
	Events int
	// DuplicateRate is the share of events delivered twice; default 0.03.
	DuplicateRate float64
	// Seed selects the history; default 1.
	Seed uint64
}

// Dataset is a generated history.
type Dataset struct {
	// Start and End are the first and last day, YYYY-MM-DD.
	Start, End string
	// Events holds each event once, oldest first.
	Events []Event
	// Deliveries holds what lands in the lake: Events plus the duplicate
	// copies.
	Deliveries []Event
}

// Generate builds the history with fakedata. The same Config (and End day)
// gives the same Dataset. A negative count means its default too.
func Generate(cfg Config) *Dataset {
	if cfg.End.IsZero() {
		cfg.End = time.Now()
	}
	cfg.Days = positiveOr(cfg.Days, 90)
	cfg.Users = positiveOr(cfg.Users, 8)
	cfg.Events = positiveOr(cfg.Events, 4*cfg.Users*cfg.Days)
	if cfg.DuplicateRate <= 0 {
		cfg.DuplicateRate = 0.03
	}
	cfg.Seed = cmp.Or(cfg.Seed, 1)
	endDay := cfg.End.UTC().Truncate(24 * time.Hour)
	seq, err := fakedata.Events(fakedata.Config{
		Users: cfg.Users, Events: cfg.Events, Days: cfg.Days, Seed: cfg.Seed, IDs: true,
		// The span [End - Days, End] covers the Days days ending with End.
		End: endDay.Add(24*time.Hour - time.Millisecond),
	})
	if err != nil {
		// Unreachable: fakedata refuses only negative counts.
		panic("lakegen: " + err.Error())
	}
	ds := &Dataset{End: endDay.Format(tracker.DateLayout)}
	for e := range seq {
		ds.Events = append(ds.Events, FromTracker(e))
	}
	if len(ds.Events) > 0 {
		ds.Start = ds.Events[0].Dt
	}
	rnd := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5eed))
	ds.Deliveries = make([]Event, 0, len(ds.Events)+len(ds.Events)/20)
	for _, e := range ds.Events {
		ds.Deliveries = append(ds.Deliveries, e)
		if rnd.Float64() < cfg.DuplicateRate {
			ds.Deliveries = append(ds.Deliveries, e)
		}
	}
	return ds
}

func positiveOr(n, def int) int {
	if n > 0 {
		return n
	}
	return def
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
			return nil, fmt.Errorf("partition day %q: %w", day, err)
		}
		// window is the flush interval an event arrives in.
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
			key := e.key()
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
			target := seen[e.key()] + 1
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

// events returns the day's deliveries in arrival order, which is event
// time order.
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
