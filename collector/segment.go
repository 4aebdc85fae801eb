package collector

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

// Request field names of Segment's messages, by tracker field.
var (
	segFields = map[string]string{
		tracker.FieldUserID: "userId", tracker.FieldAnonymousID: "anonymousId", tracker.FieldEventType: "type",
		tracker.FieldEventAt: "timestamp", tracker.FieldEventID: "messageId", tracker.FieldIPAddress: "context.ip",
		tracker.FieldUserAgent: "context.userAgent", tracker.FieldAttributes: "properties",
	}
	segTrackFields    = with(segFields, tracker.FieldEventType, "event")
	segIdentifyFields = with(segFields, tracker.FieldAttributes, "traits")
	segAliasFields    = with(segFields, tracker.FieldAnonymousID, "previousId")
)

func with(m map[string]string, k, v string) map[string]string {
	c := make(map[string]string, len(m))
	for a, b := range m {
		c[a] = b
	}
	c[k] = v
	return c
}

// decodeSegment decodes a Segment body: one message for the single-call
// routes, {"batch": [...]} for the batch routes.
func (h *Handler) decodeSegment(d *decoded, body []byte, rt route, received time.Time) error {
	if !json.Valid(body) {
		return bodyError(json.Unmarshal(body, new(json.RawMessage)))
	}
	if !rt.batch {
		d.total = 1
		var m segMessage
		if p := decodeMessage(body, &m); p != nil {
			// The rest was read, writeKey included.
			d.fail(0, p.Field, p.Reason)
			d.writeKey = m.WriteKey
			return nil
		}
		d.writeKey = m.WriteKey
		h.segEvent(d, 0, &m, rt.call, nil, time.Time{}, received)
		return nil
	}
	var b segBatch
	if p := decodeBatch(body, &b); p != nil {
		if p.Field == "" {
			return errRequest("the body " + p.Reason)
		}
		return errRequest(p.Field + ": " + p.Reason)
	}
	d.writeKey = b.WriteKey
	if !b.HasBatch {
		return errRequest("batch: missing: a batch request is {\"batch\": [messages]}")
	}
	var sentAt time.Time
	if b.SentAt != "" {
		t, err := parseTime(b.SentAt)
		if err != nil {
			return errRequest("sentAt: " + err.Error())
		}
		sentAt = t
	}
	var batchCtx *segContext
	if b.HasContext {
		batchCtx = &b.Context
	}
	d.total = len(b.Batch)
	for i, raw := range b.Batch {
		if len(raw) > h.o.maxEvent {
			d.fail(i, "", fmt.Sprintf("is %d bytes, over the limit of %d", len(raw), h.o.maxEvent))
			continue
		}
		var m segMessage
		if p := decodeMessage(raw, &m); p != nil {
			d.fail(i, p.Field, p.Reason)
			continue
		}
		if d.writeKey == "" {
			d.writeKey = m.WriteKey // analytics.js batches carry it in each message
		}
		h.segEvent(d, i, &m, "", batchCtx, sentAt, received)
	}
	return nil
}

// segEvent turns message i into an event, or records its problems.
func (h *Handler) segEvent(d *decoded, i int, m *segMessage, call string, batchCtx *segContext, batchSentAt, received time.Time) {
	typ := m.Type
	if call != "" {
		typ = call // the route says what the call is
	}
	bad := false
	fail := func(field, reason string) {
		d.fail(i, field, reason)
		bad = true
	}
	var e tracker.Event
	fields := segFields
	userID, p := idText(m.UserID)
	if p != "" {
		fail("userId", p)
	}
	anonID, p := idText(m.AnonymousID)
	if p != "" {
		fail("anonymousId", p)
	}
	e.UserID, e.AnonymousID = userID, anonID
	attrs := attrSet{idx: i}
	switch typ {
	case "track":
		fields = segTrackFields
		if m.Event == "" {
			fail("event", "is required for a track call")
			break
		}
		e.Type = h.eventType(m.Event)
		if e.Type == "" {
			fail("event", fmt.Sprintf("%q has no letters or digits", truncate(m.Event, 64)))
		}
	case "page":
		e.Type = "page_view"
		attrs.add("name", m.Name)
		attrs.add("category", m.Category)
	case "screen":
		e.Type = "screen"
		attrs.add("name", m.Name)
		attrs.add("category", m.Category)
	case "identify":
		e.Type = tracker.TypeIdentify
		fields = segIdentifyFields
	case "alias":
		e.Type = tracker.TypeAlias
		fields = segAliasFields
		prev, p := idText(m.PreviousID)
		switch {
		case p != "":
			fail("previousId", p)
		case prev == "":
			fail("previousId", "is required for an alias call")
		case userID == "":
			fail("userId", "is required for an alias call")
		}
		e.AnonymousID = prev // the identity the user had before
	case "group":
		fail("type", "group calls are not stored by eventlake (no event type holds them)")
	case "":
		fail("type", "is required: track, page, screen, identify or alias")
	default:
		fail("type", fmt.Sprintf("%q is not a Segment call (track, page, screen, identify, alias)", truncate(typ, 32)))
	}
	if e.UserID == "" && e.AnonymousID == "" && typ != "alias" && typ != "group" {
		fail("userId", "userId or anonymousId is required")
	}
	id, p := idText(m.MessageID)
	if p != "" {
		fail("messageId", p)
	}
	e.ID = EventID(id)

	at, field, err := h.segTime(m, batchSentAt, received)
	if err != nil {
		fail(field, err.Error())
	}
	e.At = at

	c := batchCtx
	if m.HasContext {
		c = &m.Context
	}
	useIP, useUA := true, false
	if c != nil {
		if c.IP != "" {
			e.IP, useIP = c.IP, false
		}
		e.UserAgent = c.UserAgent
		attrs.add(tracker.AttrURL, c.URL)
		attrs.add(tracker.AttrPath, c.Path)
		attrs.add(tracker.AttrReferrer, c.Referrer)
		attrs.add(tracker.AttrTitle, c.Title)
		attrs.add(tracker.AttrUTMSource, c.Source)
		attrs.add(tracker.AttrUTMMedium, c.Medium)
		attrs.add(tracker.AttrUTMCampaign, c.CampaignName)
		attrs.add(tracker.AttrUTMTerm, c.Term)
		attrs.add(tracker.AttrUTMContent, c.Content)
	}
	props, src := m.Properties, "properties"
	if typ == "identify" {
		props, src = m.Traits, "traits"
	}
	if p := attrs.addProps(props, src); p != nil {
		fail(p.Field, p.Reason)
	}
	if bad {
		return
	}
	e.Attributes = attrs.build()
	d.warnings = append(d.warnings, attrs.warn...)
	d.add(i, e, fields, useIP, useUA)
}

// eventType maps a track event's name to an event type.
func (h *Handler) eventType(name string) string {
	n := NormalizeEventName(name)
	if t, ok := h.o.names[n]; ok {
		return t
	}
	return n
}

// segTime returns a message's event time with Segment's clock-skew
// correction, and the field at fault on error.
func (h *Handler) segTime(m *segMessage, batchSentAt, received time.Time) (time.Time, string, error) {
	field, text := "timestamp", m.Timestamp
	if text == "" {
		field, text = "originalTimestamp", m.OriginalTimestamp
	}
	var at time.Time
	if text != "" {
		t, err := parseTime(text)
		if err != nil {
			return time.Time{}, field, err
		}
		at = t
	}
	sent := batchSentAt
	if m.SentAt != "" {
		t, err := parseTime(m.SentAt)
		if err != nil {
			return time.Time{}, "sentAt", err
		}
		sent = t
	}
	if sent.IsZero() {
		if at.IsZero() {
			return received, "", nil
		}
		return at, "", nil
	}
	if at.IsZero() {
		// No event time: the time the client sent it, so that a retry of
		// the same body keeps the same time (and DynamoDB key).
		at = sent
	}
	skew := received.Sub(sent)
	if h.o.tolerance < 0 || skew > h.o.tolerance || skew < -h.o.tolerance {
		at = at.Add(skew)
	}
	return at, "", nil
}

// parseTime reads an ISO 8601 time as Segment's libraries write it.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an ISO 8601 time such as 2026-11-22T10:04:05.123Z", truncate(s, 64))
	}
	return t, nil
}

// idText returns the text of an identifier that Segment allows as a string
// or a number (null and absent are ""), or a problem.
func idText(raw json.RawMessage) (string, string) {
	if len(raw) == 0 {
		return "", ""
	}
	switch c := raw[0]; {
	case c == '"':
		if !json.Valid(raw) {
			return "", "is not a valid string"
		}
		s := scanner{b: raw}
		return s.str(), ""
	case c == 'n':
		return "", ""
	case c == '-' || c >= '0' && c <= '9':
		return string(raw), ""
	default:
		return "", "must be a string or a number, not " + jsonKind(c)
	}
}

// EventID returns the event ID of a Segment messageId: the messageId itself
// when it satisfies the tracker's rule (at most 64 bytes of letters, digits,
// '-' and '_', as UUIDs and analytics.js's "ajs-next-..." IDs do), else "h_"
// and the unpadded base64url SHA-256 of the messageId (45 bytes), so that
// every messageId maps to one ID and a retried message keeps its ID. An
// empty messageId gives "": the tracker generates a UUIDv7.
func EventID(messageID string) string {
	if messageID == "" {
		return ""
	}
	if len(messageID) <= tracker.MaxEventIDBytes && validIDText(messageID) {
		return messageID
	}
	sum := sha256.Sum256([]byte(messageID))
	return "h_" + base64.RawURLEncoding.EncodeToString(sum[:])
}

func validIDText(s string) bool {
	for i := 0; i < len(s); i++ {
		if !keyByte(s[i]) {
			return false
		}
	}
	return true
}

// typeProblem turns encoding/json's type error into a problem naming the
// field.
func typeProblem(err error) (Problem, bool) {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return Problem{}, false
	}
	field := te.Field
	if field == "" {
		return Problem{Reason: "must be a JSON object, not " + te.Value}, true
	}
	return Problem{Field: field, Reason: "must be " + typeName(te.Type.String()) + ", not " + te.Value}, true
}

func typeName(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "*") || strings.HasPrefix(goType, "collector.") || strings.HasPrefix(goType, "struct"):
		return "an object"
	}
	return "of type " + goType
}

// bodyError describes a body that is not the JSON expected.
func bodyError(err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return errRequest("the body is not valid JSON: " + se.Error() + " (at byte " + strconv.FormatInt(se.Offset, 10) + ")")
	}
	return errRequest("the body is not valid JSON: " + err.Error())
}
