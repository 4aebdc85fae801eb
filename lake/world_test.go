package lake_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/laketest"
	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/tracker"
)

// world is a history with the identity cases an erasure must get right,
// the subset of it the hot store still holds, and two users to forget.
type world struct {
	events  []laketest.Event // the lake's history, each event once
	hot     []laketest.Event // also in the events table (the last days, and hot-only events)
	summary map[string]map[string]any
	forget  []string
}

func at(day time.Time, hm string) string {
	t, err := time.Parse("15:04", hm)
	if err != nil {
		panic(err)
	}
	return day.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute).Format(tracker.TimeLayout)
}

// newWorld builds the history: generated activity, plus
//   - s0001, who browsed as v-0001 and identified on day 0; u0003 later
//     signed in on the same browser (v-0001 stays s0001's: first link);
//   - v-shared, whom u0004 identified first; u0002 later used it (it stays
//     u0004's, and its anonymous events stay);
//   - hot-cookie, seen only in the hot store on an event of u0002, with no
//     visitor summary and no link in the lake: u0002's;
//   - r0001, who stops coming back after the second day.
//
// The users to forget are u0002 and s0001.
func newWorld(days int) *world { return newWorldAt(testEnd, days, 6) }

// newWorldAt is newWorld with a history of days ending with end, and users
// regular users and as many visitors.
func newWorldAt(end time.Time, days, users int) *world {
	end = end.UTC().Truncate(24 * time.Hour)
	w := &world{forget: []string{"u0002", "s0001"}}
	w.events = laketest.Generate(laketest.Config{End: end, Days: days, Users: users, Visitors: users, Seed: 3})
	first := end.AddDate(0, 0, -(days - 1))
	second := first.AddDate(0, 0, 1)
	ev := func(user, anon, typ, when, id string) laketest.Event {
		return laketest.Event{UserID: user, AnonymousID: anon, EventAt: when, EventID: id, EventType: typ,
			UserAgent: "curl/8.4.0", DeviceType: "bot", Browser: "curl", OS: "", IsBot: true,
			Attributes: map[string]string{tracker.AttrURL: "/x"}}
	}
	w.events = append(w.events,
		ev("", "v-0001", "page_view", at(first, "09:00"), "w-01"),
		ev("s0001", "v-0001", tracker.TypeIdentify, at(first, "10:00"), "w-02"),
		ev("s0001", "v-0001", "signup", at(first, "10:01"), "w-03"),
		ev("", "v-0001", "page_view", at(second, "11:00"), "w-04"), // after the link: still s0001's
		ev("u0003", "v-0001", "login", at(second, "12:00"), "w-05"),
		ev("", "v-shared", "page_view", at(first, "07:00"), "w-06"),
		ev("u0004", "v-shared", tracker.TypeIdentify, at(first, "08:00"), "w-07"),
		ev("u0002", "v-shared", "login", at(second, "13:00"), "w-08"),
		ev("", "v-shared", "page_view", at(second, "14:00"), "w-09"),
		// r0001 stops coming back after the second day (rotting accounts).
		ev("r0001", "", "login", at(first, "15:00"), "w-12"),
		ev("r0001", "", "page_view", at(second, "15:00"), "w-13"),
	)
	slices.SortFunc(w.events, func(a, b laketest.Event) int { return strings.Compare(a.EventAt+a.EventID, b.EventAt+b.EventID) })
	last := end.Format(tracker.DateLayout)
	prev := end.AddDate(0, 0, -1).Format(tracker.DateLayout)
	for _, e := range w.events {
		if e.Day() == last || e.Day() == prev || e.EventID == "w-08" || e.EventID == "w-02" {
			w.hot = append(w.hot, e)
		}
	}
	w.hot = append(w.hot,
		ev("u0002", "hot-cookie", "login", at(end, "22:00"), "w-10"),
		ev("", "hot-cookie", "page_view", at(end, "21:00"), "w-11"),
	)
	w.summary = map[string]map[string]any{
		"u#u0002":    {"anonymous_ids": []string{"c-u0002", "v-shared", "hot-cookie"}, "actions": 9},
		"u#s0001":    {"anonymous_ids": []string{"v-0001"}, "actions": 3},
		"u#u0003":    {"anonymous_ids": []string{"c-u0003", "v-0001"}, "actions": 5},
		"u#u0004":    {"anonymous_ids": []string{"v-shared"}, "actions": 2},
		"a#v-0001":   {"user_id": "s0001"},
		"a#v-shared": {"user_id": "u0004"},
		"a#c-u0002":  {"user_id": "u0002"},
		"a#c-u0003":  {"user_id": "u0003"},
	}
	return w
}

// linked computes, independently of the lake's SQL, the anonymous IDs an
// erasure of users must forget: first links (by event_at, then event_id) in
// the history, and the hot store's anonymous IDs without a link anywhere.
func (w *world) linked(users []string) map[string]bool {
	owner := map[string]string{}
	for _, e := range w.events { // sorted by time, then ID
		if e.UserID != "" && e.AnonymousID != "" {
			if _, ok := owner[e.AnonymousID]; !ok {
				owner[e.AnonymousID] = e.UserID
			}
		}
	}
	out := map[string]bool{}
	for a, u := range owner {
		if slices.Contains(users, u) {
			out[a] = true
		}
	}
	for _, e := range w.hot {
		if slices.Contains(users, e.UserID) && e.AnonymousID != "" {
			if _, known := owner[e.AnonymousID]; known {
				continue
			}
			if s, ok := w.summary["a#"+e.AnonymousID]; ok && !slices.Contains(users, s["user_id"].(string)) {
				continue
			}
			out[e.AnonymousID] = true
		}
	}
	return out
}

// forgotten reports whether an erasure of users removes e.
func (w *world) forgotten(e laketest.Event, users []string, linked map[string]bool) bool {
	if e.UserID != "" {
		return slices.Contains(users, e.UserID)
	}
	return linked[e.AnonymousID]
}

// seedHot puts the hot events with the real tracker and the summary items
// into the test's tables.
func (w *world) seedHot(t testing.TB, env *dynamolocal.Env) {
	t.Helper()
	ctx := context.Background()
	tr, err := tracker.New(env.Client, tracker.Config{EventsTable: env.EventsTable, SummaryTable: env.SummaryTable,
		Now: func() time.Time { return time.Now().Add(48 * time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range w.hot {
		when, err := time.Parse(tracker.TimeLayout, e.EventAt)
		if err != nil {
			t.Fatal(err)
		}
		if err := tr.Put(ctx, tracker.Event{UserID: e.UserID, AnonymousID: e.AnonymousID, Type: e.EventType, At: when, ID: e.EventID,
			UserAgent: e.UserAgent, IP: e.IPAddress, Attributes: e.Attributes}); err != nil {
			t.Fatalf("put %+v: %v", e, err)
		}
	}
	for actor, attrs := range w.summary {
		item := map[string]types.AttributeValue{tracker.AttrActor: &types.AttributeValueMemberS{Value: actor}}
		for k, v := range attrs {
			switch v := v.(type) {
			case []string:
				item[k] = &types.AttributeValueMemberSS{Value: v}
			default:
				av, err := attributevalue.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				item[k] = av
			}
		}
		if _, err := env.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: &env.SummaryTable, Item: item}); err != nil {
			t.Fatal(err)
		}
	}
}

// hotCounts returns the number of events of each actor in the events table
// and whether each actor has a summary item.
func hotCounts(t testing.TB, env *dynamolocal.Env) (events map[string]int, summary map[string]bool) {
	t.Helper()
	ctx := context.Background()
	events, summary = map[string]int{}, map[string]bool{}
	for _, p := range []struct {
		table string
		fn    func(map[string]types.AttributeValue)
	}{
		{env.EventsTable, func(it map[string]types.AttributeValue) {
			events[it[tracker.AttrActor].(*types.AttributeValueMemberS).Value]++
		}},
		{env.SummaryTable, func(it map[string]types.AttributeValue) {
			summary[it[tracker.AttrActor].(*types.AttributeValueMemberS).Value] = true
		}},
	} {
		in := &dynamodb.ScanInput{TableName: aws.String(p.table)}
		for {
			out, err := env.Client.Scan(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range out.Items {
				p.fn(it)
			}
			if len(out.LastEvaluatedKey) == 0 {
				break
			}
			in.ExclusiveStartKey = out.LastEvaluatedKey
		}
	}
	return events, summary
}

func newHot(t testing.TB, env *dynamolocal.Env) *lake.HotStore {
	t.Helper()
	h, err := lake.NewHotStore(env.Client, env.EventsTable, env.SummaryTable)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// actorsOf lists the actor keys of users and anonymous IDs.
func actorsOf(users []string, linked map[string]bool) []string {
	var out []string
	for _, u := range users {
		out = append(out, "u#"+u)
	}
	for a := range linked {
		out = append(out, "a#"+a)
	}
	slices.Sort(out)
	return out
}

func describeCounts(m map[string]int) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%d ", k, m[k])
	}
	return b.String()
}
