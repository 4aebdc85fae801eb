package collector_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/tracker"
)

// printSink prints what it would store; in an application it is a
// *tracker.Tracker.
type printSink struct{}

func (printSink) PutBatch(_ context.Context, evs []tracker.Event) []error {
	for _, e := range evs {
		fmt.Printf("store %s of user %s, id %s, %v\n", e.Type, e.UserID, e.ID, e.Attributes)
	}
	return nil
}

func ExampleNew() {
	keys, err := collector.NewKeySet("wk_live_1", "wk_live_2") // several at once: rotation
	if err != nil {
		panic(err)
	}
	h, err := collector.New(printSink{}, collector.Config{WriteKeys: keys})
	if err != nil {
		panic(err)
	}

	// What analytics-go sends for client.Enqueue(analytics.Track{...}).
	body := `{"batch":[{"type":"track","userId":"42","event":"Order Completed","messageId":"m-1",` +
		`"timestamp":"2026-11-22T10:04:05Z","properties":{"revenue":19.5,"order":{"id":"o-7"}}}]}`
	r := httptest.NewRequest(http.MethodPost, "/v1/batch", strings.NewReader(body))
	r.SetBasicAuth("wk_live_1", "")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Print(w.Code, " ", w.Body.String())
	// Output:
	// store purchase of user 42, id m-1, map[order.id:o-7 revenue:19.5]
	// 200 {"success":true,"accepted":1}
}
