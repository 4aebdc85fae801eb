package fakedata_test

import (
	"cmp"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/local/fakedata"
	"github.com/eventlake/eventlake/tracker"
)

var end = time.Date(2026, 11, 22, 10, 4, 5, 123_000_000, time.UTC)

func generate(t *testing.T, cfg fakedata.Config) []tracker.Event {
	t.Helper()
	events, err := fakedata.Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return events
}

func TestCountsSpanOrderAndValidity(t *testing.T) {
	// Validate does no I/O, so a client without a server is enough here.
	tr, err := tracker.New(dynamodb.New(dynamodb.Options{Region: "us-east-1"}), tracker.Config{EventsTable: "events", Now: func() time.Time { return end }})
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []fakedata.Config{
		{End: end},
		{End: end, Users: 1, Events: 1, Days: 1},
		{End: end, Users: 3, Events: 40, Days: 2, Seed: 9},
		{End: end, Users: 200, Events: 5000, Days: 30, Seed: 3, IDs: true},
		{End: end, Users: 1000, Events: 20, Days: 7},
	} {
		name := strconv.Itoa(cfg.Users) + "users/" + strconv.Itoa(cfg.Events) + "events/" + strconv.Itoa(cfg.Days) + "days"
		t.Run(name, func(t *testing.T) {
			events := generate(t, cfg)
			want := cfg.Events
			if want == 0 {
				want = fakedata.DefaultEvents
			}
			if len(events) != want {
				t.Fatalf("%d events, want %d", len(events), want)
			}
			days := cfg.Days
			if days == 0 {
				days = fakedata.DefaultDays
			}
			start := end.Add(-time.Duration(days) * 24 * time.Hour)
			users := map[string]bool{}
			for i, e := range events {
				if e.At.Before(start) || e.At.After(end) {
					t.Fatalf("event %d at %v is outside [%v, %v]", i, e.At, start, end)
				}
				if i > 0 && e.At.Before(events[i-1].At) {
					t.Fatalf("event %d at %v comes after a later one at %v", i, e.At, events[i-1].At)
				}
				v, err := tr.Validate(e)
				if err != nil {
					t.Fatalf("event %d %+v is invalid: %v", i, e, err)
				}
				if v.IP != e.IP || !v.At.Equal(e.At) {
					t.Errorf("event %d is not in normal form: IP %q -> %q, at %v -> %v", i, e.IP, v.IP, e.At, v.At)
				}
				users[e.UserID] = true
			}
			if maxUsers := cmp.Or(cfg.Users, fakedata.DefaultUsers); len(users) == 0 || len(users) > maxUsers {
				t.Errorf("%d distinct users, want 1 to %d", len(users), maxUsers)
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	cfg := fakedata.Config{End: end, Users: 30, Events: 800, Seed: 42, IDs: true}
	a, b := generate(t, cfg), generate(t, cfg)
	if !reflect.DeepEqual(a, b) {
		t.Error("the same Config gave different events")
	}
	cfg.Seed = 43
	if c := generate(t, cfg); reflect.DeepEqual(a, c) {
		t.Error("seeds 42 and 43 gave the same events")
	}
	seq, err := fakedata.Events(fakedata.Config{End: end, Users: 30, Events: 800, Seed: 42, IDs: true})
	if err != nil {
		t.Fatal(err)
	}
	var streamed []tracker.Event
	for e := range seq {
		streamed = append(streamed, e)
	}
	if !reflect.DeepEqual(a, streamed) {
		t.Error("Events streams other events than Generate returns")
	}
	n := 0
	for range seq {
		if n++; n == 10 {
			break
		}
	}
	if n != 10 {
		t.Errorf("breaking out of the iterator after 10 events saw %d", n)
	}
}

func TestRealism(t *testing.T) {
	events := generate(t, fakedata.Config{End: end, Users: 100, Events: 5000, Seed: 1})
	types := map[string]int{}
	var numeric, named, v4, v6, campaigns, referred, bots int
	uas := map[string]bool{}
	for _, ua := range fakedata.UserAgents() {
		uas[ua] = true
	}
	for _, ua := range fakedata.BotUserAgents {
		uas[ua] = true
	}
	for _, e := range events {
		types[e.Type]++
		if _, err := strconv.Atoi(e.UserID); err == nil {
			numeric++
		} else {
			named++
		}
		addr, err := netip.ParseAddr(e.IP)
		if err != nil {
			t.Fatalf("bad IP %q", e.IP)
		}
		if !addr.IsGlobalUnicast() || addr.IsPrivate() || netip.MustParsePrefix("2001:db8::/32").Contains(addr) {
			t.Errorf("IP %s is not public-looking", addr)
		}
		if addr.Is4() {
			v4++
		} else {
			v6++
		}
		if !uas[e.UserAgent] {
			t.Errorf("unknown user agent %q", e.UserAgent)
		}
		if slices.Contains(fakedata.BotUserAgents, e.UserAgent) {
			bots++
		}
		if e.Type == "page_view" {
			if !strings.HasPrefix(e.Attributes["url"], "https://") {
				t.Errorf("page view without url: %+v", e)
			}
			if e.Attributes["utm_campaign"] != "" {
				campaigns++
			}
			if e.Attributes["referrer"] != "" {
				referred++
			}
		}
	}
	t.Logf("types %v; users numeric %d named %d; IPv4 %d IPv6 %d; campaign views %d, referred %d, bot events %d",
		types, numeric, named, v4, v6, campaigns, referred, bots)
	for _, typ := range []string{"login", "logout", "signup", "page_view", "click", "impression"} {
		if types[typ] == 0 {
			t.Errorf("no %s events", typ)
		}
	}
	if types["page_view"] < types["login"] {
		t.Errorf("fewer page views (%d) than logins (%d)", types["page_view"], types["login"])
	}
	for name, n := range map[string]int{"numeric user IDs": numeric, "string user IDs": named, "IPv4": v4, "IPv6": v6,
		"campaign page views": campaigns, "referred page views": referred, "crawler events": bots} {
		if n == 0 {
			t.Errorf("no %s", name)
		}
	}
	if len(fakedata.UserAgents())+len(fakedata.BotUserAgents) < 25 {
		t.Errorf("only %d user agents", len(fakedata.UserAgents())+len(fakedata.BotUserAgents))
	}
}

func TestIDs(t *testing.T) {
	events := generate(t, fakedata.Config{End: end, Events: 2000, IDs: true})
	seen := map[string]bool{}
	for _, e := range events {
		if seen[e.ID] {
			t.Fatalf("ID %s twice", e.ID)
		}
		seen[e.ID] = true
		ms, err := strconv.ParseUint(strings.ReplaceAll(e.ID[:13], "-", ""), 16, 64)
		if err != nil || len(e.ID) != 36 || e.ID[14] != '7' || int64(ms) != e.At.UnixMilli() {
			t.Fatalf("ID %s of an event at %v is not its UUIDv7", e.ID, e.At)
		}
	}
	for _, e := range generate(t, fakedata.Config{End: end, Events: 10}) {
		if e.ID != "" {
			t.Fatalf("ID %q without Config.IDs", e.ID)
		}
	}
}

func TestRejectsNegativeCounts(t *testing.T) {
	for _, cfg := range []fakedata.Config{{Users: -1}, {Events: -1}, {Days: -1}} {
		if _, err := fakedata.Generate(cfg); err == nil {
			t.Errorf("Generate(%+v) succeeded", cfg)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fakedata.Generate(fakedata.Config{End: end, Users: 100, Events: 10_000, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
