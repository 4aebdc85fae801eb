package collector

import (
	"bytes"
	"encoding/json"
)

// The Segment decoder reads messages from JSON that json.Valid has already
// checked, in one pass without reflection: it extracts the fields eventlake
// stores and skips the rest (most of an analytics.js message is context
// eventlake ignores). It decodes what encoding/json would into the
// equivalent struct (a differential fuzz test holds it to that): keys match
// exactly or, failing that, case-insensitively; the last of repeated keys
// wins; null leaves a field empty; a known field of the wrong JSON type is a
// problem naming the field, and the rest is still read.

// segMessage is one message of Segment's tracking API, as analytics.js,
// analytics-go, analytics-node and the mobile libraries send it: only what
// eventlake stores. The byte slices are raw JSON values (nil when absent),
// slices of the request body.
type segMessage struct {
	Type, Event, Name, Category                string
	Timestamp, OriginalTimestamp, SentAt       string
	WriteKey                                   string
	MessageID, UserID, AnonymousID, PreviousID []byte
	Properties, Traits                         []byte
	Context                                    segContext
	HasContext                                 bool
}

// segContext is the part of a message's context eventlake stores.
type segContext struct {
	IP, UserAgent              string
	URL, Path, Referrer, Title string // context.page
	// context.campaign: source, medium, name, term, content
	Source, Medium, CampaignName, Term, Content string
}

// segBatch is the body of /v1/batch: the messages (raw, slices of the
// body) and what they share.
type segBatch struct {
	Batch      [][]byte
	HasBatch   bool
	SentAt     string
	WriteKey   string
	Context    segContext
	HasContext bool
}

// key names, as bytes for comparisons without allocation.
var (
	kType, kEvent, kName, kCategory          = []byte("type"), []byte("event"), []byte("name"), []byte("category")
	kTimestamp, kOriginal, kSentAt, kWKey    = []byte("timestamp"), []byte("originalTimestamp"), []byte("sentAt"), []byte("writeKey")
	kMessageID, kUserID, kAnonID, kPrevID    = []byte("messageId"), []byte("userId"), []byte("anonymousId"), []byte("previousId")
	kProperties, kTraits, kContext, kBatch   = []byte("properties"), []byte("traits"), []byte("context"), []byte("batch")
	kIP, kUserAgent, kPage, kCampaign        = []byte("ip"), []byte("userAgent"), []byte("page"), []byte("campaign")
	kURL, kPath, kReferrer, kTitle           = []byte("url"), []byte("path"), []byte("referrer"), []byte("title")
	kSource, kMedium, kTerm, kContent, kCNam = []byte("source"), []byte("medium"), []byte("term"), []byte("content"), []byte("name")
)

// is reports whether a key (raw, unescaped) names a field: exactly, or
// case-insensitively as encoding/json falls back to.
func is(key, name []byte) bool {
	return bytes.Equal(key, name) || bytes.EqualFold(key, name)
}

// decoder reads one JSON document and remembers the first problem.
type decoder struct {
	s    scanner
	prob *Problem
	path []byte // the dotted path of the object being read, for problems
}

func (d *decoder) problem(key []byte, reason string) {
	if d.prob == nil {
		field := string(key)
		if len(d.path) > 0 {
			field = string(d.path) + "." + field
		}
		d.prob = &Problem{Field: field, Reason: reason}
	}
}

// key reads an object's key and the colon after it, and returns the key
// unescaped (a slice of the body when it has no escapes).
func (d *decoder) key() []byte {
	s := &d.s
	s.ws()
	start := s.i
	raw := s.rawStr()
	end := s.i
	s.ws()
	s.i++ // ':'
	s.ws()
	if raw.esc {
		return []byte(unescape(s.b[start:end]))
	}
	return raw.b
}

// each calls f with every key of the object at the scanner, positioned at
// its value, which f must read (d.skip, d.string, ...).
func (d *decoder) each(f func(key []byte)) {
	s := &d.s
	s.i++ // '{'
	for {
		s.ws()
		switch s.b[s.i] {
		case '}':
			s.i++
			return
		case ',':
			s.i++
			continue
		}
		f(d.key())
	}
}

// skip reads any value.
func (d *decoder) skip() { d.s.skipValid() }

// raw reads any value and returns its bytes; nil for null.
func (d *decoder) raw() []byte {
	s := &d.s
	start := s.i
	s.skipValid()
	if s.b[start] == 'n' {
		return nil
	}
	return s.b[start:s.i]
}

// str reads a string value into *dst; null leaves it; another type is a
// problem.
func (d *decoder) str(key []byte, dst *string) {
	s := &d.s
	switch c := s.b[s.i]; c {
	case '"':
		*dst = s.str()
	case 'n':
		s.i += 4
	default:
		d.problem(key, "must be a string, not "+jsonKind(c))
		s.skipValid()
	}
}

// object reads an object value with f, under key in the problems' path;
// null reads as absent; another type is a problem. It reports whether an
// object was read.
func (d *decoder) object(key []byte, f func(key []byte)) bool {
	s := &d.s
	switch c := s.b[s.i]; c {
	case '{':
		n := len(d.path)
		if n > 0 {
			d.path = append(d.path, '.')
		}
		d.path = append(d.path, key...)
		d.each(f)
		d.path = d.path[:n]
		return true
	case 'n':
		s.i += 4
	default:
		d.problem(key, "must be an object, not "+jsonKind(c))
		s.skipValid()
	}
	return false
}

// context reads a context object into c.
func (d *decoder) context(key []byte, c *segContext) bool {
	return d.object(key, func(k []byte) {
		switch {
		case is(k, kIP):
			d.str(k, &c.IP)
		case is(k, kUserAgent):
			d.str(k, &c.UserAgent)
		case is(k, kPage):
			d.object(k, func(k []byte) {
				switch {
				case is(k, kURL):
					d.str(k, &c.URL)
				case is(k, kPath):
					d.str(k, &c.Path)
				case is(k, kReferrer):
					d.str(k, &c.Referrer)
				case is(k, kTitle):
					d.str(k, &c.Title)
				default:
					d.skip()
				}
			})
		case is(k, kCampaign):
			d.object(k, func(k []byte) {
				switch {
				case is(k, kSource):
					d.str(k, &c.Source)
				case is(k, kMedium):
					d.str(k, &c.Medium)
				case is(k, kCNam):
					d.str(k, &c.CampaignName)
				case is(k, kTerm):
					d.str(k, &c.Term)
				case is(k, kContent):
					d.str(k, &c.Content)
				default:
					d.skip()
				}
			})
		default:
			d.skip()
		}
	})
}

// decodeMessage reads one message from raw, which must be valid JSON, into
// m, and returns the first problem (a field of the wrong type; the rest is
// read anyway), or nil.
func decodeMessage(raw []byte, m *segMessage) *Problem {
	d := decoder{s: scanner{b: raw}}
	d.s.ws()
	if c := raw[d.s.i]; c != '{' {
		return &Problem{Reason: "must be a JSON object, not " + jsonKind(c)}
	}
	d.each(func(k []byte) {
		switch {
		case is(k, kType):
			d.str(k, &m.Type)
		case is(k, kEvent):
			d.str(k, &m.Event)
		case is(k, kName):
			d.str(k, &m.Name)
		case is(k, kCategory):
			d.str(k, &m.Category)
		case is(k, kTimestamp):
			d.str(k, &m.Timestamp)
		case is(k, kOriginal):
			d.str(k, &m.OriginalTimestamp)
		case is(k, kSentAt):
			d.str(k, &m.SentAt)
		case is(k, kWKey):
			d.str(k, &m.WriteKey)
		case is(k, kMessageID):
			m.MessageID = d.raw()
		case is(k, kUserID):
			m.UserID = d.raw()
		case is(k, kAnonID):
			m.AnonymousID = d.raw()
		case is(k, kPrevID):
			m.PreviousID = d.raw()
		case is(k, kProperties):
			m.Properties = d.raw()
		case is(k, kTraits):
			m.Traits = d.raw()
		case is(k, kContext):
			if d.context(k, &m.Context) {
				m.HasContext = true
			}
		default:
			d.skip()
		}
	})
	return d.prob
}

// decodeBatch reads a batch body, which must be valid JSON, into b.
func decodeBatch(body []byte, b *segBatch) *Problem {
	d := decoder{s: scanner{b: body}}
	d.s.ws()
	if c := body[d.s.i]; c != '{' {
		return &Problem{Reason: "must be a JSON object, not " + jsonKind(c)}
	}
	d.each(func(k []byte) {
		switch {
		case is(k, kBatch):
			s := &d.s
			switch c := s.b[s.i]; c {
			case '[':
				b.HasBatch = true
				b.Batch = b.Batch[:0]
				s.i++
				for {
					s.ws()
					switch s.b[s.i] {
					case ']':
						s.i++
						return
					case ',':
						s.i++
						continue
					}
					start := s.i
					s.skipValid()
					b.Batch = append(b.Batch, s.b[start:s.i])
				}
			case 'n':
				s.i += 4
				b.HasBatch, b.Batch = false, nil
			default:
				d.problem(k, "must be an array, not "+jsonKind(c))
				s.skipValid()
			}
		case is(k, kSentAt):
			d.str(k, &b.SentAt)
		case is(k, kWKey):
			d.str(k, &b.WriteKey)
		case is(k, kContext):
			if d.context(k, &b.Context) {
				b.HasContext = true
			}
		default:
			d.skip()
		}
	})
	return d.prob
}

// skipValid reads any value of valid JSON, however deeply nested, without
// recursion.
func (s *scanner) skipValid() {
	s.ws()
	depth := 0
	for {
		switch c := s.b[s.i]; c {
		case '"':
			s.rawStr()
		case '{', '[':
			depth++
			s.i++
		case '}', ']':
			depth--
			s.i++
		case ',', ':', ' ', '\t', '\n', '\r':
			s.i++
			continue
		default: // a number, true, false, null
			for s.i < len(s.b) && !isDelimiter(s.b[s.i]) {
				s.i++
			}
		}
		if depth == 0 {
			return
		}
	}
}

func isDelimiter(c byte) bool {
	return c == ',' || c == '}' || c == ']' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

// rawString is a JSON string's content as it is in the body.
type rawString struct {
	b   []byte
	esc bool // holds escapes
}

// rawStr reads a string (the scanner at its quote) and returns its raw
// content.
func (s *scanner) rawStr() rawString {
	s.i++ // '"'
	start, esc := s.i, false
	for {
		j := bytes.IndexByte(s.b[s.i:], '"')
		if k := bytes.IndexByte(s.b[s.i:s.i+j], '\\'); k >= 0 {
			esc = true
			s.i += k + 2 // the backslash and the byte it escapes
			continue
		}
		s.i += j
		r := rawString{b: s.b[start:s.i], esc: esc}
		s.i++
		return r
	}
}

// unescape returns the value of a valid JSON string (quotes included).
func unescape(quoted []byte) string {
	var v string
	_ = json.Unmarshal(quoted, &v) // valid: checked before decoding
	return v
}
