package local_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
)

// oldLine is an event as the pipeline wrote it before schema v2: no
// anonymous_id, device_type, browser, os or is_bot.
type oldLine struct {
	UserID     string            `json:"user_id"`
	EventAt    string            `json:"event_at"`
	EventID    string            `json:"event_id"`
	EventType  string            `json:"event_type"`
	UserAgent  string            `json:"user_agent,omitempty"`
	IPAddress  string            `json:"ip_address,omitempty"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// oldColumns is the read_json columns of an old line.
const oldColumns = "{'user_id': 'VARCHAR', 'event_at': 'VARCHAR', 'event_id': 'VARCHAR', 'event_type': 'VARCHAR', " +
	"'user_agent': 'VARCHAR', 'ip_address': 'VARCHAR', 'attributes': 'MAP(VARCHAR, VARCHAR)'}"

// writeOld writes events as an old-schema gzip NDJSON object and, converted
// with the old columns only, as an old-schema Parquet object.
func writeOld(t *testing.T, gzPath, parquetPath string, events []lakegen.Event) {
	t.Helper()
	for _, p := range []string{gzPath, parquetPath} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Create(gzPath)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	enc := json.NewEncoder(zw)
	for _, e := range events {
		if err := enc.Encode(oldLine{e.UserID, e.EventAt, e.EventID, e.EventType, e.UserAgent, e.IPAddress, e.Attributes}); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	db := openEmptyLake(t)
	err = db.Exec(context.Background(), "COPY (SELECT user_id, event_at, event_id, event_type, user_agent, ip_address, attributes FROM read_json('"+
		filepath.ToSlash(gzPath)+"', format = 'newline_delimited', records = true, compression = 'gzip', columns = "+oldColumns+
		")) TO '"+filepath.ToSlash(parquetPath)+"' (FORMAT PARQUET, COMPRESSION GZIP)")
	if err != nil {
		t.Fatal(err)
	}
}

// TestOldSchemaObjects: a lake holding objects written before the tracker
// stored anonymous_id and the classification, next to new ones, still
// queries in both formats. The old rows read the new columns as NULL, so
// they are users' events (is_bot false through events_dedup) on an
// 'unknown' device. The old Parquet object lies in the first partition, so
// it is the first object DuckDB meets; the runner reads Parquet by column
// name (union_by_name) because of it.
func TestOldSchemaObjects(t *testing.T) {
	ds := lakegen.Generate(lakegen.Config{End: time.Date(2026, 3, 20, 0, 0, 0, 0, time.UTC), Days: 5, Users: 8, Events: 600})
	before := addDays(ds.Start, -1)
	old := []lakegen.Event{
		{UserID: "legacy-1", EventAt: before + "T09:00:00.000Z", EventID: "old-1", EventType: "login", UserAgent: chromeUA,
			IPAddress: "81.2.69.10", Attributes: map[string]string{"method": "password"}, Dt: before},
		{UserID: "legacy-2", EventAt: before + "T09:30:00.000Z", EventID: "old-2", EventType: "click", Dt: before},
		{UserID: "legacy-1", EventAt: ds.End + "T10:00:00.000Z", EventID: "old-3", EventType: "page_view", UserAgent: chromeUA,
			Attributes: map[string]string{"url": "https://app.example.com/"}, Dt: ds.End},
	}
	dir := t.TempDir()
	jsonRoot, pqRoot := filepath.Join(dir, "json"), filepath.Join(dir, "parquet")
	paths, err := ds.WriteNDJSON(jsonRoot, lakegen.Layout{PerObject: 100})
	if err != nil {
		t.Fatal(err)
	}
	w, err := local.NewParquetWriter()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, p := range paths {
		rel, _ := filepath.Rel(jsonRoot, p)
		out := filepath.Join(pqRoot, strings.TrimSuffix(rel, ".gz")+".parquet")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := w.Convert(context.Background(), out, p); err != nil {
			t.Fatal(err)
		}
	}
	for i, dt := range []string{before, ds.End} {
		var evs []lakegen.Event
		for _, e := range old {
			if e.Dt == dt {
				evs = append(evs, e)
			}
		}
		name := "events/dt=" + dt + "/" + "eventlake-events-1-old-" + string(rune('a'+i))
		writeOld(t, filepath.Join(jsonRoot, name+".gz"), filepath.Join(pqRoot, name+".parquet"), evs)
	}

	m := newModel(append(append([]lakegen.Event{}, old...), ds.Events...))
	end := ds.End
	cases := []queryCase{
		{"devices", []string{before, end}, func(m *model) table { return expectDevices(m, before, end) }, false},
		{"active_users", []string{end}, func(m *model) table { return expectActiveUsers(m, end) }, false},
		{"active_users", []string{before}, func(m *model) table { return expectActiveUsers(m, before) }, false},
		{"user_recent_activity", []string{"legacy-1", before}, func(m *model) table { return expectRecentActivity(m, "legacy-1", before) }, false},
		{"user_last_seen", []string{before, addDays(end, 1)}, func(m *model) table { return expectLastSeen(m, before, addDays(end, 1)) }, false},
		{"sessions", []string{before, end}, func(m *model) table { return expectSessions(m, before, end) }, false},
	}
	for format, root := range map[athena.Format]string{athena.FormatJSON: jsonRoot, athena.FormatParquet: pqRoot} {
		t.Run(string(format), func(t *testing.T) {
			db := openLake(t, root, format)
			res, err := db.Query(context.Background(),
				"SELECT count(*) FROM events_dedup WHERE dt >= ? AND user_id LIKE 'legacy-%' AND anonymous_id IS NULL AND device_type IS NULL AND NOT is_bot", before)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Rows[0][0].String; got != "3" {
				t.Errorf("%s old rows read, want 3", got)
			}
			for _, c := range cases {
				t.Run(c.query+"/"+strings.Join(c.args, ","), func(t *testing.T) {
					q, err := athena.Lookup(c.query)
					if err != nil {
						t.Fatal(err)
					}
					args, err := q.Args(c.args...)
					if err != nil {
						t.Fatal(err)
					}
					res, err := db.Run(context.Background(), q, args)
					if err != nil {
						t.Fatal(err)
					}
					compare(t, res, c.want(m))
				})
			}
		})
	}
}
