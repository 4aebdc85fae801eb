// Package shop is a small web shop written as a Go team adopting eventlake
// would write it: its handlers track what visitors and users do through a
// tracker.Putter, which is the tracker's AsyncWriter in production
// (cmd/shop), a trackertest.Recorder in the unit tests, tracker.Discard
// when tracking is off, and a laketest.Lake (the whole pipeline, locally)
// in the integration tests.
//
// Visitors carry a first-party cookie (VisitorCookie), their anonymous ID;
// signing up or logging in sets a session cookie (UserCookie, a stand-in
// for real authentication) and links the visitor to the user with an
// identify event. Tracking never fails a request: an event that cannot be
// tracked is logged and counted (NotTracked).
package shop

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

// Cookie names.
const (
	VisitorCookie = "vid"
	UserCookie    = "uid"
)

// TypeAddToCart is the shop's own event type, beside the tracker's defaults.
const TypeAddToCart = "add_to_cart"

// Version is the shop's version, sent with every event.
const Version = "1.4.0"

// TrackerConfig is the shop's tracker configuration for the given tables
// (the eventlake stack's outputs): the default event types and the shop's
// own, anonymized IP addresses, the app's version on every event and six
// months in DynamoDB (the lake keeps everything). Tests use the same
// configuration, so they validate events as production does.
func TrackerConfig(eventsTable, summaryTable string) tracker.Config {
	return tracker.Config{
		EventsTable:       eventsTable,
		SummaryTable:      summaryTable,
		EventTypes:        append(tracker.DefaultEventTypes(), TypeAddToCart),
		IPPolicy:          tracker.IPAnonymize,
		DefaultAttributes: map[string]string{"app": "shop", "app_version": Version},
		Retention:         180 * 24 * time.Hour,
	}
}

// Config configures New. The zero value means defaults.
type Config struct {
	// Proxies are the proxies in front of the shop whose forwarding headers
	// are believed (tracker.ParseProxies); none by default.
	Proxies tracker.Proxies
	// Logger receives the events that could not be tracked; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Shop is the shop's HTTP handler. It is safe for concurrent use.
type Shop struct {
	events     tracker.Putter
	proxies    tracker.Proxies
	log        *slog.Logger
	mux        *http.ServeMux
	notTracked atomic.Int64
}

// New returns the shop, tracking with events.
func New(events tracker.Putter, cfg Config) (*Shop, error) {
	if events == nil {
		return nil, errors.New("shop: nil tracker.Putter (use tracker.Discard to switch tracking off)")
	}
	s := &Shop{events: events, proxies: cfg.Proxies, log: cfg.Logger, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.mux.HandleFunc("GET /products/{id}", s.product)
	s.mux.HandleFunc("POST /cart", s.addToCart)
	s.mux.HandleFunc("POST /signup", s.signup)
	s.mux.HandleFunc("POST /login", s.login)
	s.mux.HandleFunc("POST /checkout", s.checkout)
	return s, nil
}

func (s *Shop) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// NotTracked counts the events that could not be tracked.
func (s *Shop) NotTracked() int64 { return s.notTracked.Load() }

// track puts an event of the request's visitor and user.
func (s *Shop) track(r *http.Request, visitor string, e tracker.Event) {
	if e.AnonymousID == "" {
		e.AnonymousID = visitor
	}
	if e.UserID == "" {
		if c, err := r.Cookie(UserCookie); err == nil {
			e.UserID = c.Value
		}
	}
	if err := s.events.Put(r.Context(), e.WithRequest(r, s.proxies)); err != nil {
		s.notTracked.Add(1)
		s.log.WarnContext(r.Context(), "shop: event not tracked", "type", e.Type, "error", err)
	}
}

// visitor returns the request's visitor ID, setting a new cookie when it
// has none.
func visitor(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(VisitorCookie); err == nil && c.Value != "" {
		return c.Value
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{Name: VisitorCookie, Value: id, Path: "/", MaxAge: 365 * 24 * 3600,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return id
}

func (s *Shop) product(w http.ResponseWriter, r *http.Request) {
	vid := visitor(w, r)
	id := r.PathValue("id")
	attrs := map[string]string{
		tracker.AttrURL:   r.URL.String(),
		tracker.AttrPath:  r.URL.Path,
		tracker.AttrTitle: "Product " + id,
		"product":         id,
	}
	if ref := r.Referer(); ref != "" {
		attrs[tracker.AttrReferrer] = ref
	}
	q := r.URL.Query()
	for _, k := range []string{tracker.AttrUTMSource, tracker.AttrUTMMedium, tracker.AttrUTMCampaign, tracker.AttrUTMTerm, tracker.AttrUTMContent} {
		if v := q.Get(k); v != "" {
			attrs[k] = v
		}
	}
	s.track(r, vid, tracker.Event{Type: "page_view", Attributes: attrs})
	fmt.Fprintf(w, "product %s\n", id)
}

func (s *Shop) addToCart(w http.ResponseWriter, r *http.Request) {
	vid := visitor(w, r)
	s.track(r, vid, tracker.Event{Type: TypeAddToCart, Attributes: map[string]string{"product": r.FormValue("product")}})
	w.WriteHeader(http.StatusNoContent)
}

// signIn sets the session cookie and links the visitor to the user.
func (s *Shop) signIn(w http.ResponseWriter, r *http.Request, vid, email, typ string, attrs map[string]string) bool {
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		http.Error(w, "email is required", http.StatusBadRequest)
		return false
	}
	http.SetCookie(w, &http.Cookie{Name: UserCookie, Value: email, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	s.track(r, vid, tracker.Event{UserID: email, Type: tracker.TypeIdentify})
	s.track(r, vid, tracker.Event{UserID: email, Type: typ, Attributes: attrs})
	return true
}

func (s *Shop) signup(w http.ResponseWriter, r *http.Request) {
	vid := visitor(w, r)
	if s.signIn(w, r, vid, r.FormValue("email"), "signup", map[string]string{"plan": r.FormValue("plan")}) {
		w.WriteHeader(http.StatusCreated)
	}
}

func (s *Shop) login(w http.ResponseWriter, r *http.Request) {
	vid := visitor(w, r)
	if s.signIn(w, r, vid, r.FormValue("email"), "login", map[string]string{"method": "password"}) {
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Shop) checkout(w http.ResponseWriter, r *http.Request) {
	vid := visitor(w, r)
	if _, err := r.Cookie(UserCookie); err != nil {
		http.Error(w, "log in first", http.StatusUnauthorized)
		return
	}
	s.track(r, vid, tracker.Event{Type: "purchase", Attributes: map[string]string{"total": r.FormValue("total")}})
	w.WriteHeader(http.StatusNoContent)
}
