package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	analytics "github.com/segmentio/analytics-go/v3"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/tracker"
)

const writeKey = "wk_e2e_1"

// testTimeout bounds one test on a loaded machine.
const testTimeout = 5 * time.Minute

// stack is the local pipeline with the collector served over HTTP on
// 127.0.0.1: page views and clicks take the lake route (straight to the
// local Firehose endpoint), everything else the hot route (DynamoDB Local,
// its stream, the relay).
type stack struct {
	p   *pipeline.Pipeline
	srv *httptest.Server
}

func startStack(t *testing.T, cfg collector.Config) *stack {
	t.Helper()
	return startStackRoutes(t, cfg, map[string]tracker.Route{"page_view": tracker.RouteLake, "click": tracker.RouteLake})
}

// startStackRoutes is startStack with other routes.
func startStackRoutes(t testing.TB, cfg collector.Config, routes map[string]tracker.Route) *stack {
	t.Helper()
	env := dynamolocal.NewEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	p, err := pipeline.Start(ctx, pipeline.Config{
		DynamoDB: env.Server, EventsTable: env.EventsTable, SummaryTable: env.SummaryTable,
		LakeDir: t.TempDir(), Format: pipeline.FormatJSON,
		Tracker: tracker.Config{Routes: routes},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := p.Close(ctx); err != nil {
			t.Errorf("close the pipeline: %v", err)
		}
	})
	keys, err := collector.NewKeySet(writeKey)
	if err != nil {
		t.Fatal(err)
	}
	cfg.WriteKeys = keys
	h, err := collector.New(p, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &stack{p: p, srv: srv}
}

// drain waits until everything sent is in the lake.
func (s *stack) drain(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if _, err := s.p.Drain(ctx, nil); err != nil {
		t.Fatalf("drain: %v", err)
	}
}

// rows runs SQL on the lake (DuckDB, the Athena views) and returns the
// rows as text ("NULL" for null).
func (s *stack) rows(t *testing.T, sql string) [][]string {
	t.Helper()
	db, err := s.p.Lake(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	res, err := db.Query(context.Background(), sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	var out [][]string
	for _, r := range res.Rows {
		row := make([]string, len(r))
		for i, v := range r {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	return out
}

// landed is what the lake must hold of one event.
type landed struct {
	typ    string // event_type
	person string // coalesce(user_id, identities.user_id): identity stitched
	attrs  map[string]string
}

// checkLanded asserts that the events whose IDs start with prefix are in the
// lake exactly once each (no duplicate line at all), with the type, the
// person after identity stitching and the attributes wanted.
func (s *stack) checkLanded(t *testing.T, prefix string, want map[string]landed) {
	t.Helper()
	lines := s.rows(t, "SELECT event_id, count(*) FROM "+athena.TableName+" WHERE event_id LIKE '"+prefix+"%' GROUP BY event_id ORDER BY event_id")
	if len(lines) != len(want) {
		t.Errorf("%d events with IDs %s* in the lake, want %d: %v", len(lines), prefix, len(want), lines)
	}
	for _, r := range lines {
		if r[1] != "1" {
			t.Errorf("event %s is in the lake %s times", r[0], r[1])
		}
	}
	got := s.rows(t, "SELECT e.event_id, e.event_type, coalesce(e.user_id, i.user_id) FROM "+athena.ViewName+
		" e LEFT JOIN "+athena.IdentitiesView+" i ON e.anonymous_id = i.anonymous_id WHERE e.event_id LIKE '"+prefix+"%'")
	for _, r := range got {
		w, ok := want[r[0]]
		if !ok {
			t.Errorf("unexpected event %v", r)
			continue
		}
		if r[1] != w.typ || r[2] != w.person {
			t.Errorf("event %s: type %s of %s, want %s of %s", r[0], r[1], r[2], w.typ, w.person)
		}
		for k, v := range w.attrs {
			a := s.rows(t, "SELECT attributes['"+k+"'] FROM "+athena.ViewName+" WHERE event_id = '"+r[0]+"'")
			if len(a) != 1 || a[0][0] != v {
				t.Errorf("event %s: attribute %s is %v, want %q", r[0], k, a, v)
			}
		}
	}
}

// runID makes the IDs of one run unique.
func runID() string { return fmt.Sprintf("%x", time.Now().UnixNano()&0xffffffffff) }

// callback records analytics-go's deliveries.
type callback struct {
	mu       sync.Mutex
	ok, fail []string
	errs     []error
}

func (c *callback) Success(m analytics.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ok = append(c.ok, messageID(m))
}

func (c *callback) Failure(m analytics.Message, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = append(c.fail, messageID(m))
	c.errs = append(c.errs, err)
}

func messageID(m analytics.Message) string {
	switch m := m.(type) {
	case analytics.Track:
		return m.MessageId
	case analytics.Page:
		return m.MessageId
	case analytics.Identify:
		return m.MessageId
	case analytics.Alias:
		return m.MessageId
	case analytics.Screen:
		return m.MessageId
	}
	return fmt.Sprintf("%T", m)
}

const iPhoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"

// TestAnalyticsGo sends track, page, identify and alias calls with
// segmentio/analytics-go v3.3.0, as a Go service would: every one lands in
// the lake exactly once, with the anonymous history stitched to the user.
func TestAnalyticsGo(t *testing.T) {
	s := startStack(t, collector.Config{})
	run := runID()
	prefix := "go-" + run + "-"
	anon, user, old := "go-anon-"+run, "go-user-"+run, "go-old-"+run
	cb := &callback{}
	client, err := analytics.NewWithConfig(writeKey, analytics.Config{
		Endpoint: s.srv.URL, Interval: 50 * time.Millisecond, BatchSize: 4, Callback: cb,
		Logger: analytics.StdLogger(log.New(io.Discard, "", 0)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := &analytics.Context{IP: net.ParseIP("198.51.100.7"), UserAgent: iPhoneUA,
		Page: analytics.PageInfo{URL: "https://shop.example/?utm_source=go", Path: "/", Title: "Shop"}, Campaign: analytics.CampaignInfo{Source: "go", Medium: "cpc"}}
	msgs := []analytics.Message{
		analytics.Page{MessageId: prefix + "1", AnonymousId: anon, Name: "Home", Context: ctx},
		analytics.Track{MessageId: prefix + "2", AnonymousId: anon, Event: "Product Clicked", Properties: analytics.NewProperties().Set("sku", "A-1").SetPrice(19.5), Context: ctx},
		analytics.Identify{MessageId: prefix + "3", UserId: user, AnonymousId: anon, Traits: analytics.NewTraits().Set("plan", "pro"), Context: ctx},
		analytics.Track{MessageId: prefix + "4", UserId: user, Event: "Order Completed", Properties: analytics.NewProperties().SetRevenue(19.5).SetCurrency("EUR"), Context: ctx},
		analytics.Alias{MessageId: prefix + "5", PreviousId: old, UserId: user, Context: ctx},
		analytics.Track{MessageId: prefix + "6", AnonymousId: old, Event: "Signed In", Context: ctx},
	}
	for _, m := range msgs {
		if err := client.Enqueue(m); err != nil {
			t.Fatalf("enqueue %s: %v", messageID(m), err)
		}
	}
	if err := client.Close(); err != nil {
		t.Fatal(err)
	}
	if len(cb.fail) != 0 || len(cb.ok) != len(msgs) {
		t.Fatalf("analytics-go delivered %v, failed %v: %v", cb.ok, cb.fail, errors.Join(cb.errs...))
	}
	s.drain(t)
	s.checkLanded(t, prefix, map[string]landed{
		prefix + "1": {"page_view", user, map[string]string{"url": "https://shop.example/?utm_source=go", "utm_source": "go", "utm_medium": "cpc", "name": "Home", "title": "Shop"}},
		prefix + "2": {"click", user, map[string]string{"sku": "A-1", "price": "19.5"}},
		prefix + "3": {"identify", user, map[string]string{"plan": "pro"}},
		prefix + "4": {"purchase", user, map[string]string{"revenue": "19.5", "currency": "EUR"}},
		prefix + "5": {"alias", user, nil},
		prefix + "6": {"login", user, nil},
	})
	c := tracker.Classify(iPhoneUA)
	r := s.rows(t, "SELECT DISTINCT ip_address, user_agent, device_type, browser, os, is_bot FROM "+athena.ViewName+" WHERE event_id LIKE '"+prefix+"%'")
	if want := []string{"198.51.100.7", iPhoneUA, c.DeviceType, c.Browser, c.OS, "false"}; len(r) != 1 || !slices.Equal(r[0], want) {
		t.Errorf("client fields %v, want %v", r, want)
	}
	if pr := s.p.Progress(); pr.Direct != 2 || pr.Written != 4 {
		t.Errorf("routes: %d events straight to Firehose, %d in DynamoDB; want 2 and 4", pr.Direct, pr.Written)
	}
}

// jsDir is the folder of the pinned JavaScript clients.
func jsDir(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("testdata", "js"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@segment", "analytics-next", "dist", "umd", "index.js")); err != nil {
		t.Fatalf("Segment's JavaScript libraries are not installed in %s: run `make deps` (npm ci there): %v", dir, err)
	}
	return dir
}

// TestAnalyticsNode sends page, track, identify, screen and alias calls with
// @segment/analytics-node from a node script.
func TestAnalyticsNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: install Node.js (make test needs it for npm too)")
	}
	dir := jsDir(t)
	s := startStack(t, collector.Config{})
	run := runID()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "send-node.mjs", s.srv.URL, writeKey, run)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("node send-node.mjs: %v\n%s", err, out)
	}
	s.drain(t)
	prefix := "node-" + run + "-"
	user := "node-user-" + run
	s.checkLanded(t, prefix, map[string]landed{
		prefix + "1": {"page_view", user, map[string]string{"name": "Pricing", "path": "/pricing", "url": "https://shop.example/pricing?utm_source=node"}},
		prefix + "2": {"signup", user, map[string]string{"plan": "pro", "seats": "3", "trial": "true"}},
		prefix + "3": {"identify", user, map[string]string{"plan": "pro", "company.size": "12"}},
		prefix + "4": {"screen", user, map[string]string{"name": "Settings"}},
		prefix + "5": {"alias", user, nil},
		prefix + "6": {"login", user, nil},
	})
}

// TestSeedsWithCurl sends seed 001's and seed 003's requests with curl, as
// their callers did (the write key in the query string).
func TestSeedsWithCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is not installed: apt-get install -y curl")
	}
	s := startStack(t, collector.Config{})
	ts := time.Now().Add(-time.Hour).Unix()
	run := runID()
	status := func(args ...string) string {
		t.Helper()
		args = append([]string{"-sS", "-o", "/dev/null", "-w", "%{http_code}"}, args...)
		out, err := exec.Command(curl, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	user, fp := "seed-user-"+run, "seed-fp-"+run
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"001 click", []string{"-X", "POST", fmt.Sprintf("%s/analytics?timestamp=%d&user=%s&event=click&write_key=%s", s.srv.URL, ts, user, writeKey)}, "204"},
		{"001 impression", []string{"-X", "POST", fmt.Sprintf("%s/analytics?timestamp=%d&user=%s&event=impression&write_key=%s", s.srv.URL, ts+1, user, writeKey)}, "204"},
		{"001 bad event", []string{"-X", "POST", fmt.Sprintf("%s/analytics?timestamp=%d&user=%s&event=hover&write_key=%s", s.srv.URL, ts, user, writeKey)}, "400"},
		{"001 no key", []string{"-X", "POST", fmt.Sprintf("%s/analytics?timestamp=%d&user=%s&event=click", s.srv.URL, ts, user)}, "401"},
		{"003 pageview", []string{"-H", "Content-Type: application/json", "--data-binary",
			`{"fingerprint":"` + fp + `","user_id":null,"url":"https://www.blinkist.com/en?utm_source=facebook&utm_campaign=c3","referrer_url":"https://facebook.com/","created_at":"` +
				time.Now().UTC().Add(-2*time.Minute).Format("2006-01-02 15:04:05.000000 MST") + `","event":"pageview"}`, s.srv.URL + "/event?write_key=" + writeKey}, "200"},
		{"003 signup", []string{"-H", "Content-Type: application/json", "--data-binary",
			`{"fingerprint":"` + fp + `","user_id":"` + user + `","url":"https://www.blinkist.com/en/signup","referrer_url":null,"created_at":"` +
				time.Now().UTC().Add(-time.Minute).Format("2006-01-02 15:04:05.000000 MST") + `","event":"signup"}`, s.srv.URL + "/event?write_key=" + writeKey}, "200"},
		{"003 no event", []string{"--data-binary", `{"fingerprint":"x"}`, s.srv.URL + "/event?write_key=" + writeKey}, "400"},
	} {
		if got := status(c.args...); got != c.want {
			t.Errorf("%s: HTTP %s, want %s", c.name, got, c.want)
		}
	}
	s.drain(t)
	got := s.rows(t, "SELECT e.event_type, coalesce(e.user_id, i.user_id), e.attributes['utm_source'] FROM "+athena.ViewName+
		" e LEFT JOIN "+athena.IdentitiesView+" i ON e.anonymous_id = i.anonymous_id WHERE e.user_id = '"+user+"' OR e.anonymous_id = '"+fp+"' ORDER BY e.event_type")
	want := [][]string{{"click", user, "NULL"}, {"impression", user, "NULL"}, {"page_view", user, "facebook"}, {"signup", user, "NULL"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("lake holds %v, want %v", got, want)
	}
}
