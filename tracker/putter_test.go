package tracker_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/trackertest"
)

// TestPutterContract runs one suite against every tracker.Putter that
// validates: Tracker, AsyncWriter and trackertest.Recorder accept a valid
// event with nil, refuse an invalid one with a *ValidationError naming the
// field, and take concurrent Puts.
func TestPutterContract(t *testing.T) {
	env := newWriteEnv(t)
	cfg := tracker.Config{EventTypes: []string{"login", "click"}}
	tr := newWriteTracker(t, env, nil, cfg)
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(testCtx(t, time.Minute))
	rec, err := trackertest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]tracker.Putter{"Tracker": tr, "AsyncWriter": w, "trackertest.Recorder": rec} {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t, time.Minute)
			if err := p.Put(ctx, tracker.Event{UserID: "contract-" + name, Type: "login", IP: "192.0.2.1:1234"}); err != nil {
				t.Errorf("valid event: %v", err)
			}
			for field, e := range map[string]tracker.Event{
				tracker.FieldEventType: {UserID: "u", Type: "page_view"}, // not in this allowlist
				tracker.FieldUserID:    {Type: "login"},
				tracker.FieldIPAddress: {UserID: "u", Type: "login", IP: "localhost"},
			} {
				err := p.Put(ctx, e)
				var verr *tracker.ValidationError
				if !errors.Is(err, tracker.ErrInvalidEvent) || !errors.As(err, &verr) || !verr.Has(field) {
					t.Errorf("invalid %s: %v, want a *ValidationError naming it", field, err)
				}
			}
			var wg sync.WaitGroup
			for g := range 8 {
				wg.Go(func() {
					for i := range 10 {
						if err := p.Put(ctx, tracker.Event{UserID: "contract-" + name, Type: "click",
							Attributes: map[string]string{"n": strconv.Itoa(g*10 + i)}}); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
		})
	}
	if err := w.Close(testCtx(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"contract-Tracker", "contract-AsyncWriter"} {
		if n := len(queryUser(t, env, user)); n != 81 {
			t.Errorf("%s: %d items, want 81", user, n)
		}
	}
	if rec.Len() != 81 {
		t.Errorf("recorder holds %d events, want 81", rec.Len())
	}
	if err := (tracker.Discard{}).Put(context.Background(), tracker.Event{}); err != nil {
		t.Errorf("Discard.Put = %v, want nil for anything", err)
	}
}
