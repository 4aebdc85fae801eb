package admin_test

import (
	"context"
	"crypto/subtle"
	"log"
	"log/slog"
	"net/http"
	"os"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/admin"
)

// requireAdmin stands for the application's own authentication: the admin
// handler does none.
func requireAdmin(next http.Handler) http.Handler {
	token := os.Getenv("ADMIN_TOKEN")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get("X-Admin-Token")), []byte(token)) != 1 {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// ExampleNewHandler mounts the activity page behind the application's
// authentication. The cursor key is shared by every process serving the
// page, so an "older events" link works whichever process answers it.
func ExampleNewHandler() {
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	tr, err := tracker.New(dynamodb.NewFromConfig(cfg), tracker.Config{
		EventsTable:  os.Getenv("EVENTS_TABLE"),
		SummaryTable: os.Getenv("SUMMARY_TABLE"),
	})
	if err != nil {
		log.Fatal(err)
	}
	reader, err := tracker.NewReader(tr, tracker.ReadConfig{
		CursorKeys: [][]byte{[]byte(os.Getenv("CURSOR_KEY"))}, // 32 random bytes from a secret store
	})
	if err != nil {
		log.Fatal(err)
	}
	page, err := admin.NewHandler(tr, admin.Options{
		Reader: reader,
		Logger: slog.New(slog.NewJSONHandler(os.Stderr, nil)),
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /admin/activity", requireAdmin(page))
	log.Fatal(http.ListenAndServe("localhost:8080", mux))
}
