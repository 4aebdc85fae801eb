package lastseen_test

import (
	"context"
	"log"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/lastseen"
)

type userKey struct{}

// An application records the last seen time of its signed-in users on
// every request: at most one write per user per hour, never on the request
// path.
func Example() {
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		log.Fatal(err)
	}
	tr, err := tracker.New(dynamodb.NewFromConfig(awsCfg), tracker.Config{EventsTable: "events", SummaryTable: "summary"})
	if err != nil {
		log.Fatal(err)
	}
	sum, err := tracker.NewSummarizer(tr, tracker.SummaryConfig{}) // an hour by default
	if err != nil {
		log.Fatal(err)
	}
	seen, err := lastseen.New(sum, lastseen.Config{
		// The user the authentication middleware put in the context.
		UserID: func(r *http.Request) string { id, _ := r.Context().Value(userKey{}).(string); return id },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer seen.Close(ctx) // writes what is queued

	app := http.NewServeMux()
	app.HandleFunc("GET /", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) })
	authenticate := func(next http.Handler) http.Handler { return next } // the application's own
	_ = http.ListenAndServe("localhost:8080", authenticate(seen.Wrap(app)))
}
