package summary_test

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/lambdas/summarize/summary"
)

// downStore is a lake store whose reads fail while down is set.
type downStore struct {
	lake.Store
	down atomic.Bool
}

func (d *downStore) Get(ctx context.Context, key string) ([]byte, lake.Object, error) {
	if d.down.Load() {
		return nil, lake.Object{}, errors.New("injected: the bucket does not answer")
	}
	return d.Store.Get(ctx, key)
}

// TestSuppressedActorsAreNotWritten runs the handler with the lake's
// suppression list (lake.SuppressionCache on a folder store, as main wires
// it on the lake bucket): the events of a forgotten user and visitor are
// skipped, a kept user's event on the forgotten visitor's browser counts
// without linking it, an actor forgotten while its window was open is not
// written and a visitor's link to it is dropped, and while the list never
// loaded the batch is retried and nothing is written.
func TestSuppressedActorsAreNotWritten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	folder, err := lake.NewFolderStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lake.AddSuppression(ctx, folder, []lake.SuppressionEntry{{Hash: lake.UserHash("gone")}, {Hash: lake.AnonymousHash("a-gone")}}); err != nil {
		t.Fatal(err)
	}
	store := &downStore{Store: folder}
	store.down.Store(true)
	cache, err := lake.NewSuppressionCache(ctx, store, lake.SuppressionCacheConfig{Refresh: time.Nanosecond, Logger: slog.New(slog.DiscardHandler)})
	if err == nil || cache.Loaded() {
		t.Fatalf("a cache on a failing store loaded: %v", err)
	}
	f := newFixture(t, nil, summary.Config{Window: time.Minute, Suppression: cache})
	w := newWindow(t0, time.Minute)
	batch := []stored{
		{seq: 1, user: "alice", id: "e1", at: ms(10)},
		{seq: 2, user: "gone", id: "e2", at: ms(11)},
		{seq: 3, anon: "a-gone", id: "e3", at: ms(12)},
		{seq: 4, user: "alice", anon: "a-gone", id: "e4", at: ms(13)}, // alice's, on the forgotten visitor's browser
		{seq: 5, user: "carol", anon: "c-cookie", id: "e5", at: ms(14)},
		{seq: 6, anon: "c-cookie", id: "e6", at: ms(15)},
	}
	// Never loaded: the batch is retried from its first record.
	resp, err := w.invoke(t, f.h, batch, false)
	if err != nil || len(resp.BatchItemFailures) != 1 || resp.BatchItemFailures[0].ItemIdentifier != batch[0].record().Change.SequenceNumber {
		t.Fatalf("with the list never loaded: %+v, %v; want the batch retried", resp, err)
	}
	if lines := f.logs.summaries(t); len(lines) != 1 || lines[0]["error"] == nil {
		t.Errorf("the failed invocation's line: %v", lines)
	}
	store.down.Store(false)
	if resp, err := w.invoke(t, f.h, batch, false); err != nil || len(resp.BatchItemFailures) > 0 {
		t.Fatalf("once the list loads: %+v, %v", resp, err)
	}
	// carol is forgotten while the window is open.
	if _, err := lake.AddSuppression(ctx, folder, []lake.SuppressionEntry{{Hash: lake.UserHash("carol")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.invoke(t, f.h, nil, true); err != nil {
		t.Fatal(err)
	}
	calls := f.db.reset()
	if want := map[string]int{"u#alice": 1, "a#c-cookie": 1}; !reflect.DeepEqual(calls, want) {
		t.Errorf("UpdateItem calls per actor = %v, want %v", calls, want)
	}
	if alice := f.user(t, "alice"); alice.Actions != 2 || len(alice.AnonymousIDs) != 0 {
		t.Errorf("alice = %+v, want 2 actions and no link to the forgotten visitor", alice)
	}
	if c := f.visitor(t, "c-cookie"); c.Actions != 1 || c.UserID != "" {
		t.Errorf("c-cookie = %+v, want 1 action and no link to the forgotten carol", c)
	}
	for _, who := range []string{"gone", "carol"} {
		if s := f.user(t, who); s.Actions != 0 {
			t.Errorf("the forgotten %s has a summary: %+v", who, s)
		}
	}
	if s := f.visitor(t, "a-gone"); s.Actions != 0 {
		t.Errorf("the forgotten visitor has a summary: %+v", s)
	}
	lines := f.logs.summaries(t)
	if len(lines) != 3 {
		t.Fatalf("%d summary lines, want 3", len(lines))
	}
	if got := []any{lines[1][summary.LogFieldSuppressedEvents], lines[1][summary.LogFieldEvents]}; !slices.Equal(got, []any{2.0, 4.0}) {
		t.Errorf("aggregating line: suppressed, events = %v, want 2, 4", got)
	}
	if got := lines[2][summary.LogFieldSuppressedActors]; got != 1.0 {
		t.Errorf("final line: suppressed actors = %v, want 1 (carol)", got)
	}
}
