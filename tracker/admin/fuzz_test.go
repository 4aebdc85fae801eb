package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/admin"
)

// readCounter counts the items each partition's Queries read (DynamoDB's
// ScannedCount, what it bills), in front of DynamoDB Local's client.
type readCounter struct {
	tracker.DynamoDB
	mu    sync.Mutex
	items map[string]int // actor -> items read
}

func (c *readCounter) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := c.DynamoDB.Query(ctx, in, opts...)
	if err != nil {
		return out, err
	}
	actor := "?"
	for _, v := range in.ExpressionAttributeValues {
		if s, ok := v.(*types.AttributeValueMemberS); ok && (strings.HasPrefix(s.Value, "u#") || strings.HasPrefix(s.Value, "a#")) {
			actor = s.Value
		}
	}
	c.mu.Lock()
	c.items[actor] += int(out.ScannedCount)
	c.mu.Unlock()
	return out, nil
}

func (c *readCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.items
	c.items = map[string]int{}
	return m
}

// Limits of the fuzzed handler.
const (
	fuzzPageSize = 10
	// fuzzMaxRead is the reader's cap on the items a type-filtered page
	// reads: far fewer than the user's events, so a rare type would read
	// them all without it.
	fuzzMaxRead = 60
	// A user's page shows at most 5 linked visitors, reading at most 10
	// events (and one more to know about a next page) of each.
	fuzzMaxLinked     = 5
	fuzzLinkedMaxRead = 11
)

// pageShape is what the page template can produce: its tag and attribute
// names. Nothing a request holds may add to them.
type pageShape struct{ tags, attrs map[string]bool }

var templateAction = regexp.MustCompile(`\{\{.*?\}\}`)

func readPageShape(tb testing.TB) pageShape {
	src, err := os.ReadFile("page.html.tmpl")
	if err != nil {
		tb.Fatal(err)
	}
	s := pageShape{tags: map[string]bool{}, attrs: map[string]bool{}}
	if err := scanTags(templateAction.ReplaceAllString(string(src), ""), func(tag string, attrs [][2]string) error {
		s.tags[tag] = true
		for _, a := range attrs {
			s.attrs[a[0]] = true
		}
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	if len(s.tags) < 20 || !s.tags["input"] || !s.attrs["href"] || !s.attrs["value"] {
		tb.Fatalf("page template scanned wrong: %v", s)
	}
	return s
}

// scanTags calls tag for every start and end tag of an HTML document
// written as html/template writes it (attribute values quoted), with the
// tag's lower-case name ("/a" for an end tag) and attributes; text between
// tags must hold no '<' (html/template escapes it), and the style element
// holds the page's own CSS.
func scanTags(doc string, tag func(name string, attrs [][2]string) error) error {
	i := 0
	for {
		j := strings.IndexByte(doc[i:], '<')
		if j < 0 {
			return nil
		}
		i += j + 1
		if strings.HasPrefix(doc[i:], "!doctype html>") {
			i += len("!doctype html>")
			continue
		}
		k := i
		if k < len(doc) && doc[k] == '/' {
			k++
		}
		for k < len(doc) && (doc[k] >= 'a' && doc[k] <= 'z' || doc[k] >= '0' && doc[k] <= '9') {
			k++
		}
		name := doc[i:k]
		if name == "" || name == "/" {
			return fmt.Errorf("a '<' that starts no tag at %d: %q", i, around(doc, i))
		}
		var attrs [][2]string
		for {
			for k < len(doc) && strings.IndexByte(" \t\n\r", doc[k]) >= 0 {
				k++
			}
			if k >= len(doc) {
				return fmt.Errorf("tag %s not closed", name)
			}
			if doc[k] == '>' {
				k++
				break
			}
			a := k
			for k < len(doc) && strings.IndexByte(" \t\n\r=>", doc[k]) < 0 {
				k++
			}
			attr := [2]string{doc[a:k], ""}
			if attr[0] == "" {
				return fmt.Errorf("tag %s: empty attribute name at %d: %q", name, k, around(doc, k))
			}
			if k < len(doc) && doc[k] == '=' {
				k++
				if k >= len(doc) || doc[k] != '"' {
					return fmt.Errorf("tag %s: attribute %s not quoted: %q", name, attr[0], around(doc, k))
				}
				end := strings.IndexByte(doc[k+1:], '"')
				if end < 0 {
					return fmt.Errorf("tag %s: attribute %s not closed", name, attr[0])
				}
				attr[1] = doc[k+1 : k+1+end]
				k += end + 2
			}
			attrs = append(attrs, attr)
		}
		if err := tag(name, attrs); err != nil {
			return err
		}
		i = k
		if name == "style" {
			end := strings.Index(doc[i:], "</style>")
			if end < 0 {
				return fmt.Errorf("style not closed")
			}
			i += end
		}
	}
}

// check reports a tag or attribute name of body that the template cannot
// produce, or a link that leaves the page.
func (s pageShape) check(body string) error {
	return scanTags(body, func(tag string, attrs [][2]string) error {
		if !s.tags[strings.TrimPrefix(tag, "/")] {
			return fmt.Errorf("tag %q is not the template's", tag)
		}
		for _, a := range attrs {
			if !s.attrs[a[0]] {
				return fmt.Errorf("tag %s has attribute %q, not the template's", tag, a[0])
			}
			if a[0] == "href" && !strings.HasPrefix(a[1], "?") {
				return fmt.Errorf("link %q is not relative to the page", a[1])
			}
		}
		return nil
	})
}

// TestPageShape checks the checker FuzzQuery applies to every page: it
// passes the page as served and catches what an unescaped value would
// inject.
func TestPageShape(t *testing.T) {
	shape := readPageShape(t)
	good := `<!doctype html><html lang="en"><head><style>p{color:red}</style></head><body><a href="?user=a%3Cb">x &lt;b&gt;</a><input name="user" value="&#34;&gt;&lt;b" required></body></html>`
	if err := shape.check(good); err != nil {
		t.Errorf("a well-formed page: %v", err)
	}
	for _, bad := range []string{
		`<p>x <b>bold</b></p>`,                            // a tag the template has not
		`<input name="user" value="" onfocus="alert(1)">`, // an attribute it has not
		`<input name="user" value=x>`,                     // an unquoted value
		`<p class="error">a < b</p>`,                      // a raw '<' in text
		`<a href="javascript:alert(1)">x</a>`,             // a link off the page
		`<a href="?x">x</a><p class="x`,                   // a tag left open
	} {
		if err := shape.check(bad); err == nil {
			t.Errorf("%s passed", bad)
		}
	}
}

func around(s string, i int) string {
	return s[max(0, i-40):min(len(s), i+40)]
}

// FuzzQuery sends arbitrary query strings (and Accept headers and methods)
// to the admin handler over a user with 150 events, 7 linked visitors and
// a foreign item in the partition, on DynamoDB Local. For every input:
//   - no 5xx: a client cannot cause a server fault;
//   - the HTML page has exactly the template's tags and attribute names,
//     every link is relative to the page (no input is reflected unescaped),
//     and JSON is valid JSON without a raw '<';
//   - the items read stay under the caps: for the requested partition a
//     page (and one more item, and the foreign one) without a type filter,
//     fuzzMaxRead with one; a linked page's for each of at most
//     fuzzMaxLinked visitors.
func FuzzQuery(f *testing.F) {
	shape := readPageShape(f)
	fx := newAdminFixture(f, admin.Options{})
	var evs []tracker.Event
	for i := range 150 {
		typ := "page_view"
		if i%50 == 7 {
			typ = "login" // 3 logins among 150 events
		}
		evs = append(evs, tracker.Event{UserID: "alice", Type: typ, At: adminNow.Add(-time.Duration(i) * 7 * time.Hour),
			UserAgent: uaChrome, IP: "192.0.2.7", Attributes: map[string]string{tracker.AttrPath: fmt.Sprintf("/p/%d", i)}})
	}
	var visitors []string
	for v := range 7 {
		id := fmt.Sprintf("cookie-%d", v)
		visitors = append(visitors, id)
		for i := range 12 {
			evs = append(evs, tracker.Event{AnonymousID: id, Type: "page_view", At: adminNow.Add(-time.Duration(v*12+i) * time.Hour),
				UserAgent: uaIPhone, Attributes: map[string]string{tracker.AttrURL: "https://shop.example/?q=<b>&x=\"'"}})
		}
	}
	fx.put(f, evs...)
	ctx := context.Background()
	for _, it := range []map[string]types.AttributeValue{
		{tracker.AttrActor: &types.AttributeValueMemberS{Value: tracker.ActorKey("alice", "")},
			tracker.AttrAnonymousIDs: &types.AttributeValueMemberSS{Value: visitors},
			tracker.AttrActions:      &types.AttributeValueMemberN{Value: "150"}},
		{tracker.AttrActor: &types.AttributeValueMemberS{Value: tracker.ActorKey("", "cookie-0")},
			tracker.AttrLinkedUser: &types.AttributeValueMemberS{Value: "alice"}},
	} {
		if _, err := fx.env.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(fx.env.SummaryTable), Item: it}); err != nil {
			f.Fatal(err)
		}
	}
	// An item the tracker did not write, in alice's partition.
	if _, err := fx.env.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(fx.env.EventsTable), Item: map[string]types.AttributeValue{
		tracker.AttrActor:    &types.AttributeValueMemberS{Value: tracker.ActorKey("alice", "")},
		tracker.AttrEventKey: &types.AttributeValueMemberS{Value: "2026-02-27T00:00:00.000Z"},
	}}); err != nil {
		f.Fatal(err)
	}

	counter := &readCounter{DynamoDB: fx.env.Client, items: map[string]int{}}
	tr, err := tracker.New(counter, tracker.Config{EventsTable: fx.env.EventsTable, SummaryTable: fx.env.SummaryTable,
		Now: func() time.Time { return adminNow }})
	if err != nil {
		f.Fatal(err)
	}
	reader, err := tracker.NewReader(tr, tracker.ReadConfig{CursorKeys: [][]byte{bytes.Repeat([]byte("k"), tracker.MinCursorKeyBytes)},
		MaxItemsRead: fuzzMaxRead})
	if err != nil {
		f.Fatal(err)
	}
	h, err := admin.NewHandler(tr, admin.Options{Reader: reader, PageSize: fuzzPageSize, Logger: slog.New(slog.NewJSONHandler(fx.logs, nil)),
		Now: func() time.Time { return adminNow }})
	if err != nil {
		f.Fatal(err)
	}
	serve := func(method, rawQuery, accept string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/admin/activity", nil)
		r.Method, r.URL.RawQuery = method, rawQuery
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}

	// Seeds: real cursors (of the unfiltered and the login pages), a type
	// filter over the rare type, dates at the ends of the calendar,
	// injection attempts, malformed encodings.
	cursorOf := func(q string) string {
		var page struct {
			Next string `json:"next"`
		}
		w := serve(http.MethodGet, q+"&format=json", "")
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil || page.Next == "" {
			f.Fatalf("%s: no next page: %d %s", q, w.Code, w.Body)
		}
		return page.Next
	}
	for _, q := range []string{
		"", "user=alice", "user=alice&type=login", "user=alice&type=page_view&from=2026-01-01&to=2026-02-01",
		"anonymous_id=cookie-0", "anonymous_id=cookie-0&format=json", "user=alice&format=json",
		"user=alice&cursor=" + url.QueryEscape(cursorOf("user=alice")),
		"user=alice&type=login&cursor=" + url.QueryEscape(cursorOf("user=alice&type=login")),
		"user=alice&cursor=" + url.QueryEscape(cursorOf("user=alice")) + "&type=login",
		"user=alice&from=9999-12-31&to=9999-12-31", "user=alice&from=0001-01-01&to=0001-01-01",
		"user=alice;type=login", "user=alice&type=teleport", "user=alice&anonymous_id=cookie-1",
		"user=%3Cscript%3Ealert(1)%3C%2Fscript%3E", `user="><img src=x onerror=alert(1)>`,
		"user='onmouseover='alert(1)", "user=alice&type=%22%3E%3Cb%3E", "user=%zz", "user=%C0%AF",
		"user=" + strings.Repeat("x", 300), "user=a&user=b&format=html", "format=json",
	} {
		f.Add(uint8(0), q, "")
	}
	f.Add(uint8(0), "user=alice", "application/json;q=0.9, text/html;q=1")
	f.Add(uint8(0), "user=%3C%2Fscript%3E", "application/json")
	f.Add(uint8(1), "user=alice", "")
	f.Add(uint8(2), "user=<b>", "text/html")

	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, "DELETE"}
	f.Fuzz(func(t *testing.T, method uint8, rawQuery, accept string) {
		counter.take()
		w := serve(methods[int(method)%len(methods)], rawQuery, accept)
		read := counter.take()
		if w.Code >= 500 {
			t.Fatalf("?%s: status %d: %s\nlogs: %s", rawQuery, w.Code, w.Body, fx.logs)
		}
		checkSecurityHeaders(t, w.Result())
		body := w.Body.String()
		switch ct := w.Header().Get("Content-Type"); {
		case strings.HasPrefix(ct, "application/json"):
			if !json.Valid(w.Body.Bytes()) || strings.Contains(body, "<") {
				t.Fatalf("?%s: JSON %q", rawQuery, body)
			}
		case strings.HasPrefix(ct, "text/html"):
			if err := shape.check(body); err != nil {
				t.Fatalf("?%s: %v\n%s", rawQuery, err, body)
			}
		default:
			t.Fatalf("?%s: Content-Type %q", rawQuery, ct)
		}

		q, _ := url.ParseQuery(rawQuery)
		self := tracker.ActorKey(q.Get("user"), "")
		if q.Get("user") == "" {
			self = tracker.ActorKey("", q.Get("anonymous_id"))
		}
		var linked []string
		for actor, n := range read {
			switch {
			case actor == self:
				limit := fuzzMaxRead
				if q.Get("type") == "" {
					// A page, one more to know of a next page, and the
					// foreign item skipped on the way.
					limit = fuzzPageSize + 2
				}
				if n > limit {
					t.Fatalf("?%s: read %d items of %s, more than the cap %d", rawQuery, n, actor, limit)
				}
			case strings.HasPrefix(actor, "a#") && slices.Contains(visitors, actor[2:]):
				linked = append(linked, actor)
				if n > fuzzLinkedMaxRead {
					t.Fatalf("?%s: read %d items of the linked visitor %s", rawQuery, n, actor)
				}
			default:
				t.Fatalf("?%s: read %d items of %s, which the request did not ask for", rawQuery, n, actor)
			}
		}
		if len(linked) > fuzzMaxLinked {
			t.Fatalf("?%s: read %d linked visitors' events", rawQuery, len(linked))
		}
	})
}
