package tracker_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/faultdb"
	"github.com/eventlake/eventlake/tracker"
)

// The crash test runs this test binary again as the writer it kills; these
// variables tell the child what to do.
const (
	crashChildEnv    = "EVENTLAKE_TRACKER_CRASH_CHILD" // the spool directory
	crashEndpointEnv = "EVENTLAKE_TRACKER_CRASH_ENDPOINT"
	crashTableEnv    = "EVENTLAKE_TRACKER_CRASH_TABLE"
	crashGoroutines  = 4
	crashStallAfter  = 300  // written events before the child stalls DynamoDB
	crashKillAfter   = 3000 // accepted events before the parent kills the child
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		os.Exit(crashChild(dir))
	}
	os.Exit(m.Run())
}

// crashChild puts events through an AsyncWriter with a spool from
// crashGoroutines goroutines, printing "<goroutine> <seq>" for every Put
// that returned nil, until it is killed. DynamoDB throttles and loses
// responses, and stalls once crashStallAfter events are written, so that at
// the kill events are written, in flight, and queued.
func crashChild(dir string) int {
	ctx := context.Background()
	srv, err := dynamolocal.Start(ctx, dynamolocal.Options{Endpoint: os.Getenv(crashEndpointEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	client, err := srv.Client(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fdb, err := faultdb.New(client, faultdb.Config{Seed: 14, ThrottleRate: 0.2, TimeoutAfterRate: 0.2})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	tr, err := tracker.New(fdb, tracker.Config{EventsTable: os.Getenv(crashTableEnv)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{
		SpoolDir: dir, SpoolSegmentBytes: 16 << 10, Workers: 2, FullPolicy: tracker.WaitWhenFull,
		Retry: tracker.RetryPolicy{MaxAttempts: 1000, BaseDelay: time.Millisecond, MaxDelay: 20 * time.Millisecond},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	go func() {
		for w.Stats().Written < crashStallAfter {
			time.Sleep(time.Millisecond)
		}
		fdb.Stall()
		fmt.Fprintf(os.Stderr, "stalled DynamoDB at %+v\n", w.Stats())
	}()
	var mu sync.Mutex
	for g := range crashGoroutines {
		go func() {
			user := "crash-" + strconv.Itoa(g)
			for seq := 0; ; seq++ {
				e := tracker.Event{UserID: user, Type: "click", Attributes: map[string]string{"seq": strconv.Itoa(seq)}}
				if seq%3 == 0 {
					e.ID = user + "-" + strconv.Itoa(seq) // a conditional write, replayed as one
				}
				if err := w.Put(ctx, e); err != nil {
					fmt.Fprintln(os.Stderr, "put:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Fprintf(os.Stdout, "%d %d\n", g, seq) // unbuffered: one write per line
				mu.Unlock()
				time.Sleep(500 * time.Microsecond) // a request rate DynamoDB Local keeps up with, mostly
			}
		}()
	}
	time.Sleep(2 * time.Minute)
	fmt.Fprintln(os.Stderr, "not killed within 2 minutes")
	return 3
}

// TestSpoolSurvivesSIGKILL kills a writer with a spool (this test binary,
// run again) with SIGKILL while events are written, in flight and queued,
// then starts a writer on the same spool: every event whose Put returned
// is in DynamoDB exactly once, no conflict is reported for the events the
// replay writes again, and the spool is empty afterwards.
func TestSpoolSurvivesSIGKILL(t *testing.T) {
	env := newWriteEnv(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		crashChildEnv+"="+dir, crashEndpointEnv+"="+env.Server.Endpoint, crashTableEnv+"="+env.EventsTable)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	defer func() {
		if !killed {
			cmd.Process.Kill()
			cmd.Wait()
		}
	}()

	// last[g] is the highest seq of goroutine g whose Put returned nil.
	last := make([]int, crashGoroutines)
	for g := range last {
		last[g] = -1
	}
	accepted := 0
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		g, err1 := strconv.Atoi(f[0])
		seq, err2 := strconv.Atoi(f[1])
		if len(f) != 2 || err1 != nil || err2 != nil || seq != last[g]+1 {
			t.Fatalf("child printed %q after seq %d", sc.Text(), last[g])
		}
		last[g] = seq
		if accepted++; accepted == crashKillAfter && !killed {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	werr := cmd.Wait()
	if !killed {
		t.Fatalf("the child ended by itself after %d events: %v; stderr: %s", accepted, werr, stderr.String())
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended with %v, want SIGKILL; stderr: %s", werr, stderr.String())
	}
	before := countEvents(t, env)
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		if !strings.HasPrefix(line, "SDK ") { // DynamoDB Local's error responses carry a CRC of 0
			t.Logf("child: %s", line)
		}
	}
	t.Logf("killed after %d accepted events (last seqs %v); %d in DynamoDB; %d segment files", accepted, last, before, len(segments(t, dir)))
	if before >= accepted {
		t.Fatalf("%d of %d accepted events were already written: the kill lost nothing, the test proves nothing", before, accepted)
	}

	// The next start.
	var log errorLog
	tr := newWriteTracker(t, env, nil, tracker.Config{})
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{SpoolDir: dir, OnError: log.onError})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(testCtx(t, 5*time.Minute)); err != nil {
		t.Fatal(err)
	}
	s := w.Stats()
	t.Logf("restarted writer: %+v", s)
	if s.Replayed < int64(accepted-before) || s.Written != s.Replayed || s.Failed != 0 || log.count() != 0 {
		t.Errorf("restarted writer %+v with %d errors reported; want every replayed event written, no conflict", s, log.count())
	}
	if files := segments(t, dir); len(files) != 0 {
		t.Errorf("segment files left after the replay: %v", files)
	}

	total := 0
	ids := map[string]bool{}
	for g := range crashGoroutines {
		user := "crash-" + strconv.Itoa(g)
		seen := map[int]int{}
		for _, row := range queryStrings(t, env, user, "attributes.seq", tracker.FieldEventID) {
			seq, _ := strconv.Atoi(row[0])
			seen[seq]++
			if ids[row[1]] {
				t.Errorf("event_id %s stored twice", row[1])
			}
			ids[row[1]] = true
			total++
		}
		for seq := 0; seq <= last[g]; seq++ {
			if seen[seq] != 1 {
				t.Errorf("%s seq %d (accepted) stored %d times, want once", user, seq, seen[seq])
			}
		}
		// The Put in progress at the kill may or may not have been spooled.
		if seen[last[g]+1] > 1 || len(seen) > last[g]+2 {
			t.Errorf("%s: %d distinct events stored, %d accepted", user, len(seen), last[g]+1)
		}
	}
	t.Logf("%d events in DynamoDB after the restart, %d accepted before the kill", total, accepted)
}
