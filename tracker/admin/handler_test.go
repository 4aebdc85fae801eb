package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/admin"
)

func checkSecurityHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'sha256-", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
		t.Errorf("Content-Security-Policy %q allows script or unsafe sources", csp)
	}
	for h, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "no-referrer",
		"X-Frame-Options":        "DENY",
		"Cache-Control":          "no-store",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
}

func TestHandlerHTML(t *testing.T) {
	f := newAdminFixture(t, admin.Options{})
	f.put(t,
		tracker.Event{UserID: "alice", Type: "login", At: adminNow.Add(-5 * time.Minute), UserAgent: uaChrome, IP: "192.0.2.44",
			Attributes: map[string]string{"method": "password", "campaign": "spring"}},
		tracker.Event{UserID: "alice", Type: "page_view", At: adminNow.Add(-3 * time.Hour), UserAgent: uaIPhone, IP: "2001:db8::7"},
		tracker.Event{UserID: "alice", Type: "click", At: adminNow.Add(-49 * time.Hour)},
	)
	f.touch(t, "alice", 4)
	resp, body := f.get(t, http.MethodGet, "?user=alice", "text/html")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	checkSecurityHeaders(t, resp)
	if n := strings.Count(body, "<tr data-event-id="); n != 3 {
		t.Errorf("%d event rows, want 3", n)
	}
	for _, want := range []string{
		"<title>Activity of alice</title>",
		`<time datetime="2026-03-01T11:55:00.000Z">2026-03-01 11:55:00.000</time><span class="rel">5 minutes ago</span>`,
		"3 hours ago", "2 days ago",
		"Chrome 126.0.0.0", "Windows 10", `<td class="device">desktop</td>`,
		"Safari 17.5", "iPhone OS 17.5", ">mobile (iPhone)<",
		"192.0.2.44", "2001:db8::7",
		"<dt>campaign</dt><dd>spring</dd><dt>method</dt><dd>password</dd>",
		`<dd id="actions">4</dd>`,
		`<option value="login">login</option>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, `id="next"`) {
		t.Error("a next link on the only page")
	}
	if strings.Index(body, "11:55:00") > strings.Index(body, "09:00:00") {
		t.Error("events are not newest first")
	}
}

func TestHandlerJSON(t *testing.T) {
	f := newAdminFixture(t, admin.Options{PageSize: 2})
	stored := f.put(t,
		tracker.Event{UserID: "bob", Type: "login", At: adminNow.Add(-time.Minute), UserAgent: uaFirefox, IP: "198.51.100.1",
			Attributes: map[string]string{"method": "sso"}},
		tracker.Event{UserID: "bob", Type: "search", At: adminNow.Add(-2 * time.Minute)},
		tracker.Event{UserID: "bob", Type: "click", At: adminNow.Add(-3 * time.Minute)},
	)
	f.touch(t, "bob", 2)

	type page struct {
		UserID  string `json:"user_id"`
		Summary struct {
			LastSeen string `json:"last_seen"`
			Actions  int64  `json:"actions"`
		} `json:"summary"`
		Events []map[string]json.RawMessage `json:"events"`
		Next   string                       `json:"next"`
	}
	for _, tc := range []struct{ name, query, accept string }{
		{"accept header", "?user=bob", "application/json"},
		{"accept list", "?user=bob", "application/json, text/plain, */*"},
		{"format parameter", "?user=bob&format=json", "text/html"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.get(t, http.MethodGet, tc.query, tc.accept)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Fatalf("status %d, content type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			checkSecurityHeaders(t, resp)
			var p page
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatal(err)
			}
			if p.UserID != "bob" || p.Summary.Actions != 2 || p.Summary.LastSeen != adminNow.Format(tracker.TimeLayout) {
				t.Errorf("page header = %+v", p)
			}
			if len(p.Events) != 2 || p.Next == "" {
				t.Fatalf("%d events, next %q; want 2 and a cursor", len(p.Events), p.Next)
			}
			// The event keys are the schema's field names, plus the device.
			var keys []string
			for k := range p.Events[0] {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			want := append(tracker.FieldNames(), "device")
			slices.Sort(want)
			if !slices.Equal(keys, want) {
				t.Errorf("event keys %q, want %q", keys, want)
			}
			var got struct {
				EventAt   string            `json:"event_at"`
				EventID   string            `json:"event_id"`
				IP        string            `json:"ip_address"`
				Attrs     map[string]string `json:"attributes"`
				Device    tracker.Device    `json:"device"`
				EventType string            `json:"event_type"`
			}
			raw, _ := json.Marshal(p.Events[0])
			if err := json.Unmarshal(raw, &got); err != nil {
				t.Fatal(err)
			}
			if got.EventID != stored[0].ID || got.EventType != "login" || got.IP != "198.51.100.1" || got.Attrs["method"] != "sso" ||
				got.Device.Browser != "Firefox" || got.EventAt != stored[0].At.Format(tracker.TimeLayout) {
				t.Errorf("first event = %+v", got)
			}
			// The cursor pages on.
			resp, body = f.get(t, http.MethodGet, "?format=json&user=bob&cursor="+url.QueryEscape(p.Next), "")
			var p2 page
			if err := json.Unmarshal([]byte(body), &p2); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("next page: %d %s", resp.StatusCode, body)
			}
			if len(p2.Events) != 1 || p2.Next != "" {
				t.Errorf("next page: %d events, next %q", len(p2.Events), p2.Next)
			}
		})
	}
}

func TestHandlerBadRequests(t *testing.T) {
	f := newAdminFixture(t, admin.Options{PageSize: 1})
	f.put(t,
		tracker.Event{UserID: "carol", Type: "login", At: adminNow.Add(-time.Minute)},
		tracker.Event{UserID: "carol", Type: "login", At: adminNow.Add(-2 * time.Minute)},
	)
	_, body := f.get(t, http.MethodGet, "?user=carol&format=json", "")
	var first struct{ Next string }
	if err := json.Unmarshal([]byte(body), &first); err != nil || first.Next == "" {
		t.Fatalf("first page: %s", body)
	}
	long := strings.Repeat("u", tracker.MaxUserIDBytes+1)
	cases := []struct {
		name, method, query, accept string
		status                      int
		want                        string
	}{
		{"form without a user", "GET", "", "", 200, `<form method="get" id="filter">`},
		{"JSON without a user", "GET", "?format=json", "", 400, `"error": "Give a user ID in the user parameter or a visitor ID in the anonymous_id parameter."`},
		{"user and visitor", "GET", "?user=carol&anonymous_id=v", "", 400, "Give a user ID or a visitor ID, not both."},
		{"visitor without events", "GET", "?anonymous_id=nobody", "", 200, "not identified yet"},
		{"visitor ID with a control character", "GET", "?anonymous_id=v%00", "", 400, "Invalid visitor ID: holds a control character."},
		{"semicolon separator", "GET", "?user=alice;type=login", "", 400, "separate parameters with &#39;&amp;&#39;, not &#39;;&#39;"},
		{"type not in the list", "GET", "?user=carol&type=checkout", "", 400, "Invalid type: choose one of the types the filter lists."},
		{"last day there is", "GET", "?user=carol&from=9999-12-31&to=9999-12-31", "", 200, "No activity."},
		{"user without events", "GET", "?user=nobody", "", 200, "No activity."},
		{"user without events, JSON", "GET", "?user=nobody&format=json", "", 200, `"events": []`},
		{"user ID too long", "GET", "?user=" + long, "", 400, "Invalid user ID: is 257 bytes, the limit is 256."},
		{"user ID with spaces", "GET", "?user=%20carol", "application/json", 400, `"error": "Invalid user ID: has leading or trailing white space."`},
		{"bad type", "GET", "?user=carol&type=%3Cb%3E", "", 400, "Invalid type: choose one of the types the filter lists."},
		{"tampered cursor", "GET", "?user=carol&cursor=" + url.QueryEscape(first.Next[:len(first.Next)-2]+"AA"), "", 400,
			`<a href="?user=carol">Start from the first page</a>`},
		{"cursor of another filter", "GET", "?user=carol&type=login&cursor=" + url.QueryEscape(first.Next), "", 400,
			"issued for another query"},
		{"cursor of another user, JSON", "GET", "?user=dave&format=json&cursor=" + url.QueryEscape(first.Next), "", 400,
			`"error": "This link to older events is not valid here: issued for another query`},
		{"garbage cursor", "GET", "?user=carol&cursor=%3Cscript%3E", "", 400, "not base64url"},
		{"bad date", "GET", "?user=carol&from=yesterday", "", 400, "Invalid from date: want a date like 2026-03-01."},
		{"dates reversed", "GET", "?user=carol&from=2026-03-02&to=2026-03-01", "", 400, "The From date is after the To date."},
		{"one day", "GET", "?user=carol&from=2026-03-01&to=2026-03-01", "", 200, `<tr data-event-id=`},
		{"POST", "POST", "?user=carol", "", 405, "Only GET and HEAD are allowed."},
		{"HEAD", "HEAD", "?user=carol", "", 200, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.get(t, tc.method, tc.query, tc.accept)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, body)
			}
			checkSecurityHeaders(t, resp)
			if !strings.Contains(body, tc.want) {
				t.Errorf("body lacks %q:\n%s", tc.want, body)
			}
			if tc.status == 405 && resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q", resp.Header.Get("Allow"))
			}
		})
	}
}

func TestHandlerDynamoDBErrorsLeakNothing(t *testing.T) {
	f := newAdminFixture(t, admin.Options{})
	const secret = "arn:aws:dynamodb:eu-west-1:123456789012:table/secret-events AccessDenied for role eventlake-admin"
	cases := []struct {
		name   string
		err    error
		status int
		level  string
	}{
		{"access denied", errors.New(secret), 500, "ERROR"},
		{"throttled", &types.ProvisionedThroughputExceededException{Message: aws.String(secret)}, 503, "WARN"},
	}
	for _, tc := range cases {
		for _, accept := range []string{"text/html", "application/json"} {
			t.Run(tc.name+" "+accept, func(t *testing.T) {
				f.db.setFail(tc.err)
				defer f.db.setFail(nil)
				resp, body := f.get(t, http.MethodGet, "?user=erin", accept)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
				checkSecurityHeaders(t, resp)
				for _, leak := range []string{"arn:", "123456789012", "secret", "AccessDenied", "eventlake-admin", f.env.EventsTable, "Provisioned"} {
					if strings.Contains(body, leak) {
						t.Errorf("response leaks %q:\n%s", leak, body)
					}
				}
				if !strings.Contains(body, "try again") && !strings.Contains(body, "has been logged") {
					t.Errorf("response has no generic message:\n%s", body)
				}
				if logs := f.logs.String(); !strings.Contains(logs, "123456789012") || !strings.Contains(logs, `"level":"`+tc.level+`"`) ||
					!strings.Contains(logs, `"user_id":"erin"`) {
					t.Errorf("the log lacks the detail at %s:\n%s", tc.level, logs)
				}
			})
		}
	}
}

func TestHandlerMisconfigured(t *testing.T) {
	tr, err := tracker.New(dynamolocal.NewEnv(t).Client, tracker.Config{EventsTable: "events"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		tr   *tracker.Tracker
		opts admin.Options
		want string
	}{
		{"page size", tr, admin.Options{PageSize: admin.MaxPageSize + 1}, "PageSize 501"},
		{"negative page size", tr, admin.Options{PageSize: -1}, "PageSize -1"},
		{"nil tracker", nil, admin.Options{}, "nil Tracker"},
		{"bad type", tr, admin.Options{Types: []string{"login", "has space"}}, `"has space"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := admin.NewHandler(tc.tr, tc.opts)
			if err == nil || h != nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("NewHandler = %v, %v; want no handler and an error naming %s", h, err, tc.want)
			}
		})
	}
}

func TestHandlerEscapesEverything(t *testing.T) {
	f := newAdminFixture(t, admin.Options{})
	user := `u"><script>alert(1)</script>`
	f.put(t, tracker.Event{UserID: user, Type: "login", At: adminNow.Add(-time.Minute),
		UserAgent:  `<script>alert(2)</script>`,
		Attributes: map[string]string{"ref": `"><img src=x onerror=alert(3)>`, "url": "javascript:alert(4)"}})
	resp, body := f.get(t, http.MethodGet, "?user="+url.QueryEscape(user), "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, bad := range []string{"<script>", "<img", `u"><`, `href="javascript:`} {
		if strings.Contains(body, bad) {
			i := strings.Index(body, bad)
			t.Errorf("page holds %q unescaped: %s", bad, body[max(0, i-80):min(len(body), i+80)])
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(2)&lt;/script&gt;", "&#34;&gt;&lt;img src=x onerror=alert(3)&gt;", "javascript:alert(4)"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks the escaped %q", want)
		}
	}
}

// TestHandlerRefusesUnlistedTypesBeforeReading: a well-formed type outside
// the filter's list would read up to the item cap and find nothing.
func TestHandlerRefusesUnlistedTypesBeforeReading(t *testing.T) {
	f := newAdminFixture(t, admin.Options{})
	f.put(t, tracker.Event{UserID: "carol", Type: "login", At: adminNow.Add(-time.Minute)})
	f.db.queries.Store(0)
	resp, _ := f.get(t, http.MethodGet, "?user=carol&type=checkout", "")
	if resp.StatusCode != http.StatusBadRequest || f.db.queries.Load() != 0 {
		t.Errorf("status %d after %d queries; want 400 and no read", resp.StatusCode, f.db.queries.Load())
	}
}

// TestHandlerSkipsForeignItems: an item in the user's partition that the
// tracker did not write (a sort key without "#") is skipped and counted.
func TestHandlerSkipsForeignItems(t *testing.T) {
	f := newAdminFixture(t, admin.Options{})
	f.put(t, tracker.Event{UserID: "frank", Type: "login", At: adminNow.Add(-time.Minute)})
	ctx := context.Background()
	if _, err := f.env.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.env.EventsTable), Item: map[string]types.AttributeValue{
		tracker.AttrActor:    &types.AttributeValueMemberS{Value: tracker.ActorKey("frank", "")},
		tracker.AttrEventKey: &types.AttributeValueMemberS{Value: "settings"},
	}}); err != nil {
		t.Fatal(err)
	}
	resp, body := f.get(t, http.MethodGet, "?user=frank", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `id="skipped"`) || strings.Count(body, "<tr data-event-id=") != 1 {
		t.Errorf("status %d; want the one event and a note on the skipped item:\n%s", resp.StatusCode, body)
	}
}

// TestHandlerVisitorsAndLinks: a visitor's page, and a user's page with the
// history of the visitor the user was before signing in.
func TestHandlerVisitorsAndLinks(t *testing.T) {
	f := newAdminFixture(t, admin.Options{})
	f.put(t,
		tracker.Event{AnonymousID: "cookie-1", Type: "page_view", At: adminNow.Add(-3 * time.Hour), UserAgent: uaIPhone,
			Attributes: map[string]string{tracker.AttrUTMCampaign: "spring-sale"}},
		tracker.Event{UserID: "dana", AnonymousID: "cookie-1", Type: tracker.TypeIdentify, At: adminNow.Add(-2 * time.Hour)},
		tracker.Event{UserID: "dana", Type: "login", At: adminNow.Add(-time.Hour), UserAgent: uaChrome},
	)
	// The summary consumer writes the links; here they are written directly.
	ctx := context.Background()
	for _, it := range []map[string]types.AttributeValue{
		{tracker.AttrActor: &types.AttributeValueMemberS{Value: tracker.ActorKey("dana", "")},
			tracker.AttrAnonymousIDs: &types.AttributeValueMemberSS{Value: []string{"cookie-1"}},
			tracker.AttrActions:      &types.AttributeValueMemberN{Value: "2"}},
		{tracker.AttrActor: &types.AttributeValueMemberS{Value: tracker.ActorKey("", "cookie-1")},
			tracker.AttrLinkedUser: &types.AttributeValueMemberS{Value: "dana"},
			tracker.AttrActions:    &types.AttributeValueMemberN{Value: "1"}},
	} {
		if _, err := f.env.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.env.SummaryTable), Item: it}); err != nil {
			t.Fatal(err)
		}
	}

	resp, body := f.get(t, http.MethodGet, "?user=dana", "")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	linked := body[strings.Index(body, `<section id="linked">`):]
	if !strings.Contains(linked, `href="?anonymous_id=cookie-1"`) || !strings.Contains(linked, "spring-sale") ||
		strings.Count(linked, "<tr data-event-id=") != 1 {
		t.Errorf("linked visitors section lacks the visitor's page view:\n%s", linked)
	}
	if strings.Count(body, "<tr data-event-id=") != 3 {
		t.Errorf("want 2 events of the user and 1 of the linked visitor:\n%s", body)
	}

	resp, body = f.get(t, http.MethodGet, "?anonymous_id=cookie-1", "")
	if resp.StatusCode != 200 || !strings.Contains(body, `<a href="?user=dana">dana</a>`) ||
		strings.Count(body, "<tr data-event-id=") != 1 || !strings.Contains(body, `<td class="device">mobile`) {
		t.Errorf("visitor page: status %d:\n%s", resp.StatusCode, body)
	}

	_, body = f.get(t, http.MethodGet, "?user=dana&format=json", "")
	var page struct {
		Summary struct {
			AnonymousIDs []string `json:"anonymous_ids"`
		} `json:"summary"`
		Linked []struct {
			AnonymousID string           `json:"anonymous_id"`
			Events      []map[string]any `json:"events"`
		} `json:"linked_visitors"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(page.Summary.AnonymousIDs, []string{"cookie-1"}) || len(page.Linked) != 1 || len(page.Linked[0].Events) != 1 ||
		page.Linked[0].Events[0]["anonymous_id"] != "cookie-1" || page.Linked[0].Events[0]["user_id"] != nil {
		t.Errorf("JSON page = %s", body)
	}
}
