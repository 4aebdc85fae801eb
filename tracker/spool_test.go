package tracker_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/faultdb"
	"github.com/eventlake/eventlake/tracker"
)

// segments returns the spool's segment files.
func segments(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// putSeq puts n events of user (one in three with a caller ID) with
// attribute seq from..from+n-1.
func putSeq(t *testing.T, w *tracker.AsyncWriter, user string, from, n int) {
	t.Helper()
	ctx := testCtx(t, time.Minute)
	for i := from; i < from+n; i++ {
		e := tracker.Event{UserID: user, Type: "page_view", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
			Attributes: map[string]string{"seq": strconv.Itoa(i)}}
		if i%3 == 0 {
			e.ID = user + "-" + strconv.Itoa(i)
		}
		if err := w.Put(ctx, e); err != nil {
			t.Fatalf("put %d: %v", i, err)
		}
	}
}

// checkSeqOnce checks that the table holds each seq of user in [0, n)
// exactly once and nothing else of user.
func checkSeqOnce(t *testing.T, env *dynamolocal.Env, user string, n int) {
	t.Helper()
	seen := map[string]int{}
	ids := map[string]bool{}
	for _, row := range queryStrings(t, env, user, "attributes.seq", tracker.FieldEventID) {
		seen[row[0]]++
		if ids[row[1]] {
			t.Errorf("event_id %s stored twice", row[1])
		}
		ids[row[1]] = true
	}
	bad := 0
	for i := range n {
		if c := seen[strconv.Itoa(i)]; c != 1 && bad < 10 {
			bad++
			t.Errorf("%s seq %d stored %d times, want once", user, i, c)
		}
	}
	if len(seen) != n {
		t.Errorf("%s has %d distinct events, want %d", user, len(seen), n)
	}
}

// TestSpoolRemovesWrittenSegments writes through a spool with small
// segments: files of written events are removed as the writer goes, and
// none is left after Close.
func TestSpoolRemovesWrittenSegments(t *testing.T) {
	for _, policy := range []tracker.SpoolSync{tracker.SpoolSyncPeriodic, tracker.SpoolSyncAlways} {
		t.Run(map[tracker.SpoolSync]string{tracker.SpoolSyncPeriodic: "periodic", tracker.SpoolSyncAlways: "always"}[policy], func(t *testing.T) {
			env := newWriteEnv(t)
			tr := newWriteTracker(t, env, nil, tracker.Config{})
			dir := t.TempDir()
			var log errorLog
			w, err := tr.NewAsyncWriter(tracker.AsyncConfig{
				SpoolDir: dir, SpoolSync: policy, SpoolSegmentBytes: 4096, SpoolSyncInterval: 10 * time.Millisecond,
				FullPolicy: tracker.WaitWhenFull, OnError: log.onError,
			})
			if err != nil {
				t.Fatal(err)
			}
			const n = 1500
			putSeq(t, w, "spooled", 0, n)
			if err := w.Flush(testCtx(t, time.Minute)); err != nil {
				t.Fatal(err)
			}
			// About 100 bytes a record: 1,500 events filled ~35 files of 4 KiB;
			// all but the one being appended to are written and gone.
			if files := segments(t, dir); len(files) > 1 {
				t.Errorf("%d segment files after Flush, want at most the active one", len(files))
			}
			if err := w.Close(testCtx(t, time.Minute)); err != nil {
				t.Fatal(err)
			}
			if files := segments(t, dir); len(files) != 0 {
				t.Errorf("segment files left after Close: %v", files)
			}
			if s := w.Stats(); s.Accepted != n || s.Written != n || s.Replayed != 0 || s.Deferred != 0 || log.count() != 0 {
				t.Errorf("stats %+v, %d errors; want %d written", s, log.count(), n)
			}
			checkSeqOnce(t, env, "spooled", n)
		})
	}
}

// TestSpoolReplaysWhatCloseLeft stalls DynamoDB so that Close gives up:
// with a spool the unwritten events are left there (not failed, not
// reported), and the next writer with the same SpoolDir writes them; the
// events written before the stall, whose records share the files, are
// written again without a conflict or a second item.
func TestSpoolReplaysWhatCloseLeft(t *testing.T) {
	env := newWriteEnv(t)
	fdb, err := faultdb.New(env.Client, faultdb.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr := newWriteTracker(t, env, fdb, tracker.Config{})
	dir := t.TempDir()
	var log errorLog
	cfg := tracker.AsyncConfig{SpoolDir: dir, OnError: log.onError, FullPolicy: tracker.WaitWhenFull}
	w, err := tr.NewAsyncWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	putSeq(t, w, "deferred", 0, 100)
	if err := w.Flush(testCtx(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	fdb.Stall()
	putSeq(t, w, "deferred", 100, 200)
	short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = w.Close(short)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "left in the spool") {
		t.Fatalf("Close = %v, want DeadlineExceeded and events left in the spool", err)
	}
	s := w.Stats()
	if s.Accepted != 300 || s.Written != 100 || s.Deferred != 200 || s.Failed != 0 || log.count() != 0 {
		t.Fatalf("stats %+v, %d errors; want 100 written, 200 deferred, none failed or reported", s, log.count())
	}
	if len(segments(t, dir)) == 0 {
		t.Fatal("no segment file left for the deferred events")
	}
	fdb.Resume()

	// The next writer, on the same directory.
	w2, err := tr.NewAsyncWriter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(testCtx(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	s2 := w2.Stats()
	t.Logf("first writer %+v; second %+v", s, s2)
	// Its replay holds the 200 and those of the first 100 whose records
	// share a file with them (here all: one file).
	if s2.Replayed < 200 || s2.Replayed > 300 || s2.Written != s2.Replayed || s2.Failed != 0 || log.count() != 0 {
		t.Errorf("second writer %+v, %d errors; want the 200 left (and some already written) replayed and written without a conflict", s2, log.count())
	}
	if files := segments(t, dir); len(files) != 0 {
		t.Errorf("segment files left after the replay: %v", files)
	}
	checkSeqOnce(t, env, "deferred", 300)
}

// TestSpoolLocked checks that a second writer cannot share a SpoolDir
// while the first runs, and can once it is closed.
func TestSpoolLocked(t *testing.T) {
	tr := newValidatingTracker(t, tracker.Config{})
	dir := t.TempDir()
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{SpoolDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if w2, err := tr.NewAsyncWriter(tracker.AsyncConfig{SpoolDir: dir}); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second writer on the spool: %v, want an error saying it is in use", err)
		if w2 != nil {
			w2.Close(context.Background())
		}
	}
	if err := w.Close(testCtx(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	w2, err := tr.NewAsyncWriter(tracker.AsyncConfig{SpoolDir: dir})
	if err != nil {
		t.Fatalf("writer after the first closed: %v", err)
	}
	w2.Close(testCtx(t, time.Minute))

	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.NewAsyncWriter(tracker.AsyncConfig{SpoolDir: filepath.Join(file, "spool")}); err == nil {
		t.Error("a spool under a regular file was accepted")
	}
}

// TestSpoolReplayEdgeCases replays a spool whose last record is torn (a
// crash in the middle of a write: a warning, the records before it are
// written) and whose events the new writer's configuration refuses (they
// fail through OnError with a validation error and leave the spool).
func TestSpoolReplayEdgeCases(t *testing.T) {
	env := newWriteEnv(t)
	fdb, err := faultdb.New(env.Client, faultdb.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr := newWriteTracker(t, env, fdb, tracker.Config{})
	dir := t.TempDir()
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{SpoolDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	fdb.Stall()
	ctx := testCtx(t, time.Minute)
	for i := range 10 {
		typ := "click"
		if i%2 == 0 {
			typ = "impression"
		}
		if err := w.Put(ctx, tracker.Event{UserID: "edge", Type: typ, Attributes: map[string]string{"seq": strconv.Itoa(i)}}); err != nil {
			t.Fatal(err)
		}
	}
	abort, cancel := context.WithCancel(ctx)
	cancel()
	_ = w.Close(abort)
	fdb.Resume()
	files := segments(t, dir)
	if len(files) != 1 {
		t.Fatalf("segment files %v, want 1", files)
	}
	f, err := os.OpenFile(files[0], os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte{200, 0, 0, 0, 1, 2, 3}); err != nil { // a torn record
		t.Fatal(err)
	}
	f.Close()

	var logBuf syncBuffer
	var log errorLog
	tr2 := newWriteTracker(t, env, nil, tracker.Config{EventTypes: []string{"click"}}) // impressions are no longer allowed
	w2, err := tr2.NewAsyncWriter(tracker.AsyncConfig{SpoolDir: dir, OnError: log.onError,
		Logger: slog.New(slog.NewJSONHandler(&logBuf, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if s := w2.Stats(); s.Replayed != 10 || s.Written != 5 || s.Failed != 5 {
		t.Errorf("stats %+v, want 10 replayed: 5 written, 5 failed", s)
	}
	if n := log.count(); n != 5 {
		t.Errorf("OnError called %d times, want 5", n)
	}
	for _, errs := range log.errs {
		if !errors.Is(errs[0], tracker.ErrInvalidEvent) || !strings.Contains(errs[0].Error(), "replay") {
			t.Errorf("OnError got %v, want a validation error of the replay", errs[0])
		}
	}
	if !strings.Contains(logBuf.String(), "torn or corrupt") || !strings.Contains(logBuf.String(), `"bytes_ignored":7`) {
		t.Errorf("no warning about the torn record: %s", logBuf.String())
	}
	if files := segments(t, dir); len(files) != 0 {
		t.Errorf("segment files left: %v", files)
	}
	if n := len(queryUser(t, env, "edge")); n != 5 {
		t.Errorf("%d items, want the 5 clicks", n)
	}
}
