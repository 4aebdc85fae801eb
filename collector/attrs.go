package collector

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/eventlake/eventlake/tracker"
)

// MaxNesting is how deeply properties and traits may nest objects and
// arrays. Deeper JSON is an error of the event, not something to cut.
const MaxNesting = 32

// attrSet collects an event's attributes and applies the tracker's bounds
// with one rule, so that every event the collector builds passes the
// tracker's attribute validation:
//
//   - Standard attributes (from context.page, context.campaign, a page's or
//     screen's name) come first; a property or trait of the same name
//     replaces one.
//   - Nested objects are flattened with dots (properties.order.total becomes
//     order.total); arrays become their compact JSON text; strings are kept,
//     numbers keep their JSON text, booleans become "true" and "false";
//     null and empty values are left out.
//   - A key segment's bytes other than letters, digits, '_' and '-' become
//     '_', and a key that does not start with a letter gets an "x" in front
//     ($revenue becomes x_revenue). A key over 64 bytes is dropped.
//   - A value over 2,048 bytes is cut to 2,048 bytes at a character
//     boundary.
//   - Properties are taken in key order until the event holds 32 attributes
//     or 16 KiB of keys and values; the rest are dropped.
//
// Everything cut or dropped is reported as a warning naming the field.
type attrSet struct {
	std   []attr // standard attributes, in the order added
	props []attr // flattened properties or traits
	warn  []Problem
	src   string // "properties" or "traits", for warnings
	idx   int    // the event's index, for warnings
}

type attr struct{ k, v string }

// add sets a standard attribute; empty values are ignored.
func (a *attrSet) add(k, v string) {
	if v == "" {
		return
	}
	a.std = append(a.std, attr{k, v})
}

// addProps flattens a JSON object (raw, already known to be valid JSON)
// into properties. It returns a problem when raw is not an object (null
// and absent are fine) or nests deeper than MaxNesting.
func (a *attrSet) addProps(raw json.RawMessage, src string) *Problem {
	a.src = src
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	if raw[0] != '{' {
		return &Problem{Field: src, Reason: "must be an object, not " + jsonKind(raw[0])}
	}
	s := scanner{b: raw}
	if !a.object(&s, "", 1) {
		return &Problem{Field: src, Reason: "nests objects or arrays deeper than " + strconv.Itoa(MaxNesting) + " levels"}
	}
	return nil
}

// object flattens the object at s under prefix; false when too deep.
func (a *attrSet) object(s *scanner, prefix string, depth int) bool {
	if depth > MaxNesting {
		return false
	}
	s.i++ // '{'
	for {
		s.ws()
		if s.b[s.i] == '}' {
			s.i++
			return true
		}
		if s.b[s.i] == ',' {
			s.i++
			s.ws()
		}
		name := s.str()
		s.ws()
		s.i++ // ':'
		s.ws()
		key := joinKey(prefix, name)
		switch c := s.b[s.i]; c {
		case '{':
			if !a.object(s, key, depth+1) {
				return false
			}
		case '[':
			start := s.i
			if !s.skip(depth + 1) {
				return false
			}
			var out bytes.Buffer
			out.Grow(s.i - start)
			_ = json.Compact(&out, s.b[start:s.i]) // valid: checked by the decoder
			a.prop(key, out.String())
		case '"':
			a.prop(key, s.str())
		case 'n':
			s.i += 4 // null: left out
		default: // number, true, false
			start := s.i
			for s.i < len(s.b) && !strings.ContainsRune(",}] \t\r\n", rune(s.b[s.i])) {
				s.i++
			}
			a.prop(key, string(s.b[start:s.i]))
		}
	}
}

// prop records one flattened property; empty values are left out.
func (a *attrSet) prop(key, v string) {
	if v != "" {
		a.props = append(a.props, attr{key, v})
	}
}

// joinKey appends a sanitized name to prefix with a dot.
func joinKey(prefix, name string) string {
	clean := sanitizeSegment(name)
	if prefix == "" {
		return clean
	}
	return prefix + "." + clean
}

// sanitizeSegment replaces the bytes of a key segment that an attribute key
// may not hold by '_'; an empty segment becomes "_".
func sanitizeSegment(s string) string {
	if s == "" {
		return "_"
	}
	ok := true
	for i := 0; i < len(s); i++ {
		if !keyByte(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		if !keyByte(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func keyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// build returns the attributes within the tracker's limits (nil when there
// are none) and records what it cut or dropped as warnings.
func (a *attrSet) build() map[string]string {
	if len(a.std) == 0 && len(a.props) == 0 {
		return nil
	}
	if len(a.props) > 1 {
		slices.SortStableFunc(a.props, func(x, y attr) int { return strings.Compare(x.k, y.k) })
	}
	m := make(map[string]string, min(len(a.std)+len(a.props), tracker.MaxAttributes))
	total := 0
	dropped := 0
	put := func(k, v string) {
		if !isLetter(k[0]) {
			k = "x" + k
		}
		if len(k) > tracker.MaxAttributeKeyBytes {
			a.warning(k, "key is over "+strconv.Itoa(tracker.MaxAttributeKeyBytes)+" bytes: dropped")
			return
		}
		if len(v) > tracker.MaxAttributeValueBytes {
			v = cutUTF8(v, tracker.MaxAttributeValueBytes)
			a.warning(k, "value cut to "+strconv.Itoa(tracker.MaxAttributeValueBytes)+" bytes")
		}
		old, exists := m[k]
		if exists {
			total -= len(k) + len(old)
		} else if len(m) >= tracker.MaxAttributes {
			dropped++
			return
		}
		if total+len(k)+len(v) > tracker.MaxAttributesBytes {
			if exists {
				delete(m, k)
			}
			dropped++
			return
		}
		m[k] = v
		total += len(k) + len(v)
	}
	// Standard attributes first, so the budget never drops them; properties
	// with the same name then replace them.
	for _, s := range a.std {
		put(s.k, s.v)
	}
	// A key seen twice ("a.b" and {"a":{"b":..}}, or a repeated JSON key):
	// the later one in the body wins (the sort is stable).
	for _, p := range a.props {
		put(p.k, p.v)
	}
	if dropped > 0 {
		a.warning("", strconv.Itoa(dropped)+" attribute(s) dropped: an event keeps at most "+
			strconv.Itoa(tracker.MaxAttributes)+" attributes and "+strconv.Itoa(tracker.MaxAttributesBytes)+" bytes of keys and values")
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func (a *attrSet) warning(key, reason string) {
	field := a.src
	if field == "" {
		field = "attributes"
	}
	if key != "" {
		field += "." + key
	}
	a.warn = append(a.warn, Problem{Index: a.idx, Field: field, Reason: reason})
}

// cutUTF8 returns the longest prefix of s of at most n bytes that does not
// split a character.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// jsonKind names the JSON type that starts with c, for messages.
func jsonKind(c byte) string {
	switch c {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// scanner walks JSON that encoding/json has already validated.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n' || s.b[s.i] == '\r') {
		s.i++
	}
}

// str reads a string and returns its value.
func (s *scanner) str() string {
	start := s.i
	r := s.rawStr()
	if !r.esc {
		return string(r.b)
	}
	return unescape(s.b[start:s.i])
}

// skip reads any value; false when it nests deeper than MaxNesting.
func (s *scanner) skip(depth int) bool {
	if depth > MaxNesting {
		return false
	}
	s.ws()
	switch s.b[s.i] {
	case '"':
		s.str()
	case '{', '[':
		s.i++
		for {
			s.ws()
			switch s.b[s.i] {
			case '}', ']':
				s.i++
				return true
			case ',', ':':
				s.i++
			default:
				if !s.skip(depth + 1) {
					return false
				}
			}
		}
	default:
		for s.i < len(s.b) && !strings.ContainsRune(",}]: \t\r\n", rune(s.b[s.i])) {
			s.i++
		}
	}
	return true
}
