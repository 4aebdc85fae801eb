package tracker

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// FuzzSpoolRecord checks the spool's record format: any event round-trips
// through appendRecord and decodeRecords, a record cut short or with a
// flipped bit is never decoded as an event, and arbitrary bytes never make
// decodeRecords panic.
func FuzzSpoolRecord(f *testing.F) {
	f.Add("u-1", "", "page_view", "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "Mozilla/5.0", "198.51.100.7", "url", "/", int64(1_795_000_000_000), true, []byte{})
	f.Add("", "a-1", "login", "order_1", "", "", "", "", int64(1000), false, []byte{8, 0, 0, 0, 1, 2, 3, 4, 1, 0})
	f.Add("ユーザー", "cookie", "x", "y", "\xff", "::1", "k", "\x00v", int64(-1), true, []byte("\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, user, anon, typ, id, ua, ip, key, val string, ms int64, generated bool, junk []byte) {
		decodeRecords(junk) // must not panic

		e := Event{UserID: user, AnonymousID: anon, Type: typ, ID: id, UserAgent: ua, IP: ip, At: time.UnixMilli(ms).UTC()}
		if key != "" || val != "" {
			e.Attributes = map[string]string{key: val, key + "2": val}
		}
		rec := appendRecord(nil, &e, generated)
		two := appendRecord(appendRecord(nil, &e, generated), &e, !generated)
		evs, unread := decodeRecords(two)
		if unread != 0 || len(evs) != 2 {
			t.Fatalf("two records decoded as %d events with %d bytes unread", len(evs), unread)
		}
		for i, se := range evs {
			g := se.e
			if g.UserID != e.UserID || g.AnonymousID != e.AnonymousID || g.Type != e.Type || g.ID != e.ID ||
				g.UserAgent != e.UserAgent || g.IP != e.IP || !g.At.Equal(e.At) || !maps.Equal(g.Attributes, e.Attributes) ||
				se.generated != (generated != (i == 1)) {
				t.Fatalf("record %d decoded as %+v (generated %v), want %+v", i, se, se.generated, e)
			}
		}
		for cut := range len(rec) {
			if evs, unread := decodeRecords(rec[:cut]); len(evs) != 0 || unread != cut {
				t.Fatalf("a record cut to %d of %d bytes decoded as %d events", cut, len(rec), len(evs))
			}
		}
		flipped := append([]byte(nil), rec...)
		flipped[len(flipped)/2+4] ^= 0x10
		if evs, _ := decodeRecords(flipped); len(evs) != 0 {
			t.Fatalf("a record with a flipped bit decoded as %+v", evs)
		}
	})
}

// stallDB is a DynamoDB whose writes wait until their context ends.
type stallDB struct{ *dynamodb.Client }

func (stallDB) BatchWriteItem(ctx context.Context, _ *dynamodb.BatchWriteItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (stallDB) PutItem(ctx context.Context, _ *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// TestSpoolWriteFailure makes a spool write fail: Put returns the error,
// the event is not accepted and its slot is freed, nothing of it stays in
// the file, and the next Put works in a new segment.
func TestSpoolWriteFailure(t *testing.T) {
	tr, err := New(stallDB{dynamodb.New(dynamodb.Options{Region: "us-east-1"})}, Config{EventsTable: "t"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w, err := tr.NewAsyncWriter(AsyncConfig{SpoolDir: dir, QueueSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func() error { return w.Put(ctx, Event{UserID: "u", Type: "login"}) }
	if err := put(); err != nil {
		t.Fatal(err)
	}
	// Swap the active segment's file for a read-only handle of it.
	w.spool.mu.Lock()
	seg := w.spool.active
	w.spool.mu.Unlock()
	ro, err := os.Open(seg.path)
	if err != nil {
		t.Fatal(err)
	}
	seg.f.Close()
	seg.f = ro
	if err := put(); err == nil || !errors.Is(err, os.ErrClosed) && !errors.Is(err, os.ErrPermission) && !isBadFD(err) {
		t.Fatalf("Put with a failing spool = %v, want the write's error", err)
	}
	if s := w.Stats(); s.Accepted != 1 {
		t.Errorf("stats %+v, want the failed Put not accepted", s)
	}
	// Every slot taken is an element of the queue (until the dispatcher
	// takes it): the failed Put's slot was given back.
	for deadline := time.Now().Add(10 * time.Second); len(w.slots) != 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := len(w.slots); n != 0 {
		t.Errorf("%d slots taken with an empty queue, want 0", n)
	}
	if err := put(); err != nil {
		t.Fatalf("Put after a failed spool write: %v", err)
	}
	abort, cancel := context.WithCancel(ctx)
	cancel()
	_ = w.Close(abort)
	if s := w.Stats(); s.Accepted != 2 || s.Deferred != 2 || s.Failed != 0 {
		t.Errorf("stats %+v, want 2 accepted and left in the spool", s)
	}
	var events int
	files, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		evs, unread := decodeRecords(data)
		events += len(evs)
		if unread != 0 {
			t.Errorf("%s: %d bytes unread", f, unread)
		}
	}
	if events != 2 {
		t.Errorf("the spool holds %d events in %d files, want the 2 accepted", events, len(files))
	}
}

func isBadFD(err error) bool {
	var pe *os.PathError
	return errors.As(err, &pe)
}
