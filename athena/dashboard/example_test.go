package dashboard_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/athena/dashboard"
	"github.com/eventlake/eventlake/athena/local"
)

// ExampleNew serves the dashboard beside the API it reads from, over a
// local lake (on AWS, the API's runner is a remote.Runner), and links user
// IDs to the admin page of package tracker/admin.
func ExampleNew() {
	root, err := os.MkdirTemp("", "lake")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(root)
	db, err := local.Open(context.Background(), local.Config{Root: root}) // an empty lake
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	a, err := api.New(api.Config{Runner: db})
	if err != nil {
		log.Fatal(err)
	}
	d, err := dashboard.New(dashboard.Config{API: a, UserURL: "/admin/activity?user="})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/", a) // the charts' CSV and JSON links
	mux.Handle("GET /dashboard", d)

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/dashboard?from=2026-11-01&to=2026-11-22", nil))
	page := w.Body.String()
	fmt.Println(w.Code, strings.Count(page, `<section class="panel`), "panels")
	fmt.Println(strings.Contains(page, "No logins between 2026-11-01 and 2026-11-22."))
	// Output:
	// 200 12 panels
	// true
}
