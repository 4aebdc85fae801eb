package collector

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

// Seed 001's request fields, by tracker field.
var seed001Fields = map[string]string{
	tracker.FieldUserID: "user", tracker.FieldEventType: "event", tracker.FieldEventAt: "timestamp",
	tracker.FieldIPAddress: "", tracker.FieldUserAgent: "",
}

// decodeSeed001 reads seed 001's POST /analytics?timestamp=<unix
// seconds>&user=<id>&event=click|impression. The body is ignored.
func (h *Handler) decodeSeed001(d *decoded, r *http.Request, received time.Time) error {
	q := r.URL.Query()
	d.total = 1
	bad := false
	e := tracker.Event{UserID: q.Get("user"), Type: q.Get("event")}
	if e.UserID == "" {
		d.fail(0, "user", "is required")
		bad = true
	}
	if e.Type == "" {
		d.fail(0, "event", "is required (click or impression)")
		bad = true
	}
	switch ts := q.Get("timestamp"); ts {
	case "":
		e.At = received
	default:
		sec, err := strconv.ParseFloat(ts, 64)
		if err != nil || math.IsNaN(sec) || math.IsInf(sec, 0) || sec < 0 || sec > 253402300799 {
			d.fail(0, "timestamp", fmt.Sprintf("%q is not a time in Unix seconds", truncate(ts, 32)))
			bad = true
			break
		}
		whole, frac := math.Modf(sec)
		e.At = time.Unix(int64(whole), int64(frac*1e9))
	}
	if !bad {
		d.add(0, e, seed001Fields, true, true)
	}
	return nil
}

// seed003Event is seed 003's webhook payload.
type seed003Event struct {
	Fingerprint json.RawMessage `json:"fingerprint"`
	UserID      json.RawMessage `json:"user_id"`
	URL         *string         `json:"url"`
	ReferrerURL *string         `json:"referrer_url"`
	CreatedAt   *string         `json:"created_at"`
	Event       string          `json:"event"`
	Type        string          `json:"type"`
}

var seed003Fields = map[string]string{
	tracker.FieldUserID: "user_id", tracker.FieldAnonymousID: "fingerprint", tracker.FieldEventType: "event",
	tracker.FieldEventAt: "created_at", tracker.FieldIPAddress: "", tracker.FieldUserAgent: "",
	tracker.FieldAttributes: "url",
}

// seed003Types maps seed 003's event names to eventlake's types.
var seed003Types = map[string]string{
	"signup":      "signup",
	"trial":       "trial_started",
	"unsubscribe": "unsubscribed",
	"pageview":    "page_view",
}

// decodeSeed003 reads seed 003's POST /event: {"fingerprint", "user_id"
// (may be null), "url", "referrer_url", "created_at"} with the event's kind
// in "event" (or "type", or the event query parameter): signup, trial,
// unsubscribe or pageview.
func (h *Handler) decodeSeed003(d *decoded, body []byte, r *http.Request) error {
	d.total = 1
	var v seed003Event
	if err := json.Unmarshal(body, &v); err != nil {
		if p, ok := typeProblem(err); ok {
			d.fail(0, p.Field, p.Reason)
			return nil
		}
		return bodyError(err)
	}
	bad := false
	fail := func(field, reason string) {
		d.fail(0, field, reason)
		bad = true
	}
	var e tracker.Event
	var p string
	if e.AnonymousID, p = idText(v.Fingerprint); p != "" {
		fail("fingerprint", p)
	}
	if e.UserID, p = idText(v.UserID); p != "" {
		fail("user_id", p)
	}
	if e.AnonymousID == "" && e.UserID == "" {
		fail("fingerprint", "fingerprint or user_id is required")
	}
	kind := v.Event
	if kind == "" {
		kind = v.Type
	}
	if kind == "" {
		kind = r.URL.Query().Get("event")
	}
	switch t, ok := seed003Types[kind]; {
	case ok:
		e.Type = t
	case kind == "":
		fail("event", "is required: signup, trial, unsubscribe or pageview (in the body's event field or the event query parameter)")
	default:
		e.Type = NormalizeEventName(kind) // any other allowed eventlake type
	}
	if v.CreatedAt != nil && *v.CreatedAt != "" {
		t, err := parseSeedTime(*v.CreatedAt)
		if err != nil {
			fail("created_at", err.Error())
		}
		e.At = t
	}
	attrs := attrSet{idx: 0, src: "url"}
	if v.URL != nil {
		addURL(&attrs, *v.URL)
	}
	if v.ReferrerURL != nil {
		attrs.add(tracker.AttrReferrer, *v.ReferrerURL)
	}
	if bad {
		return nil
	}
	e.Attributes = attrs.build()
	d.warnings = append(d.warnings, attrs.warn...)
	d.add(0, e, seed003Fields, true, true)
	return nil
}

// addURL sets url, path and the utm_* attributes of a page URL, for
// attribution.
func addURL(a *attrSet, raw string) {
	a.add(tracker.AttrURL, raw)
	u, err := url.Parse(raw)
	if err != nil {
		return
	}
	a.add(tracker.AttrPath, u.Path)
	q := u.Query()
	for _, k := range []string{tracker.AttrUTMSource, tracker.AttrUTMMedium, tracker.AttrUTMCampaign, tracker.AttrUTMTerm, tracker.AttrUTMContent} {
		a.add(k, q.Get(k))
	}
}

// parseSeedTime reads seed 003's created_at ("2023-01-20 13:59:56.437947
// UTC", Ruby's Time#to_s with fractions) or ISO 8601.
func parseSeedTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999 MST", "2006-01-02 15:04:05.999999999 -0700", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time such as 2023-01-20 13:59:56.437947 UTC", truncate(s, 64))
}
