package firehoselocal

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

var partitionKeyRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// prefix is a parsed S3 prefix with !{timestamp:...},
// !{partitionKeyFromQuery:...} and !{firehose:error-output-type} expressions.
type prefix struct {
	src   string
	parts []prefixPart
}

// prefixPart is literal text or, when field is set, one field of the
// arrival time (yyyy, MM, dd, HH, mm or ss), or, when key is set, the value
// of that partition key, or, when errType is set, the error output type.
type prefixPart struct {
	literal string
	field   string
	key     string
	errType bool
}

// keys returns the partition keys the prefix uses.
func (p prefix) keys() []string {
	var out []string
	for _, part := range p.parts {
		if part.key != "" {
			out = append(out, part.key)
		}
	}
	return out
}

// hasErrType reports whether the prefix uses !{firehose:error-output-type}.
func (p prefix) hasErrType() bool {
	for _, part := range p.parts {
		if part.errType {
			return true
		}
	}
	return false
}

// parsePrefix parses a Firehose S3 prefix. It supports literal text,
// !{timestamp:FORMAT} where FORMAT is a Java DateTimeFormatter pattern built
// from yyyy, MM, dd, HH, mm, ss, quoted literals ('T') and the characters
// - _ / . and space, !{partitionKeyFromQuery:NAME} (dynamic partitioning)
// and !{firehose:error-output-type} (error prefixes); which of the last two
// a stream accepts is checked where the prefix is used. Other namespaces
// (!{firehose:random-string}, !{partitionKeyFromLambda:...}) are refused.
func parsePrefix(s string) (prefix, error) {
	p := prefix{src: s}
	rest := s
	for rest != "" {
		i := strings.Index(rest, "!{")
		if i < 0 {
			p.parts = append(p.parts, prefixPart{literal: rest})
			break
		}
		if i > 0 {
			p.parts = append(p.parts, prefixPart{literal: rest[:i]})
		}
		end := strings.IndexByte(rest[i:], '}')
		if end < 0 {
			return prefix{}, fmt.Errorf("prefix %q: unterminated expression", s)
		}
		expr := rest[i+2 : i+end]
		rest = rest[i+end+1:]
		if name, ok := strings.CutPrefix(expr, "partitionKeyFromQuery:"); ok {
			if !partitionKeyRE.MatchString(name) {
				return prefix{}, fmt.Errorf("prefix %q: partition key name %q is not 1-64 of a-z, A-Z, 0-9, '_'", s, name)
			}
			p.parts = append(p.parts, prefixPart{key: name})
			continue
		}
		if expr == "firehose:error-output-type" {
			p.parts = append(p.parts, prefixPart{errType: true})
			continue
		}
		format, ok := strings.CutPrefix(expr, "timestamp:")
		if !ok {
			return prefix{}, fmt.Errorf("prefix %q: only !{timestamp:...}, !{partitionKeyFromQuery:...} and !{firehose:error-output-type} expressions are supported, not !{%s}", s, expr)
		}
		parts, err := timestampParts(format)
		if err != nil {
			return prefix{}, fmt.Errorf("prefix %q: %w", s, err)
		}
		p.parts = append(p.parts, parts...)
	}
	return p, nil
}

// timestampParts parses a DateTimeFormatter pattern.
func timestampParts(f string) ([]prefixPart, error) {
	var parts []prefixPart
	for i := 0; i < len(f); {
		c := f[i]
		switch {
		case c == '\'':
			j := strings.IndexByte(f[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("timestamp format %q: unterminated quote", f)
			}
			parts = append(parts, prefixPart{literal: f[i+1 : i+1+j]})
			i += j + 2
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(f) && f[j] == c {
				j++
			}
			tok := f[i:j]
			switch tok {
			case "yyyy", "MM", "dd", "HH", "mm", "ss":
			default:
				return nil, fmt.Errorf("timestamp format %q: unsupported pattern %q", f, tok)
			}
			parts = append(parts, prefixPart{field: tok})
			i = j
		case strings.IndexByte("-_/. ", c) >= 0:
			parts = append(parts, prefixPart{literal: string(c)})
			i++
		default:
			return nil, fmt.Errorf("timestamp format %q: unsupported character %q", f, c)
		}
	}
	return parts, nil
}

// eval returns the prefix for a record that arrived at t (UTC).
func (p prefix) eval(t time.Time) string { return p.evalWith(t, nil, "") }

// evalWith returns the prefix for a record that arrived at t (UTC) with the
// partition keys keys and, for an error prefix, the error output type.
func (p prefix) evalWith(t time.Time, keys map[string]string, errType string) string {
	t = t.UTC()
	var b []byte
	for _, part := range p.parts {
		switch {
		case part.key != "":
			b = append(b, keys[part.key]...)
			continue
		case part.errType:
			b = append(b, errType...)
			continue
		}
		switch part.field {
		case "":
			b = append(b, part.literal...)
		case "yyyy":
			b = fmt.Appendf(b, "%04d", t.Year())
		case "MM":
			b = fmt.Appendf(b, "%02d", int(t.Month()))
		case "dd":
			b = fmt.Appendf(b, "%02d", t.Day())
		case "HH":
			b = fmt.Appendf(b, "%02d", t.Hour())
		case "mm":
			b = fmt.Appendf(b, "%02d", t.Minute())
		case "ss":
			b = fmt.Appendf(b, "%02d", t.Second())
		}
	}
	return string(b)
}
