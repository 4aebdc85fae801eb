package laketest

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/tracker"
)

// Event is one event in the lake, as the Athena queries read it from the
// events_dedup view (one row per event, duplicate deliveries removed).
type Event struct {
	// Event holds the stored fields: the IDs, Type, At (UTC, milliseconds),
	// ID, UserAgent, IP (as the IP policy left it) and Attributes
	// (DefaultAttributes merged; nil when there are none).
	tracker.Event
	// Client is what the tracker classified from the user agent at write
	// time (device_type, browser, os, is_bot).
	Client tracker.Client
	// Person is who the lake's queries count the event for:
	// coalesce(user_id, identities.user_id), the user ID, or for an
	// anonymous event the user its visitor was first linked to; empty for a
	// visitor never identified.
	Person string
	// Date is the event's partition, the UTC day of At (dt=YYYY-MM-DD).
	Date string
}

// String describes the event on one line, for failure messages.
func (e Event) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.At.UTC().Format(tracker.TimeLayout), e.Type)
	for _, f := range []struct{ name, v string }{
		{"user_id", e.UserID}, {"anonymous_id", e.AnonymousID}, {"person", e.Person},
	} {
		if f.v != "" {
			fmt.Fprintf(&b, " %s=%q", f.name, f.v)
		}
	}
	if len(e.Attributes) > 0 {
		fmt.Fprintf(&b, " attributes=%s", formatAttributes(e.Attributes))
	}
	if e.Client.Bot {
		b.WriteString(" bot")
	}
	return b.String()
}

// Match selects events: every non-empty field must equal the event's, and
// every entry of Attributes must be among the event's attributes. The zero
// Match selects every event.
type Match struct {
	Type        string
	UserID      string
	AnonymousID string
	// Person selects the events the lake counts for a user: those with the
	// user ID, and the anonymous events of the visitors linked to the user
	// (see Event.Person). For a bad event, which never reached the lake,
	// Person is compared with its user ID.
	Person     string
	Attributes map[string]string
}

// Matches reports whether m selects the lake event e.
func (m Match) Matches(e Event) bool {
	return m.matches(e.Event, e.Person)
}

func (m Match) matches(e tracker.Event, person string) bool {
	if m.Type != "" && e.Type != m.Type || m.UserID != "" && e.UserID != m.UserID ||
		m.AnonymousID != "" && e.AnonymousID != m.AnonymousID || m.Person != "" && person != m.Person {
		return false
	}
	for k, v := range m.Attributes {
		if got, ok := e.Attributes[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// String describes m, for failure messages.
func (m Match) String() string {
	var parts []string
	if m.Type != "" {
		parts = append(parts, m.Type)
	}
	for _, f := range []struct{ name, v string }{
		{"user_id", m.UserID}, {"anonymous_id", m.AnonymousID}, {"person", m.Person},
	} {
		if f.v != "" {
			parts = append(parts, fmt.Sprintf("%s=%q", f.name, f.v))
		}
	}
	if len(m.Attributes) > 0 {
		parts = append(parts, "attributes⊇"+formatAttributes(m.Attributes))
	}
	if len(parts) == 0 {
		return "any event"
	}
	return strings.Join(parts, " ")
}

func formatAttributes(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%q", k, m[k])
	}
	b.WriteByte('}')
	return b.String()
}

// lakeSQL reads every event of events_dedup with its person, in time order.
// The attributes come as JSON text, which keeps every key and value exact.
var lakeSQL = fmt.Sprintf(`SELECT e.%[1]s, e.%[2]s, e.%[3]s, e.%[4]s, e.%[5]s, e.%[6]s, e.%[7]s,
  e.%[8]s, e.%[9]s, e.%[10]s, e.%[11]s, CAST(to_json(e.%[12]s) AS VARCHAR), e.%[13]s, coalesce(e.%[1]s, i.%[1]s)
FROM %[14]s e LEFT JOIN %[15]s i ON e.%[2]s = i.%[2]s
ORDER BY e.%[3]s, e.%[4]s`,
	tracker.FieldUserID, tracker.FieldAnonymousID, tracker.FieldEventAt, tracker.FieldEventID,
	tracker.FieldEventType, tracker.FieldUserAgent, tracker.FieldIPAddress, tracker.FieldDeviceType,
	tracker.FieldBrowser, tracker.FieldOS, tracker.FieldIsBot, tracker.FieldAttributes,
	tracker.PartitionColumn, athena.ViewName, athena.IdentitiesView)

// Events waits until everything put so far is in the lake (Drain), then
// returns the lake's events that m selects, in time order (event_at, then
// event_id). Without a deadline in ctx the wait is bounded by
// DefaultDrainTimeout.
func (l *Lake) Events(ctx context.Context, m Match) ([]Event, error) {
	all, err := l.read(ctx)
	if err != nil {
		return nil, err
	}
	var out []Event
	for _, e := range all {
		if m.Matches(e) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (l *Lake) read(ctx context.Context) ([]Event, error) {
	ctx, cancel := withDrainTimeout(ctx)
	defer cancel()
	if err := l.Drain(ctx); err != nil {
		return nil, err
	}
	db, err := l.p.Lake(ctx)
	if err != nil {
		return nil, fmt.Errorf("laketest: %w", err)
	}
	res, err := db.Query(ctx, lakeSQL)
	if err != nil {
		return nil, fmt.Errorf("laketest: read the lake: %w", err)
	}
	out := make([]Event, 0, len(res.Rows))
	for _, row := range res.Rows {
		if len(row) != 14 {
			return nil, fmt.Errorf("laketest: read the lake: %d columns, want 14", len(row))
		}
		at, err := time.Parse(tracker.TimeLayout, row[2].String)
		if err != nil {
			return nil, fmt.Errorf("laketest: read the lake: event_at %q: %w", row[2].String, err)
		}
		e := Event{
			Event: tracker.Event{
				UserID: row[0].String, AnonymousID: row[1].String, At: at, ID: row[3].String,
				Type: row[4].String, UserAgent: row[5].String, IP: row[6].String,
			},
			Client: tracker.Client{DeviceType: row[7].String, Browser: row[8].String, OS: row[9].String,
				Bot: row[10].String == "true"},
			Date:   row[12].String,
			Person: row[13].String,
		}
		if row[11].Valid {
			if err := json.Unmarshal([]byte(row[11].String), &e.Attributes); err != nil {
				return nil, fmt.Errorf("laketest: read the lake: attributes of event %s: %w", e.ID, err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// Bad returns the events the Lake refused or could not store so far, in the
// order they failed. It does not wait: an event the AsyncWriter accepted
// and fails later is listed once it has failed (after Drain at the latest).
func (l *Lake) Bad() []BadEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]BadEvent, len(l.bad))
	for i, b := range l.bad {
		out[i] = b
		out[i].Event = cloneEvent(b.Event)
	}
	return out
}

// Counts are Snowplow Micro's "all": how many events the application put
// through the Lake and where they went.
type Counts struct {
	// Total is every event handed to Put and PutBatch.
	Total int
	// Good is the events in the lake, each once (the rows of events_dedup).
	Good int
	// Bad is the events refused or not stored (len(Bad())).
	Bad int
	// Filtered is the events the tracker's Config.BeforeSend dropped:
	// accepted, never stored.
	Filtered int
	// Duplicates is the lake's rows beyond one per event: deliveries
	// repeated by retries, which events_dedup removes.
	Duplicates int
}

// Counts waits until everything put so far is in the lake (Drain), then
// counts. Total = Good + Bad + Filtered unless the application put the same
// event (same ID) more than once.
func (l *Lake) Counts(ctx context.Context) (Counts, error) {
	ctx, cancel := withDrainTimeout(ctx)
	defer cancel()
	if err := l.Drain(ctx); err != nil {
		return Counts{}, err
	}
	lc, err := l.p.Count(ctx)
	if err != nil {
		return Counts{}, fmt.Errorf("laketest: %w", err)
	}
	l.mu.Lock()
	bad := len(l.bad)
	l.mu.Unlock()
	return Counts{
		Total:      int(l.total.Load()),
		Good:       int(lc.Events),
		Bad:        bad,
		Filtered:   int(l.p.Writer.Stats().Filtered + l.p.Tracker.Stats().Filtered),
		Duplicates: int(lc.Lines - lc.Events),
	}, nil
}

// Query waits until everything put so far is in the lake (Drain), then runs
// the query of athena/queries called name (athena.Lookup) with its
// arguments, checked as the operator command checks them (dates as
// 2026-11-22, numbers in their ranges), on the lake: the SQL Athena runs in
// production, unchanged, on DuckDB. It returns one map per row from column
// name to value as Athena renders it; a NULL value's column is absent from
// its row. For the result itself (to print it as a table, say), run the
// query on Pipeline().Lake.
func (l *Lake) Query(ctx context.Context, name string, args ...string) ([]map[string]string, error) {
	q, err := athena.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("laketest: %w", err)
	}
	qargs, err := q.Args(args...)
	if err != nil {
		return nil, fmt.Errorf("laketest: %w", err)
	}
	ctx, cancel := withDrainTimeout(ctx)
	defer cancel()
	if err := l.Drain(ctx); err != nil {
		return nil, err
	}
	db, err := l.p.Lake(ctx)
	if err != nil {
		return nil, fmt.Errorf("laketest: %w", err)
	}
	res, err := db.Run(ctx, q, qargs)
	if err != nil {
		return nil, fmt.Errorf("laketest: %w", err)
	}
	rows := make([]map[string]string, len(res.Rows))
	for i, r := range res.Rows {
		rows[i] = make(map[string]string, len(r))
		for j, v := range r {
			if v.Valid {
				rows[i][res.Columns[j].Name] = v.String
			}
		}
	}
	return rows, nil
}

// withDrainTimeout bounds ctx by DefaultDrainTimeout unless it has a
// deadline.
func withDrainTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, DefaultDrainTimeout)
}
