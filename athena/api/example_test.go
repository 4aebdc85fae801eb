package api_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/athena/lakegen"
	"github.com/eventlake/eventlake/athena/local"
)

// ExampleNew serves the API over a local lake (on AWS, pass a
// remote.Runner) and asks seed 001's question: users, clicks and
// impressions in the hour before 2026-11-22T10:00:00Z.
func ExampleNew() {
	root, err := os.MkdirTemp("", "lake")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	// Two clicks and an impression, as the pipeline lands them.
	ds := &lakegen.Dataset{Deliveries: []lakegen.Event{
		{UserID: "42", EventAt: "2026-11-22T09:30:00.000Z", EventID: "e1", EventType: "click", Dt: "2026-11-22"},
		{UserID: "42", EventAt: "2026-11-22T09:31:00.000Z", EventID: "e2", EventType: "click", Dt: "2026-11-22"},
		{UserID: "7", EventAt: "2026-11-22T09:59:59.999Z", EventID: "e3", EventType: "impression", Dt: "2026-11-22"},
	}}
	if _, err := ds.WriteNDJSON(root, lakegen.Layout{}); err != nil {
		log.Fatal(err)
	}
	db, err := local.Open(context.Background(), local.Config{Root: root})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	h, err := api.New(api.Config{Runner: db}) // results reused for 5 minutes
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", h)          // /api/v1/queries[/{name}]
	mux.Handle("GET /analytics", h) // seed 001
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/analytics?timestamp=1795341600")
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	var b [128]byte
	n, _ := resp.Body.Read(b[:])
	fmt.Println(string(b[:n]))
	// Output:
	// unique_users,2
	// clicks,2
	// impressions,1
}
