package tracker_test

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/faultdb"
	"github.com/eventlake/eventlake/tracker"
)

// errorLog collects what an AsyncWriter reports to OnError.
type errorLog struct {
	mu   sync.Mutex
	errs map[string][]error // by event ID
}

func (l *errorLog) onError(e tracker.Event, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.errs == nil {
		l.errs = map[string][]error{}
	}
	l.errs[e.ID] = append(l.errs[e.ID], err)
}

func (l *errorLog) get(id string) []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.errs[id]
}

func (l *errorLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, errs := range l.errs {
		n += len(errs)
	}
	return n
}

// TestCallerIDsNeverOverwritten is issue 14's case: a second, different
// event with the same user, millisecond and caller-supplied ID, written in a
// later batch than the first, must not overwrite it (which BatchWriteItem
// did: DynamoDB held one event, the lake the other, and OnError never
// heard). It is reported as ErrDuplicateEvent, whichever writer put the
// first; identical copies are fine; the stream sees one INSERT per key and
// no MODIFY.
func TestCallerIDsNeverOverwritten(t *testing.T) {
	env := dynamolocal.NewEnv(t) // with the stream, to see what the lake would get
	tr := newWriteTracker(t, env, nil, tracker.Config{})
	ctx := testCtx(t, 2*time.Minute)
	var log errorLog
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{OnError: log.onError})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute)
	first := func(id string) tracker.Event {
		return tracker.Event{UserID: "conflict", Type: "purchase", At: at, ID: id, Attributes: map[string]string{"sku": "A-1"}}
	}
	second := func(id string) tracker.Event {
		e := first(id)
		e.Attributes = map[string]string{"sku": "B-2"}
		return e
	}
	putAsync := func(e tracker.Event) {
		t.Helper()
		if err := w.Put(ctx, e); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil { // the next Put goes into another batch
			t.Fatal(err)
		}
	}

	// AsyncWriter, then AsyncWriter: the case.
	putAsync(first("order-1"))
	putAsync(second("order-1"))
	putAsync(first("order-1")) // an identical retry
	// Tracker.Put, then AsyncWriter.
	if err := tr.Put(ctx, first("order-2")); err != nil {
		t.Fatal(err)
	}
	putAsync(second("order-2"))
	putAsync(first("order-2"))
	// AsyncWriter, then Tracker.Put.
	putAsync(first("order-3"))
	if err := tr.Put(ctx, second("order-3")); !errors.Is(err, tracker.ErrDuplicateEvent) {
		t.Errorf("Tracker.Put over an AsyncWriter's event: %v, want ErrDuplicateEvent", err)
	}
	if err := tr.Put(ctx, first("order-3")); err != nil {
		t.Errorf("Tracker.Put of the identical event: %v", err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}

	for _, id := range []string{"order-1", "order-2"} {
		errs := log.get(id)
		if len(errs) != 1 || !errors.Is(errs[0], tracker.ErrDuplicateEvent) {
			t.Errorf("%s: OnError got %v, want one ErrDuplicateEvent", id, errs)
		}
	}
	if errs := log.get("order-3"); len(errs) != 0 {
		t.Errorf("order-3: OnError got %v, want nothing", errs)
	}
	if s := w.Stats(); s.Accepted != 6 || s.Written != 4 || s.Failed != 2 {
		t.Errorf("stats %+v, want 6 accepted, 4 written (identical copies included), 2 failed", s)
	}
	items := queryUser(t, env, "conflict")
	if len(items) != 3 {
		t.Fatalf("%d items, want 3", len(items))
	}
	for _, it := range items {
		if got := stringAt(it, "attributes.sku"); got != "A-1" {
			t.Errorf("%s holds sku %s: the first event was overwritten", stringAt(it, tracker.FieldEventID), got)
		}
	}
	if kinds := streamRecordKinds(t, env); kinds["INSERT"] != 3 || len(kinds) != 1 {
		t.Errorf("stream records %v, want exactly 3 INSERT: the lake must see what DynamoDB holds", kinds)
	}
}

// TestCallerIDConflictsRace has two writers put different events under the
// same 300 keys at the same time: for every key exactly one event is stored,
// the other writer reports exactly that key's other event, and nothing is
// overwritten (the stored event is the one not reported).
func TestCallerIDConflictsRace(t *testing.T) {
	env := newWriteEnv(t)
	tr := newWriteTracker(t, env, nil, tracker.Config{})
	ctx := testCtx(t, 5*time.Minute)
	const keys = 300
	at := time.Now().Add(-time.Minute)
	var logs [2]errorLog
	var wg sync.WaitGroup
	for v := range 2 {
		w, err := tr.NewAsyncWriter(tracker.AsyncConfig{OnError: logs[v].onError, Linger: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for k := range keys {
				e := tracker.Event{UserID: "race-" + strconv.Itoa(k%7), Type: "click", At: at, ID: "k" + strconv.Itoa(k),
					Attributes: map[string]string{"writer": strconv.Itoa(v)}}
				if err := w.Put(ctx, e); err != nil {
					t.Error(err)
				}
			}
			if err := w.Close(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := logs[0].count() + logs[1].count(); n != keys {
		t.Errorf("%d conflicts reported, want %d (one per key)", n, keys)
	}
	stored := 0
	for u := range 7 {
		for _, row := range queryStrings(t, env, "race-"+strconv.Itoa(u), tracker.FieldEventID, "attributes.writer") {
			stored++
			v, _ := strconv.Atoi(row[1])
			if got, other := logs[v].get(row[0]), logs[1-v].get(row[0]); len(got) != 0 || len(other) != 1 ||
				!errors.Is(other[0], tracker.ErrDuplicateEvent) {
				t.Errorf("%s stored from writer %d; writer %d reported %v, writer %d reported %v", row[0], v, v, got, 1-v, other)
			}
		}
	}
	if stored != keys {
		t.Errorf("%d items, want %d", stored, keys)
	}
}

// TestCallerIDLostResponse loses the response of half the conditional
// writes: the retry finds the item its first attempt stored, which is no
// conflict.
func TestCallerIDLostResponse(t *testing.T) {
	env := newWriteEnv(t)
	fdb, err := faultdb.New(env.Client, faultdb.Config{Seed: 11, TimeoutAfterRate: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	tr := newWriteTracker(t, env, fdb, tracker.Config{})
	var log errorLog
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{OnError: log.onError, Retry: tracker.RetryPolicy{MaxAttempts: 30, BaseDelay: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t, 2*time.Minute)
	for i := range 100 {
		if err := w.Put(ctx, tracker.Event{UserID: "lost", Type: "click", ID: "lost-" + strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if f := fdb.Stats(); f.TimedOutAfter == 0 {
		t.Fatalf("no response lost (%+v): the test proves nothing", f)
	}
	if s := w.Stats(); s.Written != 100 || s.Failed != 0 || s.Retried == 0 || log.count() != 0 {
		t.Errorf("stats %+v, %d errors reported; want 100 written after retries, none failed", s, log.count())
	}
	if n := len(queryUser(t, env, "lost")); n != 100 {
		t.Errorf("%d items, want 100", n)
	}
}
