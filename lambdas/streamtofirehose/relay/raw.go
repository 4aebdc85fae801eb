package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventlake/eventlake/internal/jsonstr"
)

// Invoke implements lambda.Handler: lambda.Start(h) hands it the raw
// invocation payload, a DynamoDB stream event, and it returns the JSON of
// an events.DynamoDBEventResponse. It does what Handle does, with the same
// lines, retries, logs and response, but it reads the payload itself
// instead of letting the runtime decode it into events.DynamoDBEvent:
// aws-lambda-go's decoding of attribute values costs tens of microseconds
// and about 140 allocations per record, far more than the relaying itself.
//
// Invoke reads what it needs of each record (eventID, eventName,
// dynamodb.SequenceNumber, dynamodb.NewImage) and encodes the common image
// shape (string columns, attributes a map of strings, printable ASCII
// without escapes) straight from the payload's bytes. Any other image is
// decoded as the runtime would decode it and encoded by AppendLine, so the
// two paths give the same bytes (a differential fuzz test holds them to
// it). A payload that is not a JSON object with a Records array is an
// error, as the runtime's decoding error would be; an image that the
// runtime could not decode is counted and logged as malformed, like any
// other image that is not an event, instead of failing the batch forever.
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	resp, _, err := h.invoke(ctx, payload)
	if err != nil {
		return nil, err
	}
	return json.Marshal(resp)
}

// InvokeStats is Invoke for callers other than Lambda (the recovery tools of
// lake/recovery): it relays the stream event in payload exactly as Invoke
// does and returns the response with what the invocation did.
func (h *Handler) InvokeStats(ctx context.Context, payload []byte) (events.DynamoDBEventResponse, Stats, error) {
	resp, sum, err := h.invoke(ctx, payload)
	return resp, sum.stats(), err
}

func (h *Handler) invoke(ctx context.Context, payload []byte) (events.DynamoDBEventResponse, summary, error) {
	began := time.Now()
	st := h.pool.Get().(*state)
	defer h.release(st)

	var err error
	st.raw, err = parseEvent(payload, st.raw[:0])
	if err != nil {
		return events.DynamoDBEventResponse{}, summary{}, fmt.Errorf("relay: the payload is not a DynamoDB stream event: %w", err)
	}
	sum := summary{batch: len(st.raw)}
	for i := range st.raw {
		rec := &st.raw[i]
		if !rec.eventName.is(string(events.DynamoDBOperationTypeInsert)) {
			sum.notInsert++
			continue
		}
		start := len(st.out.Buf)
		st.out.Buf, err = appendRawLine(st.out.Buf, rec.image, &st.sc)
		h.check(ctx, st, &sum, i, start, err, func() (string, string) { return jsonText(rec.seq), jsonText(rec.eventID) })
	}
	batch := batchOf{
		seq:   func(i int) string { return jsonText(st.raw[i].seq) },
		id:    func(i int) string { return jsonText(st.raw[i].eventID) },
		image: func(i int) ([]byte, string) { return st.raw[i].image, "" },
	}
	resp := h.deliver(ctx, st, &sum, began, batch)
	return resp, sum, nil
}

// rawRecord is what Invoke reads of one stream record: the contents of its
// JSON strings (escapes left as they are) and NewImage's JSON, all slices
// of the payload.
type rawRecord struct {
	eventID, eventName, seq jsonString
	image                   []byte // nil when absent or null
}

// jsonString is the raw content of a JSON string and whether it holds
// escapes.
type jsonString struct {
	raw []byte
	esc bool
}

// jsonText returns the string's value.
func jsonText(s jsonString) string {
	if !s.esc {
		return string(s.raw)
	}
	var v string
	q := make([]byte, 0, len(s.raw)+2)
	q = append(append(append(q, '"'), s.raw...), '"')
	if json.Unmarshal(q, &v) != nil {
		return string(s.raw)
	}
	return v
}

// is reports whether the string's value is want.
func (s jsonString) is(want string) bool {
	if !s.esc {
		return string(s.raw) == want
	}
	return jsonText(s) == want
}

// maxDepth bounds nesting, as encoding/json does.
const maxDepth = 10000

var errSyntax = errors.New("malformed JSON")

// scan reads JSON from b. It checks structure, not every detail of
// literals and numbers: the payload comes from Lambda, and every value it
// keeps is either checked (fast path) or decoded by encoding/json.
type scan struct {
	b []byte
	i int
}

func (s *scan) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next byte after white space, or 0 at the end.
func (s *scan) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// eat consumes c if it is the next byte after white space.
func (s *scan) eat(c byte) bool {
	if s.peek() == c {
		s.i++
		return true
	}
	return false
}

// lit consumes the JSON literal word (true, false, null) if it is next after
// white space and ends there.
func (s *scan) lit(word string) bool {
	s.ws()
	end := s.i + len(word)
	if end > len(s.b) || string(s.b[s.i:end]) != word || end < len(s.b) && isLiteralByte(s.b[end]) {
		return false
	}
	s.i = end
	return true
}

// str reads a string, eight bytes at a time while they hold neither '"'
// nor '\\'.
func (s *scan) str() (jsonString, error) {
	b := s.b
	i := s.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	if i >= len(b) || b[i] != '"' {
		s.i = i
		return jsonString{}, errSyntax
	}
	i++
	start, esc := i, false
	for {
		for ; i+8 <= len(b); i += 8 {
			t := b[i : i+8]
			w := uint64(t[0]) | uint64(t[1])<<8 | uint64(t[2])<<16 | uint64(t[3])<<24 |
				uint64(t[4])<<32 | uint64(t[5])<<40 | uint64(t[6])<<48 | uint64(t[7])<<56
			if hasQuoteOrBackslash(w) {
				break
			}
		}
		if i >= len(b) {
			s.i = i
			return jsonString{}, errSyntax
		}
		switch b[i] {
		case '"':
			s.i = i + 1
			return jsonString{raw: b[start:i], esc: esc}, nil
		case '\\':
			esc = true
			i += 2 // and the escaped byte (the rest of \uXXXX is plain)
		default:
			i++
		}
	}
}

// hasQuoteOrBackslash reports whether a byte of w may be '"' or '\\' (it
// may report true for other bytes >= 0x80, never false for those two).
func hasQuoteOrBackslash(w uint64) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	quote := w ^ (lo * '"')
	quote = (quote - lo) &^ quote
	bslash := w ^ (lo * '\\')
	bslash = (bslash - lo) &^ bslash
	return (quote|bslash)&hi != 0
}

// skip reads any value.
func (s *scan) skip(depth int) error {
	if depth > maxDepth {
		return errSyntax
	}
	switch s.peek() {
	case '"':
		_, err := s.str()
		return err
	case '{':
		s.i++
		if s.eat('}') {
			return nil
		}
		for {
			if _, err := s.str(); err != nil {
				return err
			}
			if !s.eat(':') {
				return errSyntax
			}
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if s.eat(',') {
				continue
			}
			if s.eat('}') {
				return nil
			}
			return errSyntax
		}
	case '[':
		s.i++
		if s.eat(']') {
			return nil
		}
		for {
			if err := s.skip(depth + 1); err != nil {
				return err
			}
			if s.eat(',') {
				continue
			}
			if s.eat(']') {
				return nil
			}
			return errSyntax
		}
	}
	start := s.i
	for s.i < len(s.b) && isLiteralByte(s.b[s.i]) {
		s.i++
	}
	if s.i == start {
		return errSyntax
	}
	return nil
}

// isLiteralByte reports whether c may appear in a number, true, false or
// null.
func isLiteralByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == '-' || c == '+' || c == '.' || c == 'E'
}

// span reads any value and returns its bytes; nil for null.
func (s *scan) span() ([]byte, error) {
	s.ws()
	start := s.i
	if err := s.skip(0); err != nil {
		return nil, err
	}
	v := s.b[start:s.i]
	if string(v) == "null" {
		return nil, nil
	}
	return v, nil
}

// enter starts reading an object: it reports whether a key follows (null
// reads as an empty object).
func (s *scan) enter() (bool, error) {
	if s.peek() == 'n' {
		return false, s.skip(0)
	}
	if !s.eat('{') {
		return false, errSyntax
	}
	return !s.eat('}'), nil
}

// key reads an object's key and the colon after it.
func (s *scan) key() (jsonString, error) {
	k, err := s.str()
	if err == nil && !s.eat(':') {
		err = errSyntax
	}
	return k, err
}

// next reads what follows an object's value: it reports whether another
// key follows.
func (s *scan) next() (bool, error) {
	if s.eat(',') {
		return true, nil
	}
	if s.eat('}') {
		return false, nil
	}
	return false, errSyntax
}

// text reads a string or null (the zero jsonString).
func (s *scan) text() (jsonString, error) {
	if s.peek() == 'n' {
		return jsonString{}, s.skip(0)
	}
	return s.str()
}

// fields reads an object (null reads as an empty one), calling field with
// each key and the scanner on its value, which field must read. field does
// not escape, so its closure costs no allocation.
func (s *scan) fields(field func(key jsonString) error) error {
	more, err := s.enter()
	for err == nil && more {
		var k jsonString
		if k, err = s.key(); err != nil {
			break
		}
		if err = field(k); err == nil {
			more, err = s.next()
		}
	}
	return err
}

// parseEvent appends the records of a DynamoDB stream event to recs.
func parseEvent(payload []byte, recs []rawRecord) ([]rawRecord, error) {
	s := &scan{b: payload}
	if s.peek() != '{' {
		return recs, errors.New("not a JSON object")
	}
	err := s.fields(func(k jsonString) (err error) {
		if !k.is("Records") || s.peek() == 'n' {
			return s.skip(0)
		}
		recs, err = parseRecords(s, recs)
		return err
	})
	if err != nil {
		return recs, err
	}
	if s.peek() != 0 {
		return recs, errors.New("data after the event")
	}
	return recs, nil
}

// parseRecords reads the Records array.
func parseRecords(s *scan, recs []rawRecord) ([]rawRecord, error) {
	if !s.eat('[') {
		return recs, errors.New("Records is not an array")
	}
	if s.eat(']') {
		return recs, nil
	}
	for {
		recs = append(recs, rawRecord{})
		if err := parseRecord(s, &recs[len(recs)-1]); err != nil {
			return recs, err
		}
		if s.eat(',') {
			continue
		}
		if s.eat(']') {
			return recs, nil
		}
		return recs, errSyntax
	}
}

// parseRecord reads one stream record: eventID, eventName and, in
// dynamodb, SequenceNumber and NewImage.
func parseRecord(s *scan, rec *rawRecord) error {
	return s.fields(func(k jsonString) (err error) {
		switch {
		case k.is("eventID"):
			rec.eventID, err = s.text()
		case k.is("eventName"):
			rec.eventName, err = s.text()
		case k.is("dynamodb"):
			err = s.fields(func(k jsonString) (err error) {
				switch {
				case k.is("SequenceNumber"):
					rec.seq, err = s.text()
				case k.is("NewImage"):
					rec.image, err = s.span()
				default:
					err = s.skip(0)
				}
				return err
			})
		default:
			err = s.skip(0)
		}
		return err
	})
}

// appendRawLine appends the line of the image whose DynamoDB JSON is img
// (nil: no image). It gives the same bytes and errors as AppendLine on the
// image decoded as the Lambda runtime decodes it.
func appendRawLine(dst []byte, img []byte, sc *scratch) ([]byte, error) {
	if out, ok := appendFastLine(dst, img, sc); ok {
		return out, nil
	}
	if img == nil {
		return appendLine(dst, nil, sc)
	}
	var m map[string]events.DynamoDBAttributeValue
	if !decodeLikeTheRuntime(img, &m) {
		return dst, &ImageError{Problem: "NewImage is not DynamoDB JSON"}
	}
	return appendLine(dst, m, sc)
}

// decodeLikeTheRuntime unmarshals data into v as aws-lambda-go does and
// reports whether it could; the events package's attribute decoder panics
// on some malformed sets, which counts as a failure.
func decodeLikeTheRuntime(data []byte, v any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return json.Unmarshal(data, v) == nil
}

// isPlain reports whether b is a JSON string's content that needs neither
// unescaping nor escaping: printable ASCII other than '"' and '\\'.
func isPlain(b []byte) bool {
	return jsonstr.SafePrefix(b) == len(b)
}

// appendFastLine encodes the common image shape straight from its JSON:
// each schema field at most once, string fields {"S":"<plain, non-empty>"},
// attributes {"M":{...}} of at least one {"S":"<plain>"} with plain, unique
// keys. Other attributes are skipped whatever they hold. It reports false,
// with dst unchanged, for anything else.
func appendFastLine(dst []byte, img []byte, sc *scratch) ([]byte, bool) {
	if img == nil {
		return dst, false
	}
	if cap(sc.cols) < len(columns) {
		sc.cols = make([][]byte, len(columns))
	}
	cols := sc.cols[:len(columns)]
	clear(cols)
	defer clear(cols)
	s := scan{b: img}
	if !s.eat('{') || s.eat('}') {
		return dst, false
	}
	for {
		key, err := s.str()
		if err != nil || key.esc || !s.eat(':') {
			return dst, false
		}
		ci := -1
		for i := range columns {
			if string(key.raw) == columns[i].name {
				ci = i
				break
			}
		}
		if ci < 0 {
			if s.skip(0) != nil {
				return dst, false
			}
		} else {
			if cols[ci] != nil || !s.eat('{') {
				return dst, false
			}
			t, err := s.str()
			if err != nil || !s.eat(':') {
				return dst, false
			}
			if columns[ci].isBool {
				if string(t.raw) != "BOOL" {
					return dst, false
				}
				switch {
				case s.lit("true"):
					cols[ci] = litTrue
				case s.lit("false"):
					cols[ci] = litFalse
				default:
					return dst, false
				}
			} else if columns[ci].isMap {
				if string(t.raw) != "M" || s.peek() != '{' {
					return dst, false
				}
				start := s.i
				if s.skip(0) != nil {
					return dst, false
				}
				cols[ci] = img[start:s.i]
			} else {
				if string(t.raw) != "S" {
					return dst, false
				}
				v, err := s.str()
				if err != nil || len(v.raw) == 0 || !isPlain(v.raw) || columns[ci].isTime && !validTime(v.raw) {
					return dst, false // the slow path names a bad time
				}
				cols[ci] = v.raw
			}
			if !s.eat('}') {
				return dst, false
			}
		}
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			break
		}
		return dst, false
	}
	if s.peek() != 0 {
		return dst, false
	}
	start := len(dst)
	dst = append(dst, '{')
	identified := false
	for ci := range columns {
		c := &columns[ci]
		v := cols[ci]
		if v == nil {
			if c.required {
				return dst[:start], false
			}
			continue
		}
		identified = identified || c.identity
		if len(dst) > start+1 {
			dst = append(dst, ',')
		}
		dst = append(dst, c.key...)
		if c.isBool {
			dst = append(dst, v...)
			continue
		}
		if c.isMap {
			var ok bool
			if dst, ok = appendFastAttributes(dst, v, sc); !ok {
				return dst[:start], false
			}
			continue
		}
		dst = append(dst, '"')
		dst = append(dst, v...)
		dst = append(dst, '"')
	}
	if !identified {
		return dst[:start], false // the slow path names the error
	}
	return append(dst, '}', '\n'), true
}

// The values of a boolean column on the fast path.
var (
	litTrue  = []byte("true")
	litFalse = []byte("false")
)

// maxFastAttributes bounds the insertion sort of appendFastAttributes;
// larger maps take the slow path.
const maxFastAttributes = 32

// appendFastAttributes appends the JSON object of m, the JSON of a
// DynamoDB map of plain strings, with sorted keys.
func appendFastAttributes(dst []byte, m []byte, sc *scratch) ([]byte, bool) {
	s := scan{b: m}
	if !s.eat('{') || s.eat('}') {
		return dst, false // empty: the slow path omits or rejects it
	}
	kv := sc.kv[:0]
	defer func() { clear(kv); sc.kv = kv[:0] }()
	for {
		key, err := s.str()
		if err != nil || !isPlain(key.raw) || !s.eat(':') || !s.eat('{') {
			return dst, false
		}
		t, err := s.str()
		if err != nil || string(t.raw) != "S" || !s.eat(':') {
			return dst, false
		}
		v, err := s.str()
		if err != nil || !isPlain(v.raw) || !s.eat('}') {
			return dst, false
		}
		if kv = append(kv, [2][]byte{key.raw, v.raw}); len(kv) > maxFastAttributes {
			return dst, false
		}
		if s.eat(',') {
			continue
		}
		if s.eat('}') {
			break
		}
		return dst, false
	}
	for i := 1; i < len(kv); i++ {
		for j := i; j > 0 && bytes.Compare(kv[j][0], kv[j-1][0]) < 0; j-- {
			kv[j], kv[j-1] = kv[j-1], kv[j]
		}
	}
	dst = append(dst, '{')
	for i, p := range kv {
		if i > 0 {
			if bytes.Equal(p[0], kv[i-1][0]) {
				return dst, false // a repeated key: the runtime keeps the last
			}
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, p[0]...)
		dst = append(dst, '"', ':', '"')
		dst = append(dst, p[1]...)
		dst = append(dst, '"')
	}
	return append(dst, '}'), true
}
