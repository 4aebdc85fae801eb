package fakedata_test

import (
	"cmp"
	"net/netip"
	"reflect"
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
				if e.UserID == "" && e.AnonymousID == "" {
					t.Fatalf("event %d has neither a user ID nor an anonymous ID", i)
				}
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
				if e.UserID != "" {
					users[e.UserID] = true
				}
			}
			if maxUsers := cmp.Or(cfg.Users, fakedata.DefaultUsers); len(users) > maxUsers {
				t.Errorf("%d distinct users, want at most %d", len(users), maxUsers)
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
	events := generate(t, fakedata.Config{End: end, Users: 100, Events: 20000, Days: 60, Seed: 1})
	types := map[string]int{}
	var numeric, named, v4, v6, campaigns, referred, crawlers, scripts, anonymous int
	kinds := map[string]int{}
	uas := map[string]bool{}
	for _, ua := range fakedata.UserAgents() {
		uas[ua] = true
	}
	for _, ua := range fakedata.BotUserAgents() {
		uas[ua] = true
		if c := tracker.Classify(ua); !c.Bot {
			t.Errorf("bot user agent %q is not classified as a bot", ua)
		}
	}
	for _, e := range events {
		types[e.Type]++
		switch _, err := strconv.Atoi(e.UserID); {
		case e.UserID == "":
			anonymous++
		case err == nil:
			numeric++
		default:
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
		c := tracker.Classify(e.UserAgent)
		kinds[c.DeviceType]++
		switch {
		case c.Bot && e.UserID == "":
			crawlers++
		case c.Bot:
			scripts++
			if e.AnonymousID != "" {
				t.Errorf("the script sends a cookie: %+v", e)
			}
		}
		if e.Type == "page_view" {
			if !strings.HasPrefix(e.Attributes[tracker.AttrURL], "https://") || !strings.HasPrefix(e.Attributes[tracker.AttrPath], "/") {
				t.Errorf("page view without url or path: %+v", e)
			}
			if c := e.Attributes[tracker.AttrUTMCampaign]; c != "" {
				campaigns++
				if !strings.Contains(e.Attributes[tracker.AttrURL], "utm_campaign="+c) {
					t.Errorf("utm_campaign %q is not in the landing page's url %q", c, e.Attributes[tracker.AttrURL])
				}
			}
			if e.Attributes[tracker.AttrReferrer] != "" {
				referred++
			}
		}
		if _, ok := e.Attributes["campaign"]; ok {
			t.Errorf("non-standard attribute campaign (utm_campaign is the standard name): %+v", e)
		}
	}
	t.Logf("types %v; users numeric %d named %d, anonymous events %d; IPv4 %d IPv6 %d; devices %v; campaign views %d, referred %d; crawler events %d, script events %d",
		types, numeric, named, anonymous, v4, v6, kinds, campaigns, referred, crawlers, scripts)
	for _, typ := range []string{"login", "logout", "login_failed", "signup", "identify", "alias", "page_view", "screen", "click",
		"impression", "search", "trial_started", "subscribed", "purchase", "unsubscribed"} {
		if types[typ] == 0 {
			t.Errorf("no %s events", typ)
		}
	}
	if types["page_view"] < types["login"] {
		t.Errorf("fewer page views (%d) than logins (%d)", types["page_view"], types["login"])
	}
	for name, n := range map[string]int{"numeric user IDs": numeric, "string user IDs": named, "anonymous events": anonymous,
		"IPv4": v4, "IPv6": v6, "campaign page views": campaigns, "referred page views": referred, "crawler events": crawlers,
		"script events": scripts, "desktops": kinds[tracker.DeviceDesktop], "phones": kinds[tracker.DeviceMobile],
		"tablets": kinds[tracker.DeviceTablet]} {
		if n == 0 {
			t.Errorf("no %s", name)
		}
	}
	if len(fakedata.UserAgents())+len(fakedata.BotUserAgents()) < 25 {
		t.Errorf("only %d user agents", len(fakedata.UserAgents())+len(fakedata.BotUserAgents()))
	}
}

// TestJourneys checks the demo's data (make demo's numbers) for the
// journeys the queries are about: new users browse anonymously, identify,
// then sign up with both IDs and keep the anonymous ID; the identity edge
// cases are there; accounts older than the span never sign up.
func TestJourneys(t *testing.T) {
	events := generate(t, fakedata.Config{End: end, Users: 50, Events: 10000, Days: 90, Seed: 1})
	link := map[string]string{}            // anonymous ID -> first user
	users := map[string]map[string]bool{}  // anonymous ID -> users
	anons := map[string]map[string]bool{}  // user -> anonymous IDs
	identifiedAt := map[string]time.Time{} // user -> first identify
	firstSeen := map[string]time.Time{}    // user -> first event with the user ID
	anonBefore := map[string]bool{}        // anonymous IDs with anonymous events before their link
	var signups, afterIdentify, aliases, twice, cancels int
	for _, e := range events {
		if e.Type == "unsubscribed" {
			cancels++
		}
		if _, ok := firstSeen[e.UserID]; e.UserID != "" && !ok {
			firstSeen[e.UserID] = e.At
		}
		if e.AnonymousID == "" {
			continue
		}
		if e.UserID == "" {
			if _, linked := link[e.AnonymousID]; !linked {
				anonBefore[e.AnonymousID] = true
			}
			continue
		}
		if _, ok := link[e.AnonymousID]; !ok {
			link[e.AnonymousID] = e.UserID
		}
		if users[e.AnonymousID] == nil {
			users[e.AnonymousID] = map[string]bool{}
		}
		users[e.AnonymousID][e.UserID] = true
		if anons[e.UserID] == nil {
			anons[e.UserID] = map[string]bool{}
		}
		anons[e.UserID][e.AnonymousID] = true
		switch e.Type {
		case tracker.TypeIdentify:
			if _, ok := identifiedAt[e.UserID]; !ok {
				identifiedAt[e.UserID] = e.At
			}
			if !anonBefore[e.AnonymousID] {
				t.Errorf("identify of %s: its anonymous ID %s browsed nothing before", e.UserID, e.AnonymousID)
			}
		case tracker.TypeAlias:
			aliases++
		case "signup":
			signups++
			at, ok := identifiedAt[e.UserID]
			if !ok || at.After(e.At) {
				t.Errorf("signup of %s without identify before it", e.UserID)
			}
			if first := firstSeen[e.UserID]; first.Before(at) {
				t.Errorf("user %s has events with its ID at %v, before identifying at %v", e.UserID, first, at)
			}
		default:
			if at, ok := identifiedAt[e.UserID]; ok && e.At.After(at) {
				afterIdentify++
			}
		}
	}
	for _, us := range users {
		if len(us) > 1 {
			twice++
		}
	}
	several := 0
	for u, as := range anons {
		n := 0
		for a := range as {
			if anonBefore[a] && link[a] == u {
				n++
			}
		}
		if len(as) >= 2 && n >= 1 {
			several++
		}
	}
	t.Logf("%d signups, %d events after identify, %d anonymous IDs identified as two users, %d users with several anonymous IDs (one browsing first), %d aliases",
		signups, afterIdentify, twice, several, aliases)
	for name, n := range map[string]int{"signups": signups, "events after identify": afterIdentify, "anonymous IDs identified twice": twice,
		"users with two anonymous IDs": several, "aliases": aliases, "cancellations of users who stop coming back": cancels} {
		if n == 0 {
			t.Errorf("no %s", name)
		}
	}
	if signups < 8 {
		t.Errorf("only %d signups in the demo's data: attribution and conversions need more", signups)
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
