package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eventlake/eventlake/athena/api"
	"github.com/eventlake/eventlake/athena/dashboard"
	"github.com/eventlake/eventlake/collector"
	"github.com/eventlake/eventlake/local/pipeline"
	"github.com/eventlake/eventlake/tracker"
	"github.com/eventlake/eventlake/tracker/admin"
)

// DefaultWriteKey is the collector's write key when -write-key is not
// given: for local use only.
const DefaultWriteKey = "local-write-key"

// httpEvery sets the share of the generated traffic sent over HTTP: the
// events are cut into chunks of up to 100 (at least 20 chunks), and every
// httpEvery-th chunk goes to the collector (Segment batches and eventlake
// NDJSON in turn), the rest through the AsyncWriter: a tenth of the events,
// and at least one chunk from 5 events on.
const httpEvery = 10

// server serves the collector (and, with -serve, the admin page) on one
// address, with the pipeline as the collector's sink.
type server struct {
	url  string
	key  string
	srv  *http.Server
	errc chan error
	user atomic.Pointer[string] // the user / redirects to, once known
}

// startServer serves on ln (a new listener on 127.0.0.1:0 when nil) the
// collector with the pipeline as its sink, and the admin page when
// withAdmin is set.
func startServer(p *pipeline.Pipeline, ln net.Listener, key string, withAdmin bool, log *slog.Logger) (*server, error) {
	keys, err := collector.NewKeySet(key)
	if err != nil {
		return nil, fmt.Errorf("-write-key: %w", err)
	}
	h, err := collector.New(p, collector.Config{WriteKeys: keys, AllowedOrigins: []string{"*"}, Logger: log})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	for _, path := range collector.Paths() {
		mux.Handle(path, h)
	}
	s := &server{key: key, errc: make(chan error, 1)}
	if withAdmin {
		page, err := admin.NewHandler(p.Tracker, admin.Options{Logger: log})
		if err != nil {
			return nil, fmt.Errorf("serve the admin page: %w", err)
		}
		mux.Handle("GET /admin/activity", page)
		if err := serveAnalytics(mux, p, log); err != nil {
			return nil, err
		}
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			target := "/admin/activity"
			if u := s.user.Load(); u != nil {
				target += "?user=" + url.QueryEscape(*u)
			}
			http.Redirect(w, r, target, http.StatusFound)
		})
	}
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("serve the collector: %w", err)
		}
	}
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { s.errc <- s.srv.Serve(ln) }()
	return s, nil
}

// serveAnalytics adds the analytics API (/api/v1/queries, GET /analytics)
// and the dashboard (/dashboard) over the lake, on DuckDB, beside the
// collector (whose POST /analytics stays: the API takes GET only).
func serveAnalytics(mux *http.ServeMux, p *pipeline.Pipeline, log *slog.Logger) error {
	db, err := p.Lake(context.Background())
	if err != nil {
		return err
	}
	a, err := api.New(api.Config{Runner: db, Logger: log})
	if err != nil {
		return fmt.Errorf("serve the analytics API: %w", err)
	}
	d, err := dashboard.New(dashboard.Config{API: a, UserURL: "/admin/activity?user=", Logger: log})
	if err != nil {
		return fmt.Errorf("serve the dashboard: %w", err)
	}
	mux.Handle("GET "+api.QueriesPath, a)
	mux.Handle("GET "+api.QueriesPath+"/", a)
	mux.Handle("GET "+api.AnalyticsPath, a)
	mux.Handle("GET /dashboard", d)
	return nil
}

// wait serves until ctx is done.
func (s *server) wait(ctx context.Context) error {
	select {
	case err := <-s.errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
		return nil
	}
}

func (s *server) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stop the server: %w", err)
	}
	return nil
}

// splitForHTTP returns the chunks of events to send over HTTP and the rest.
func splitForHTTP(events []tracker.Event) (viaHTTP [][]tracker.Event, rest []tracker.Event) {
	size := min(100, max(1, len(events)/20))
	for i := 0; i < len(events); i += size {
		chunk := events[i:min(i+size, len(events))]
		if (i/size)%httpEvery == httpEvery/2-1 {
			viaHTTP = append(viaHTTP, chunk)
		} else {
			rest = append(rest, chunk...)
		}
	}
	return viaHTTP, rest
}

// send posts the chunks to the collector, Segment batches and eventlake
// NDJSON in turn, and calls done with each chunk's size once it is stored.
func (s *server) send(ctx context.Context, chunks [][]tracker.Event, done func(int)) error {
	client := &http.Client{Timeout: 2 * time.Minute}
	for i, chunk := range chunks {
		path, body, err := "/v1/batch", []byte(nil), error(nil)
		if i%2 == 0 {
			body, err = segmentBatch(chunk)
		} else {
			path, body = "/v1/events", ndjson(chunk)
		}
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+path, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.SetBasicAuth(s.key, "")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("send %d events to the collector: %w", len(chunk), err)
		}
		answer, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("the collector answered %s to %d events on %s: %s", resp.Status, len(chunk), path, strings.TrimSpace(string(answer)))
		}
		done(len(chunk))
	}
	return nil
}

// segmentBatch renders events as a Segment /v1/batch body, as
// analytics-go would send them: page views as page calls, identify as
// identify, everything else as track calls named by the event type.
func segmentBatch(evs []tracker.Event) ([]byte, error) {
	type ctx struct {
		IP        string `json:"ip,omitempty"`
		UserAgent string `json:"userAgent,omitempty"`
	}
	type message struct {
		Type        string            `json:"type"`
		Event       string            `json:"event,omitempty"`
		UserID      string            `json:"userId,omitempty"`
		AnonymousID string            `json:"anonymousId,omitempty"`
		Timestamp   string            `json:"timestamp"`
		MessageID   string            `json:"messageId,omitempty"`
		Context     ctx               `json:"context"`
		Properties  map[string]string `json:"properties,omitempty"`
		Traits      map[string]string `json:"traits,omitempty"`
	}
	batch := struct {
		Batch []message `json:"batch"`
	}{}
	for _, e := range evs {
		m := message{UserID: e.UserID, AnonymousID: e.AnonymousID, Timestamp: e.At.UTC().Format(time.RFC3339Nano), MessageID: e.ID,
			Context: ctx{IP: e.IP, UserAgent: e.UserAgent}, Properties: e.Attributes}
		switch e.Type {
		case "page_view":
			m.Type = "page"
		case tracker.TypeIdentify:
			m.Type, m.Traits, m.Properties = "identify", e.Attributes, nil
		default:
			m.Type, m.Event = "track", e.Type
		}
		batch.Batch = append(batch.Batch, m)
	}
	return json.Marshal(batch)
}

// ndjson renders events as eventlake's JSON lines.
func ndjson(evs []tracker.Event) []byte {
	var b []byte
	for _, e := range evs {
		b = tracker.AppendLine(b, e)
	}
	return b
}

// curlExamples prints how to send events to the local collector.
func curlExamples(out io.Writer, base, key string) {
	fmt.Fprintf(out, "  curl -u %s: %s/v1/track -d '{\"userId\":\"42\",\"event\":\"login\"}'\n", key, base)
	fmt.Fprintf(out, "  curl -u %s: %s/v1/events -d '{\"anonymous_id\":\"a-1\",\"event_type\":\"page_view\",\"attributes\":{\"url\":\"/\"}}'\n", key, base)
	fmt.Fprintf(out, "  curl -X POST '%s/analytics?timestamp=%d&user=3&event=click&write_key=%s'\n", base, time.Now().Unix(), key)
	fmt.Fprintf(out, "  curl '%s/event?write_key=%s' -d '{\"fingerprint\":\"fp-1\",\"user_id\":null,\"url\":\"https://shop.example/?utm_source=ad\",\"referrer_url\":null,\"created_at\":\"%s\",\"event\":\"pageview\"}'\n",
		base, key, time.Now().UTC().Format("2006-01-02 15:04:05.000000 MST"))
}

// parseLakeTypes reads -lake-types: event types routed straight to
// Firehose (tracker.RouteLake).
func parseLakeTypes(s string) map[string]tracker.Route {
	routes := map[string]tracker.Route{}
	for _, t := range strings.Split(s, ",") {
		if t = strings.TrimSpace(t); t != "" {
			routes[t] = tracker.RouteLake
		}
	}
	return routes
}
