// Command shop serves the shop with eventlake's tracker, as deployed: the
// tables come from the eventlake stack's outputs (EVENTS_TABLE,
// SUMMARY_TABLE), events are written by an AsyncWriter with a crash spool
// (EVENT_SPOOL_DIR, optional), the proxies in front of the service are
// TRUSTED_PROXIES (comma-separated CIDRs), and the admin activity page is
// served to requests bearing ADMIN_TOKEN.
package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/admin"

	"example.com/adopter/shop"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "shop:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))

	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return err
	}
	// tracker.New fails at once on a missing table name or a bad setting.
	tr, err := tracker.New(dynamodb.NewFromConfig(awsCfg), shop.TrackerConfig(os.Getenv("EVENTS_TABLE"), os.Getenv("SUMMARY_TABLE")))
	if err != nil {
		return err
	}
	w, err := tr.NewAsyncWriter(tracker.AsyncConfig{
		SpoolDir: os.Getenv("EVENT_SPOOL_DIR"),
		OnError: func(e tracker.Event, err error) {
			log.Error("event not written", "type", e.Type, "error", err)
		},
	})
	if err != nil {
		return err
	}
	defer func() {
		// Drain what was accepted; with a spool, what is left is written
		// by the next process.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := w.Close(ctx); err != nil {
			log.Error("close the event writer", "error", err)
		}
	}()

	var cidrs []string
	if v := os.Getenv("TRUSTED_PROXIES"); v != "" {
		cidrs = strings.Split(v, ",")
	}
	proxies, err := tracker.ParseProxies(cidrs...)
	if err != nil {
		return err
	}
	s, err := shop.New(w, shop.Config{Proxies: proxies, Logger: log})
	if err != nil {
		return err
	}
	activity, err := admin.NewHandler(tr, admin.Options{Logger: log})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/", s)
	mux.Handle("/admin/activity", requireToken(os.Getenv("ADMIN_TOKEN"), activity))

	srv := &http.Server{Addr: ":8080", Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// requireToken serves h to requests with "Authorization: Bearer <token>";
// with no token configured, to nobody. The admin page does no
// authentication of its own.
func requireToken(token string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" || !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
