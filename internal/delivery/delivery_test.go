package delivery_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/firehose"

	"github.com/eventlake/eventlake/internal/delivery"
	"github.com/eventlake/eventlake/local/firehoselocal"
)

const stream = "events"

// start runs a Firehose endpoint with an in-memory sink and returns it with
// a client whose own retries are off, as the relay and the tracker use it.
func start(t *testing.T, faults firehoselocal.Faults) (*firehoselocal.Server, *firehose.Client) {
	t.Helper()
	srv, err := firehoselocal.Start(firehoselocal.Options{
		Streams: []string{stream},
		Faults:  faults,
		Seed:    7,
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv, srv.Client(func(o *firehose.Options) { o.RetryMaxAttempts = 1 })
}

func newSender(t *testing.T, c delivery.Firehose, cfg delivery.Config) *delivery.Sender {
	t.Helper()
	if cfg.DeliveryStreamName == "" {
		cfg.DeliveryStreamName = stream
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase, cfg.BackoffMax = time.Millisecond, 5*time.Millisecond
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := delivery.New(c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// lines fills l with n lines of exactly size bytes each (newline
// included, size at least 30) and returns them.
func lines(l *delivery.Lines, n, size int) []string {
	var want []string
	for i := range n {
		head := fmt.Sprintf(`{"i":%d,"pad":"`, i)
		line := head + strings.Repeat("x", size-len(head)-3) + "\"}\n"
		l.Buf = append(l.Buf, line...)
		l.End()
		want = append(want, line)
	}
	return want
}

// delivered returns the lines the endpoint holds, in order, after a flush.
func delivered(t *testing.T, srv *firehoselocal.Server) []string {
	t.Helper()
	if err := srv.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range srv.MemorySink().Lines() {
		got = append(got, string(l)+"\n")
	}
	return got
}

func TestSendPacksWithinLimits(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		n, size, recordBytes int
		wantRecords          int
		wantCalls            int
	}{
		{"one record", 100, 350, 0, 1, 1},
		{"500 lines per record (deaggregation)", 1200, 100, 0, 3, 1},
		{"records of 10,000 bytes", 1000, 300, 10_000, 31, 1}, // 33 lines of 300 bytes per record
		{"one line per record, 500 per call", 1200, 300, 300, 1200, 3},
		{"4 MiB per call", 60, 300_000, 0, 20, 5}, // 3 lines per record, 4 records (3.6 MB) per call
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, c := start(t, firehoselocal.Faults{})
			s := newSender(t, c, delivery.Config{RecordMaxBytes: tc.recordBytes})
			var l delivery.Lines
			want := lines(&l, tc.n, tc.size)
			res := s.Send(context.Background(), &l, time.Now())
			if res.FirstFailed != -1 || res.Err != nil || res.Delivered != tc.n {
				t.Fatalf("Send = %+v", res)
			}
			if res.Records != tc.wantRecords || res.Calls != tc.wantCalls {
				t.Errorf("%d records in %d calls, want %d in %d", res.Records, res.Calls, tc.wantRecords, tc.wantCalls)
			}
			st := srv.Stats()
			if tc.recordBytes > 0 && st.LargestRecord > int64(tc.recordBytes) {
				t.Errorf("largest record %d bytes, limit %d", st.LargestRecord, tc.recordBytes)
			}
			if got := delivered(t, srv); strings.Join(got, "") != strings.Join(want, "") {
				t.Errorf("delivered %d lines, not the %d sent in order", len(got), len(want))
			}
		})
	}
}

func TestSendLongLineAlone(t *testing.T) {
	srv, c := start(t, firehoselocal.Faults{})
	s := newSender(t, c, delivery.Config{RecordMaxBytes: 1000})
	var l delivery.Lines
	lines(&l, 2, 300)
	lines(&l, 1, 5000)
	lines(&l, 2, 300)
	res := s.Send(context.Background(), &l, time.Now())
	if res.FirstFailed != -1 || res.Records != 3 {
		t.Fatalf("Send = %+v, want 3 records (the long line alone)", res)
	}
	if srv.Stats().LargestRecord != 5000 {
		t.Errorf("largest record %d", srv.Stats().LargestRecord)
	}
}

func TestSendResendsWhatFailed(t *testing.T) {
	srv, c := start(t, firehoselocal.Faults{RecordFailureRate: 0.3, ThrottleRate: 0.2, ServerErrorRate: 0.1})
	s := newSender(t, c, delivery.Config{RecordMaxBytes: 1000})
	var l delivery.Lines
	want := lines(&l, 500, 300)
	res := s.Send(context.Background(), &l, time.Now())
	if res.FirstFailed != -1 || res.Delivered != 500 || res.Retries == 0 {
		t.Fatalf("Send = %+v, want everything delivered after retries", res)
	}
	got := delivered(t, srv)
	if len(got) != len(want) {
		t.Fatalf("%d lines delivered, want %d (partial failures resend only the failed records)", len(got), len(want))
	}
	seen := map[string]bool{}
	for _, g := range got {
		seen[g] = true
	}
	for _, w := range want {
		if !seen[w] {
			t.Fatalf("line %q missing", w)
		}
	}
	if st := srv.Stats(); st.RecordsFailed == 0 || st.Throttled == 0 {
		t.Errorf("faults did not happen: %+v", st)
	}
}

func TestSendGivesUp(t *testing.T) {
	t.Run("permanent error", func(t *testing.T) {
		srv, c := start(t, firehoselocal.Faults{})
		s := newSender(t, c, delivery.Config{DeliveryStreamName: "no-such-stream"})
		var l delivery.Lines
		lines(&l, 3, 100)
		res := s.Send(context.Background(), &l, time.Now())
		if res.FirstFailed != 0 || res.Calls != 1 || res.Err == nil || !strings.Contains(delivery.Describe(res.Err), "ResourceNotFoundException") {
			t.Fatalf("Send = %+v (%v), want one call and ResourceNotFoundException", res, res.Err)
		}
		_ = srv
	})
	t.Run("budget spent", func(t *testing.T) {
		_, c := start(t, firehoselocal.Faults{ThrottleRate: 1})
		s := newSender(t, c, delivery.Config{RetryTimeout: 200 * time.Millisecond, BackoffBase: 10 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
		var l delivery.Lines
		lines(&l, 3, 100)
		began := time.Now()
		res := s.Send(context.Background(), &l, began)
		if res.FirstFailed != 0 || res.FailedRecords != 1 || res.Calls < 2 {
			t.Fatalf("Send = %+v, want retries then failure", res)
		}
		if took := time.Since(began); took > 5*time.Second {
			t.Errorf("took %v with a 200ms budget", took)
		}
	})
	t.Run("later calls not attempted", func(t *testing.T) {
		srv, c := start(t, firehoselocal.Faults{})
		s := newSender(t, c, delivery.Config{RecordMaxBytes: 100, RetryTimeout: 100 * time.Millisecond})
		var l delivery.Lines
		lines(&l, 600, 100) // two calls
		if err := srv.SetFaults(firehoselocal.Faults{ThrottleRate: 1}); err != nil {
			t.Fatal(err)
		}
		res := s.Send(context.Background(), &l, time.Now())
		if res.FirstFailed != 0 || res.FailedRecords != 500 {
			t.Fatalf("Send = %+v", res)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		_, c := start(t, firehoselocal.Faults{ThrottleRate: 1})
		s := newSender(t, c, delivery.Config{BackoffBase: time.Second, BackoffMax: time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		var l delivery.Lines
		lines(&l, 1, 40)
		go func() { time.Sleep(100 * time.Millisecond); cancel() }()
		if res := s.Send(ctx, &l, time.Now()); res.FirstFailed != 0 {
			t.Fatalf("Send = %+v after cancel", res)
		}
	})
}

func TestLinesReset(t *testing.T) {
	var l delivery.Lines
	lines(&l, 3, 50)
	l.Reset()
	if l.Len() != 0 || len(l.Buf) != 0 {
		t.Fatalf("after Reset: %d lines, %d bytes", l.Len(), len(l.Buf))
	}
	l.Buf = append(l.Buf, "x\n"...)
	l.End()
	if l.Len() != 1 || !bytes.Equal(l.Buf, []byte("x\n")) {
		t.Fatal("Lines not reusable after Reset")
	}
}

func TestNewRejects(t *testing.T) {
	_, c := start(t, firehoselocal.Faults{})
	for name, cfg := range map[string]delivery.Config{
		"no stream":       {},
		"record too big":  {DeliveryStreamName: stream, RecordMaxBytes: delivery.MaxRecordBytes + 1},
		"negative":        {DeliveryStreamName: stream, CallTimeout: -1},
		"negative record": {DeliveryStreamName: stream, RecordMaxBytes: -1},
		"negative lines":  {DeliveryStreamName: stream, RecordMaxLines: -1},
	} {
		if _, err := delivery.New(c, cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	if _, err := delivery.New(nil, delivery.Config{DeliveryStreamName: stream}); err == nil {
		t.Error("New accepted a nil client")
	}
}
