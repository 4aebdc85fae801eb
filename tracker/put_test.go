package tracker_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/tracker"
)

// queryUser returns every item of one user, oldest first.
func queryUser(tb testing.TB, env *dynamolocal.Env, user string) []map[string]types.AttributeValue {
	tb.Helper()
	ex, err := expression.NewBuilder().
		WithKeyCondition(expression.Key(tracker.AttrActor).Equal(expression.Value(tracker.ActorKey(user, "")))).Build()
	if err != nil {
		tb.Fatal(err)
	}
	p := dynamodb.NewQueryPaginator(env.Client, &dynamodb.QueryInput{
		TableName:                 aws.String(env.EventsTable),
		KeyConditionExpression:    ex.KeyCondition(),
		ExpressionAttributeNames:  ex.Names(),
		ExpressionAttributeValues: ex.Values(),
		ConsistentRead:            aws.Bool(true),
	})
	var items []map[string]types.AttributeValue
	ctx := testCtx(tb, 5*time.Minute)
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			tb.Fatalf("query user %s: %v", user, err)
		}
		items = append(items, out.Items...)
	}
	return items
}

// putVia puts e through the synchronous Put or through an AsyncWriter that
// it closes, and fails the test on any error.
func putVia(t *testing.T, tr *tracker.Tracker, async bool, events ...tracker.Event) {
	t.Helper()
	ctx := testCtx(t, 5*time.Minute)
	if !async {
		for _, e := range events {
			if err := tr.Put(ctx, e); err != nil {
				t.Fatalf("Put: %v", err)
			}
		}
		return
	}
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{OnError: func(e tracker.Event, err error) {
		t.Errorf("event %s failed: %v", e.ID, err)
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if err := w.Put(ctx, e); err != nil {
			t.Fatalf("AsyncWriter.Put: %v", err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// wantItem is the expected stored form of an event: attribute name to
// S value, N value (prefixed "N:") or, for attributes, the map.
type wantItem struct {
	strings map[string]string
	numbers map[string]string
	bools   map[string]bool
	attrs   map[string]string
}

func checkItem(t *testing.T, got map[string]types.AttributeValue, want wantItem) {
	t.Helper()
	names := map[string]bool{}
	for n, v := range want.strings {
		names[n] = true
		s, ok := got[n].(*types.AttributeValueMemberS)
		if !ok {
			t.Errorf("%s = %#v, want S %q", n, got[n], v)
		} else if s.Value != v {
			t.Errorf("%s = %q, want %q", n, s.Value, v)
		}
	}
	for n, v := range want.numbers {
		names[n] = true
		s, ok := got[n].(*types.AttributeValueMemberN)
		if !ok {
			t.Errorf("%s = %#v, want N %s", n, got[n], v)
		} else if s.Value != v {
			t.Errorf("%s = %s, want %s", n, s.Value, v)
		}
	}
	for n, v := range want.bools {
		names[n] = true
		b, ok := got[n].(*types.AttributeValueMemberBOOL)
		if !ok {
			t.Errorf("%s = %#v, want BOOL %v", n, got[n], v)
		} else if b.Value != v {
			t.Errorf("%s = %v, want %v", n, b.Value, v)
		}
	}
	if want.attrs != nil {
		names[tracker.FieldAttributes] = true
		m, ok := got[tracker.FieldAttributes].(*types.AttributeValueMemberM)
		if !ok {
			t.Errorf("attributes = %#v, want M", got[tracker.FieldAttributes])
		} else {
			if len(m.Value) != len(want.attrs) {
				t.Errorf("attributes has %d entries, want %d", len(m.Value), len(want.attrs))
			}
			for k, v := range want.attrs {
				s, ok := m.Value[k].(*types.AttributeValueMemberS)
				if !ok || s.Value != v {
					t.Errorf("attributes.%s = %#v, want S %q", k, m.Value[k], v)
				}
			}
		}
	}
	for n := range got {
		if !names[n] {
			t.Errorf("unexpected attribute %s = %#v", n, got[n])
		}
	}
}

// TestRoundTrip writes events through Put and the AsyncWriter and reads each
// item back with GetItem/Query, comparing every attribute.
func TestRoundTrip(t *testing.T) {
	env := newWriteEnv(t)
	at := time.Date(2026, 11, 22, 10, 4, 5, 123_987_654, time.FixedZone("CET", 3600))
	atUTC := "2026-11-22T09:04:05.123Z"
	now := func() time.Time { return at.Add(time.Minute) }
	const retention = 90 * 24 * time.Hour
	longUA := strings.Repeat("é", tracker.MaxUserAgentBytes) // 2 bytes per rune: cut to half

	for _, async := range []bool{false, true} {
		name := map[bool]string{false: "Put", true: "AsyncWriter"}[async]
		t.Run(name+"/every field", func(t *testing.T) {
			tr := newWriteTracker(t, env, nil, tracker.Config{Retention: retention, Now: now})
			user := "round-trip-" + name
			e := tracker.Event{
				UserID:     user,
				Type:       "page_view",
				At:         at,
				ID:         "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
				UserAgent:  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
				IP:         "2001:0DB8:85a3:0000:0000:8a2e:0370:7334",
				Attributes: map[string]string{"url": "https://shop.example/p?q=1", "utm_source": "newsletter", "empty": ""},
			}
			putVia(t, tr, async, e)
			out, err := env.Client.GetItem(testCtx(t, time.Minute), &dynamodb.GetItemInput{
				TableName: aws.String(env.EventsTable),
				Key: map[string]types.AttributeValue{
					tracker.AttrActor:    &types.AttributeValueMemberS{Value: "u#" + user},
					tracker.AttrEventKey: &types.AttributeValueMemberS{Value: atUTC + "#" + e.ID},
				},
				ConsistentRead: aws.Bool(true),
			})
			if err != nil {
				t.Fatal(err)
			}
			if out.Item == nil {
				t.Fatalf("no item under key %s#%s", atUTC, e.ID)
			}
			checkItem(t, out.Item, wantItem{
				strings: map[string]string{
					tracker.AttrActor:       "u#" + user,
					tracker.FieldUserID:     user,
					tracker.AttrEventKey:    atUTC + "#" + e.ID,
					tracker.FieldEventAt:    atUTC,
					tracker.FieldEventID:    e.ID,
					tracker.FieldEventType:  "page_view",
					tracker.FieldUserAgent:  e.UserAgent,
					tracker.FieldIPAddress:  "2001:db8:85a3::8a2e:370:7334",
					tracker.FieldDeviceType: tracker.DeviceDesktop,
					tracker.FieldBrowser:    "Safari",
					tracker.FieldOS:         "Mac OS X",
				},
				bools: map[string]bool{tracker.FieldIsBot: false},
				numbers: map[string]string{
					tracker.AttrExpiresAt: strconv.FormatInt(time.Date(2026, 11, 22, 9, 4, 5, 0, time.UTC).Add(retention).Unix(), 10),
				},
				attrs: e.Attributes,
			})
		})

		t.Run(name+"/defaults", func(t *testing.T) {
			// Only the required fields: time is now, ID a UUIDv7, optional
			// attributes absent, no expires_at without Retention.
			tr := newWriteTracker(t, env, nil, tracker.Config{Now: now})
			user := "defaults-" + name
			putVia(t, tr, async, tracker.Event{UserID: user, Type: "logout", Attributes: map[string]string{}})
			items := queryUser(t, env, user)
			if len(items) != 1 {
				t.Fatalf("%d items, want 1", len(items))
			}
			id := stringAt(items[0], tracker.FieldEventID)
			if len(id) != 36 || id[14] != '7' || !strings.ContainsRune("89ab", rune(id[19])) {
				t.Errorf("generated ID %q is not a UUIDv7", id)
			}
			stamp := now().UTC().Format(tracker.TimeLayout)
			checkItem(t, items[0], wantItem{strings: map[string]string{
				tracker.AttrActor:      "u#" + user,
				tracker.FieldUserID:    user,
				tracker.AttrEventKey:   stamp + "#" + id,
				tracker.FieldEventAt:   stamp,
				tracker.FieldEventID:   id,
				tracker.FieldEventType: "logout",
			}, bools: map[string]bool{tracker.FieldIsBot: false}})
		})

		t.Run(name+"/user agent cleaned", func(t *testing.T) {
			tr := newWriteTracker(t, env, nil, tracker.Config{Now: now})
			user := "ua-" + name
			putVia(t, tr, async,
				tracker.Event{UserID: user, Type: "login", At: at, ID: "bad-utf8", UserAgent: "curl/8\xff"},
				tracker.Event{UserID: user, Type: "login", At: at, ID: "too-long", UserAgent: longUA})
			byID := map[string]string{}
			for _, it := range queryUser(t, env, user) {
				byID[stringAt(it, tracker.FieldEventID)] = stringAt(it, tracker.FieldUserAgent)
			}
			if got := byID["bad-utf8"]; got != "curl/8\uFFFD" {
				t.Errorf("user agent = %q, want invalid UTF-8 replaced", got)
			}
			if got := byID["too-long"]; got != longUA[:tracker.MaxUserAgentBytes] {
				t.Errorf("user agent is %d bytes, want cut to %d at a rune boundary", len(got), tracker.MaxUserAgentBytes)
			}
		})
	}
}

// TestIPPolicies checks what is stored for IPv4, IPv6 and IPv4-mapped IPv6
// addresses under each IPPolicy.
func TestIPPolicies(t *testing.T) {
	env := newWriteEnv(t)
	cases := []struct {
		in                       string
		keep, anonymize, dropped string
	}{
		{"198.51.100.77", "198.51.100.77", "198.51.100.0", ""},
		{"2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::", ""},
		{"2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1", "2001:db8::", ""},
		{"::ffff:198.51.100.77", "198.51.100.77", "198.51.100.0", ""},
		{"::1", "::1", "::", ""},
		// With a port, as in r.RemoteAddr: the port is not stored.
		{"198.51.100.77:1234", "198.51.100.77", "198.51.100.0", ""},
		{"[2001:db8::1]:443", "2001:db8::1", "2001:db8::", ""},
		{"[::1]:80", "::1", "::", ""},
		{"[::ffff:198.51.100.77]:8080", "198.51.100.77", "198.51.100.0", ""},
		{"", "", "", ""},
	}
	for _, p := range []struct {
		name   string
		policy tracker.IPPolicy
		want   func(keep, anonymize, drop string) string
	}{
		{"keep", tracker.IPKeep, func(k, _, _ string) string { return k }},
		{"anonymize", tracker.IPAnonymize, func(_, a, _ string) string { return a }},
		{"drop", tracker.IPDrop, func(_, _, d string) string { return d }},
	} {
		for _, async := range []bool{false, true} {
			tr := newWriteTracker(t, env, nil, tracker.Config{IPPolicy: p.policy})
			for i, c := range cases {
				name := p.name + "/" + c.in + "/" + map[bool]string{false: "Put", true: "AsyncWriter"}[async]
				t.Run(name, func(t *testing.T) {
					user := "ip-" + p.name + "-" + strconv.Itoa(i) + "-" + strconv.FormatBool(async)
					v, err := tr.Validate(tracker.Event{UserID: user, Type: "login", IP: c.in})
					if err != nil {
						t.Fatal(err)
					}
					want := p.want(c.keep, c.anonymize, c.dropped)
					if v.IP != want {
						t.Errorf("Validate: IP = %q, want %q", v.IP, want)
					}
					putVia(t, tr, async, v)
					items := queryUser(t, env, user)
					if len(items) != 1 {
						t.Fatalf("%d items, want 1", len(items))
					}
					got, present := items[0][tracker.FieldIPAddress].(*types.AttributeValueMemberS)
					switch {
					case want == "" && present:
						t.Errorf("stored ip_address %q, want none", got.Value)
					case want != "" && (!present || got.Value != want):
						t.Errorf("stored ip_address %#v, want %q", items[0][tracker.FieldIPAddress], want)
					}
				})
			}
		}
	}
}

// TestSameMillisecond puts 1,000 events of one user with the same
// millisecond timestamp through each write path: all are stored.
func TestSameMillisecond(t *testing.T) {
	env := newWriteEnv(t)
	at := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for _, async := range []bool{false, true} {
		name := map[bool]string{false: "Put", true: "AsyncWriter"}[async]
		t.Run(name, func(t *testing.T) {
			tr := newWriteTracker(t, env, nil, tracker.Config{})
			user := "same-ms-" + name
			events := make([]tracker.Event, 1000)
			for i := range events {
				events[i] = tracker.Event{UserID: user, Type: "click", At: at.Add(time.Duration(i % 1000)), // sub-ms offsets are truncated
					Attributes: map[string]string{"n": strconv.Itoa(i)}}
			}
			putVia(t, tr, async, events...)
			items := queryUser(t, env, user)
			if len(items) != len(events) {
				t.Fatalf("%d items stored, want %d", len(items), len(events))
			}
			stamp := at.UTC().Format(tracker.TimeLayout)
			ids, ns := map[string]bool{}, map[string]bool{}
			for _, it := range items {
				id := stringAt(it, tracker.FieldEventID)
				if key := stringAt(it, tracker.AttrEventKey); key != stamp+"#"+id {
					t.Errorf("event_key %q, want %s#%s", key, stamp, id)
				}
				ids[id] = true
				ns[stringAt(it, "attributes.n")] = true
			}
			if len(ids) != len(events) || len(ns) != len(events) {
				t.Errorf("%d distinct IDs and %d distinct events, want %d", len(ids), len(ns), len(events))
			}
		})
	}
}

// TestPutIsIdempotentAndNeverOverwrites checks the conditional PutItem: the
// identical event put again succeeds (one item), a different event under
// the same key fails with ErrDuplicateEvent and leaves the first unchanged.
func TestPutIsIdempotentAndNeverOverwrites(t *testing.T) {
	env := newWriteEnv(t)
	tr := newWriteTracker(t, env, nil, tracker.Config{Retention: time.Hour})
	ctx := testCtx(t, time.Minute)
	e, err := tr.Validate(tracker.Event{UserID: "idem", Type: "signup", IP: "198.51.100.1", Attributes: map[string]string{"plan": "pro"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := tr.Put(ctx, e); err != nil {
			t.Fatalf("put %d of the identical event: %v", i+1, err)
		}
	}
	for _, edit := range []func(*tracker.Event){
		func(c *tracker.Event) { c.Type = "login" },
		func(c *tracker.Event) { c.IP = "198.51.100.2" },
		func(c *tracker.Event) { c.UserAgent = "curl/8" },
		func(c *tracker.Event) { c.Attributes = map[string]string{"plan": "free"} },
		func(c *tracker.Event) { c.Attributes = nil },
	} {
		c := e
		edit(&c)
		if err := tr.Put(ctx, c); !errors.Is(err, tracker.ErrDuplicateEvent) {
			t.Errorf("put of %+v under an existing key: err = %v, want ErrDuplicateEvent", c, err)
		}
	}
	items := queryUser(t, env, "idem")
	if len(items) != 1 {
		t.Fatalf("%d items, want 1", len(items))
	}
	if got := stringAt(items[0], tracker.FieldEventType); got != "signup" {
		t.Errorf("stored event_type = %q: the first event was overwritten", got)
	}
	if got := stringAt(items[0], "attributes.plan"); got != "pro" {
		t.Errorf("stored plan = %q: the first event was overwritten", got)
	}
}

// TestPutReportsDynamoDBErrors checks that a DynamoDB error is wrapped with
// what was being done and stays matchable.
func TestPutReportsDynamoDBErrors(t *testing.T) {
	env := newWriteEnv(t)
	tr, err := tracker.New(env.Client, tracker.Config{EventsTable: "no-such-table-" + env.EventsTable})
	if err != nil {
		t.Fatal(err)
	}
	err = tr.Put(context.Background(), tracker.Event{UserID: "u", Type: "login"})
	var nf *types.ResourceNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("err = %v, want ResourceNotFoundException", err)
	}
	if !strings.Contains(err.Error(), "put event") || errors.Is(err, tracker.ErrInvalidEvent) {
		t.Errorf("err = %v, want it to say what was being done and not to be a validation error", err)
	}
}
