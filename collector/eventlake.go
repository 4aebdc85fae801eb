package collector

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/eventlake/eventlake/tracker"
)

// elEvent is one event of eventlake's own JSON: the lake line's fields
// (tracker.EventFields). device_type, browser, os and is_bot are computed
// from user_agent at write time, so they are ignored here, as are unknown
// fields: a lake line can be sent back as it is.
type elEvent struct {
	UserID      json.RawMessage `json:"user_id"`
	AnonymousID json.RawMessage `json:"anonymous_id"`
	EventType   string          `json:"event_type"`
	EventAt     string          `json:"event_at"`
	EventID     string          `json:"event_id"`
	UserAgent   *string         `json:"user_agent"`
	IPAddress   *string         `json:"ip_address"`
	Attributes  json.RawMessage `json:"attributes"`
}

// elFields: eventlake's request fields are the schema's.
var elFields = map[string]string{}

// decodeEventlake decodes /v1/events: one JSON object, a JSON array of
// objects, or NDJSON (one object per line; a bad line is that event's
// problem, the others are kept).
func (h *Handler) decodeEventlake(d *decoded, body []byte) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return errRequest("the body is empty: send an event object, an array of them or NDJSON")
	}
	var items [][]byte
	switch {
	case body[0] == '[':
		var raw []json.RawMessage
		if err := json.Unmarshal(body, &raw); err != nil {
			if p, ok := typeProblem(err); ok {
				return errRequest("the body must be an array of event objects: element " + p.Field + " " + p.Reason)
			}
			return bodyError(err)
		}
		for _, r := range raw {
			items = append(items, r)
		}
	case json.Valid(body):
		items = [][]byte{body}
	default:
		for line := range bytes.Lines(body) {
			if line = bytes.TrimSpace(line); len(line) > 0 {
				items = append(items, line)
			}
		}
	}
	d.total = len(items)
	for i, raw := range items {
		if len(raw) > h.o.maxEvent {
			d.fail(i, "", fmt.Sprintf("is %d bytes, over the limit of %d", len(raw), h.o.maxEvent))
			continue
		}
		if !json.Valid(raw) {
			d.fail(i, "", "is not valid JSON")
			continue
		}
		if raw[0] != '{' {
			d.fail(i, "", "must be a JSON object, not "+jsonKind(raw[0]))
			continue
		}
		var v elEvent
		if err := json.Unmarshal(raw, &v); err != nil {
			p, ok := typeProblem(err)
			if !ok {
				p = Problem{Reason: err.Error()}
			}
			d.fail(i, p.Field, p.Reason)
			continue
		}
		h.elEvent(d, i, &v)
	}
	return nil
}

func (h *Handler) elEvent(d *decoded, i int, v *elEvent) {
	bad := false
	fail := func(field, reason string) {
		d.fail(i, field, reason)
		bad = true
	}
	var e tracker.Event
	var p string
	if e.UserID, p = idText(v.UserID); p != "" {
		fail(tracker.FieldUserID, p)
	}
	if e.AnonymousID, p = idText(v.AnonymousID); p != "" {
		fail(tracker.FieldAnonymousID, p)
	}
	e.Type, e.ID = v.EventType, v.EventID
	if v.EventAt != "" {
		t, err := parseTime(v.EventAt)
		if err != nil {
			fail(tracker.FieldEventAt, err.Error())
		}
		e.At = t
	}
	useUA, useIP := v.UserAgent == nil, v.IPAddress == nil
	if !useUA {
		e.UserAgent = *v.UserAgent
	}
	if !useIP {
		e.IP = *v.IPAddress
	}
	attrs := attrSet{idx: i}
	if p := attrs.addProps(v.Attributes, tracker.FieldAttributes); p != nil {
		fail(p.Field, p.Reason)
	}
	if bad {
		return
	}
	e.Attributes = attrs.build()
	d.warnings = append(d.warnings, attrs.warn...)
	d.add(i, e, elFields, useIP, useUA)
}
