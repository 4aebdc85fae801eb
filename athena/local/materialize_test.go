package local_test

import (
	"context"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
	maint "github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lake/duckengine"
	"github.com/eventlake/eventlake/tracker"
)

// copyLake hard-links every file of the lake at src into a new folder, so
// that a test can change its copy (materialize, add objects, rewrite: every
// writer replaces files, never edits them) without touching the shared
// test lakes.
func copyLake(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "lake")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		return os.Link(p, filepath.Join(dst, rel))
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// maintained is a copy of a test lake with the lake's maintenance on it
// (DuckDB, as `eventlake compact -local` runs it), its clock today.
type maintained struct {
	root string
	lake *maint.Lake
}

func maintain(t *testing.T, src string) *maintained {
	t.Helper()
	root := copyLake(t, src)
	st, err := maint.NewFolderStore(root)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := duckengine.New(context.Background(), st, duckengine.Config{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close() })
	l, err := maint.New(st, eng, maint.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &maintained{root: root, lake: l}
}

// checkCases runs every known-answer case on the lake at root and compares
// it with the Go model of events (the identity rule over the whole
// history), and checks that the identities view read the materialization
// links names.
func checkCases(t *testing.T, root string, format athena.Format, l *testLake, events []lakegen.Event, links *athena.Links) {
	t.Helper()
	db := openLake(t, root, format)
	today := currentDate(t, db)
	m := newModel(events)
	for _, c := range cases(l, today) {
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
			want := c.want(m)
			if len(want.rows) == 0 && !c.empty {
				t.Error("the case selects nothing: it proves little")
			}
			compare(t, res, want)
		})
	}
	if got := db.Links(); (got == nil) != (links == nil) || (got != nil && *got != *links) {
		t.Errorf("the identities view read %+v, want %+v", got, links)
	}
}

// withEvents is the test lake's dataset with other events: the cases and
// the model are built from it.
func withEvents(l *testLake, events []lakegen.Event) *testLake {
	ds := *l.ds
	ds.Events = slices.Clone(events)
	slices.SortStableFunc(ds.Events, func(a, b lakegen.Event) int { return strings.Compare(a.EventAt, b.EventAt) })
	c := *l
	c.ds = &ds
	return &c
}

// TestQueriesMatchGoMaterialized runs the known-answer cases of
// TestQueriesMatchGo on lakes whose identity links are materialized, and
// compares them with the same Go model (the first-link rule over the whole
// history): the answers must not change. On each format with the default
// watermark (yesterday); on the mixed lake also with a watermark in the
// middle of the history, after links older than the watermark arrived late
// (an anonymous ID identified earlier as another user than its first link
// said, and a visitor linked only by the late object), and after an
// erasure.
func TestQueriesMatchGoMaterialized(t *testing.T) {
	l := getLake(t)
	ctx := context.Background()
	for _, lk := range l.lakes() {
		t.Run(lk.name, func(t *testing.T) {
			mt := maintain(t, lk.root)
			res, err := mt.lake.MaterializeIdentities(ctx, maint.IdentitiesOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Skipped != "" || res.Rows == 0 {
				t.Fatalf("materialization %+v", res)
			}
			checkCases(t, mt.root, lk.format, l, l.ds.Events, &athena.Links{Run: res.Run, Watermark: res.Watermark})
		})
	}

	mt := maintain(t, l.mixed)
	mid := addDays(l.ds.End, -45)
	res, err := mt.lake.MaterializeIdentities(ctx, maint.IdentitiesOptions{Watermark: mid})
	if err != nil || res.Watermark != mid {
		t.Fatalf("materialize up to %s: %+v %v", mid, res, err)
	}
	t.Run("mid-history", func(t *testing.T) {
		checkCases(t, mt.root, "", l, l.ds.Events, &athena.Links{Run: res.Run, Watermark: mid})
	})

	// The default watermark again (yesterday): the watermark moved, so the
	// materialization is due.
	res, err = mt.lake.MaterializeIdentities(ctx, maint.IdentitiesOptions{})
	if err != nil || res.Skipped != "" || res.Watermark != addDays(l.ds.End, -1) {
		t.Fatalf("materialize up to yesterday: %+v %v", res, err)
	}
	watermark := res.Watermark

	// Links older than the watermark arrive late: for an anonymous ID
	// linked after the watermark's day to one user, an identify of another
	// user a day before (so it is identified twice and the late link is
	// the first), and a visitor linked only by the late object. Both go to
	// a day before the watermark, which the materialization read already,
	// older than the middle of the history.
	m := newModel(l.ds.Events)
	r := findRoles(l.ds)
	var target lakegen.Event
	for _, anon := range slices.Sorted(maps.Keys(m.link)) {
		link := m.link[anon]
		if link.Dt > addDays(mid, 5) && anon != r.family && link.UserID != r.converted {
			target = link
			break
		}
	}
	if target.AnonymousID == "" {
		t.Fatal("no link after the watermark to move")
	}
	lateDay := addDays(mid, -10)
	var newcomer string
	for _, e := range l.ds.Events {
		if e.UserID == "" && e.AnonymousID != "" && m.user(e) == "" && !e.IsBot && e.Dt < lateDay {
			newcomer = e.AnonymousID
			break
		}
	}
	if newcomer == "" {
		t.Fatal("no never-identified visitor before the late day")
	}
	other := r.busiest
	if other == target.UserID {
		other = r.latest
	}
	late := []lakegen.Event{
		lakegen.FromTracker(tracker.Event{UserID: other, AnonymousID: target.AnonymousID, Type: tracker.TypeIdentify,
			At: mustTime(lateDay + "T09:00:00.000Z"), ID: "late-identify-1", UserAgent: chromeUA}),
		lakegen.FromTracker(tracker.Event{UserID: r.busiest, AnonymousID: newcomer, Type: tracker.TypeIdentify,
			At: mustTime(lateDay + "T09:30:00.000Z"), ID: "late-identify-2", UserAgent: chromeUA}),
	}
	for i := range late {
		late[i].Dt = late[i].Day()
	}
	dir := t.TempDir()
	lateDS := &lakegen.Dataset{Deliveries: late}
	paths, err := lateDS.WriteNDJSON(dir, lakegen.Layout{PerObject: 10})
	if err != nil || len(paths) != 1 {
		t.Fatalf("late object: %v %v", paths, err)
	}
	lateKey := filepath.Join(mt.root, "events", "dt="+lateDay, "late-delivery.gz")
	if err := os.Rename(paths[0], lateKey); err != nil {
		t.Fatal(err)
	}
	events := append(slices.Clone(l.ds.Events), late...)
	withLate := withEvents(l, events)
	if newModel(events).link[target.AnonymousID].UserID != other {
		t.Fatalf("the late link does not move %s", target.AnonymousID)
	}
	// Until the next maintenance run the view reads the materialization,
	// which lacks the late links: the window docs/athena.md describes.
	db := openLake(t, mt.root, "")
	stale, err := db.Query(ctx, "SELECT user_id FROM identities WHERE anonymous_id = ?", target.AnonymousID)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale.Rows) != 1 || stale.Rows[0][0].String != target.UserID {
		t.Errorf("before the next run %s maps to %v, want still %s", target.AnonymousID, stale.Rows, target.UserID)
	}
	// The next run compacts the day that received the object and, the day
	// being older than the watermark, materializes again.
	cres, err := mt.lake.Compact(ctx, maint.CompactOptions{Days: []string{lateDay}})
	if err != nil {
		t.Fatal(err)
	}
	id := cres.Identities
	if id == nil || id.Skipped != "" || id.Watermark != watermark || !slices.Equal(id.Stale, []string{lateDay}) {
		t.Fatalf("after the late object: identities %+v, want %s stale, the watermark still %s", id, lateDay, watermark)
	}
	t.Run("late-links", func(t *testing.T) {
		checkCases(t, mt.root, "", withLate, events, &athena.Links{Run: id.Run, Watermark: id.Watermark})
	})

	// An erasure: a user with a linked anonymous ID that no case is about.
	roleUsers := map[string]bool{r.first: true, r.other: true, r.twoAnon: true, r.aliased: true, r.script: true, r.busiest: true,
		r.latest: true, r.gone1: true, r.gone2: true, r.converted: true, other: true, target.UserID: true}
	mLate := newModel(events)
	var forgotten string
	for _, anon := range slices.Sorted(maps.Keys(mLate.link)) {
		if u := mLate.link[anon].UserID; !roleUsers[u] && anon != r.family {
			forgotten = u
			break
		}
	}
	if forgotten == "" {
		t.Fatal("no user to forget")
	}
	anons := map[string]bool{}
	for anon, link := range mLate.link {
		if link.UserID == forgotten {
			anons[anon] = true
		}
	}
	fres, err := mt.lake.Forget(ctx, maint.ForgetRequest{UserIDs: []string{forgotten}, Request: "TICKET-1"}, maint.ForgetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if fres.Linked != len(anons) || fres.Identities == nil || fres.Identities.Skipped != "" {
		t.Fatalf("forget: %d linked (want %d), identities %+v", fres.Linked, len(anons), fres.Identities)
	}
	var kept []lakegen.Event
	for _, e := range events {
		if e.UserID == forgotten || (e.UserID == "" && anons[e.AnonymousID]) {
			continue
		}
		kept = append(kept, e)
	}
	t.Run("after-forget", func(t *testing.T) {
		checkCases(t, mt.root, "", withEvents(l, kept), kept, &athena.Links{Run: fres.Identities.Run, Watermark: fres.Identities.Watermark})
	})
	// Nothing of the forgotten user is left in any materialization.
	files, err := filepath.Glob(filepath.Join(mt.root, "identities", "run=*", "*.parquet"))
	if err != nil || len(files) == 0 {
		t.Fatalf("materialization files %v %v", files, err)
	}
	for _, f := range files {
		if !strings.Contains(f, "run="+fres.Identities.Run) {
			t.Errorf("an earlier materialization is left: %s", f)
		}
	}
	res2, err := db.Query(ctx, "SELECT count(*) FROM read_parquet('"+filepath.ToSlash(filepath.Join(mt.root, "identities"))+"/run=*/*.parquet') WHERE user_id = ?", forgotten)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Rows[0][0].String != "0" {
		t.Errorf("the materialization holds %s links of the forgotten user", res2.Rows[0][0].String)
	}
}

// TestMaterializedIdentitiesReadLess: with a materialization the identities
// view reads its files and the partitions from the watermark on, not every
// partition; FullScanIdentities reads every partition (and answers the
// same).
func TestMaterializedIdentitiesReadLess(t *testing.T) {
	l := getLake(t)
	ctx := context.Background()
	mt := maintain(t, l.parquet)
	res, err := mt.lake.MaterializeIdentities(ctx, maint.IdentitiesOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mat := openLake(t, mt.root, athena.FormatParquet)
	full, err := local.Open(ctx, local.Config{Root: mt.root, Format: athena.FormatParquet, FullScanIdentities: true})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	const q = "SELECT anonymous_id, user_id, linked_at FROM identities ORDER BY anonymous_id"
	a, err := mat.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	b, err := full.Query(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, a, table{cols: []string{"anonymous_id", "user_id", "linked_at"}, rows: b.Rows})
	var recent, all int
	for dt, objs := range l.objects {
		all += len(objs)
		if dt >= res.Watermark {
			recent += len(objs)
		}
	}
	t.Logf("identities: %d files and %d bytes materialized, %d files and %d bytes over every partition", a.Stats.FilesRead, a.Stats.BytesScanned,
		b.Stats.FilesRead, b.Stats.BytesScanned)
	if a.Stats.FilesRead != recent+res.Files || b.Stats.FilesRead != all {
		t.Errorf("files read: %d materialized (want %d of dt >= %s and %d of links), %d over every partition (want %d)",
			a.Stats.FilesRead, recent, res.Watermark, res.Files, b.Stats.FilesRead, all)
	}
	if a.Stats.BytesScanned*4 > b.Stats.BytesScanned {
		t.Errorf("the materialized view read %d bytes, the full scan %d: want far fewer", a.Stats.BytesScanned, b.Stats.BytesScanned)
	}
	if full.Links() != nil || mat.Links() == nil {
		t.Errorf("links: full scan %+v, materialized %+v", full.Links(), mat.Links())
	}
}

// TestLinksPointerErrors: a pointer the runner cannot use fails the query
// with the reason rather than answering without links.
func TestLinksPointerErrors(t *testing.T) {
	ctx := context.Background()
	for name, body := range map[string]string{
		"not json":        "{",
		"bad run":         `{"run": "x'; DROP", "watermark": "2026-11-01"}`,
		"missing files":   `{"run": "20261130T013000Z-1a2b3c", "watermark": "2026-11-01", "rows": 3}`,
		"bad watermark":   `{"run": "r1", "watermark": "yesterday"}`,
		"empty watermark": `{"run": "r1"}`,
	} {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			p := filepath.Join(root, filepath.FromSlash(athena.LinksPointerKey))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			db, err := local.Open(ctx, local.Config{Root: root})
			if err == nil {
				_, err = db.Query(ctx, "SELECT count(*) FROM identities")
				db.Close()
			}
			if err == nil || !strings.Contains(err.Error(), "identity links") {
				t.Errorf("pointer %s: %v", body, err)
			}
		})
	}
	// A materialization without rows (no link yet) has no files: fine.
	root := t.TempDir()
	p := filepath.Join(root, filepath.FromSlash(athena.LinksPointerKey))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(`{"run": "r1", "watermark": "2026-11-01", "rows": 0}`), 0o644); err != nil {
		t.Fatal(err)
	}
	db := openLake(t, root, "")
	res, err := db.Query(ctx, "SELECT count(*) FROM identities")
	if err != nil || res.Rows[0][0].String != "0" {
		t.Errorf("an empty materialization: %v %v", res, err)
	}
	if got := db.Links(); got == nil || got.Run != "r1" {
		t.Errorf("links %+v", got)
	}
}
