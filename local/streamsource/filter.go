package streamsource

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// InsertOnly is the filter pattern that keeps only INSERT records, as the
// pipeline's event source mapping uses it.
const InsertOnly = `{"eventName":["INSERT"]}`

// Filter is one compiled FilterCriteria pattern, in the syntax of Lambda's
// event filtering: a JSON object whose keys follow the record's keys, with
// arrays of matchers at the leaves. All keys of a pattern must match (AND);
// the matchers of one array are alternatives (OR); a leaf matches an array
// value when any element matches. Matchers: a string, number, boolean or null
// for equality, and objects {"prefix": s}, {"suffix": s},
// {"equals-ignore-case": s}, {"anything-but": v or [v...]}, {"exists": bool},
// {"numeric": [op, n (, op, n)]} with op one of =, <, <=, >, >=.
//
// A Filter is immutable and safe for concurrent use.
type Filter struct {
	pattern string
	root    *patternNode
}

// FilterError reports what is wrong with a filter pattern, and where.
type FilterError struct {
	// Path is the dotted key path of the bad part ("" for the whole pattern).
	Path string
	// Problem says what is wrong.
	Problem string
}

func (e *FilterError) Error() string {
	if e.Path == "" {
		return "filter pattern: " + e.Problem
	}
	return "filter pattern at " + e.Path + ": " + e.Problem
}

type patternNode struct {
	children map[string]*patternNode // an object pattern
	leaf     []matcher               // or a leaf: alternatives
}

type matchKind int

const (
	matchEqual matchKind = iota
	matchPrefix
	matchSuffix
	matchIgnoreCase
	matchAnythingBut
	matchExists
	matchNumeric
)

type matcher struct {
	kind   matchKind
	value  any   // matchEqual: string, float64, bool or nil
	values []any // matchAnythingBut
	str    string
	exists bool
	ops    []numericOp
}

type numericOp struct {
	op string
	n  float64
}

// ParseFilter compiles a filter pattern. Its errors are *FilterError.
func ParseFilter(pattern string) (*Filter, error) {
	var v any
	dec := json.NewDecoder(strings.NewReader(pattern))
	if err := dec.Decode(&v); err != nil {
		return nil, &FilterError{Problem: "not JSON: " + err.Error()}
	}
	if dec.More() {
		return nil, &FilterError{Problem: "trailing data after the pattern"}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, &FilterError{Problem: "must be a JSON object"}
	}
	root, err := compileObject(obj, "")
	if err != nil {
		return nil, err
	}
	return &Filter{pattern: pattern, root: root}, nil
}

// String returns the pattern the filter was compiled from.
func (f *Filter) String() string { return f.pattern }

func compileObject(obj map[string]any, path string) (*patternNode, error) {
	if len(obj) == 0 {
		return nil, &FilterError{Path: path, Problem: "empty object"}
	}
	n := &patternNode{children: make(map[string]*patternNode, len(obj))}
	for k, v := range obj {
		p := k
		if path != "" {
			p = path + "." + k
		}
		if strings.HasPrefix(k, "$") {
			return nil, &FilterError{Path: p, Problem: "operators on keys (" + k + ") are not supported"}
		}
		switch v := v.(type) {
		case map[string]any:
			c, err := compileObject(v, p)
			if err != nil {
				return nil, err
			}
			n.children[k] = c
		case []any:
			ms, err := compileLeaf(v, p)
			if err != nil {
				return nil, err
			}
			n.children[k] = &patternNode{leaf: ms}
		default:
			return nil, &FilterError{Path: p, Problem: "must be an object or an array of matchers"}
		}
	}
	return n, nil
}

func compileLeaf(arr []any, path string) ([]matcher, error) {
	if len(arr) == 0 {
		return nil, &FilterError{Path: path, Problem: "empty array of matchers"}
	}
	ms := make([]matcher, 0, len(arr))
	for _, v := range arr {
		switch v := v.(type) {
		case string, float64, bool, nil:
			ms = append(ms, matcher{kind: matchEqual, value: v})
		case map[string]any:
			m, err := compileMatcher(v, path)
			if err != nil {
				return nil, err
			}
			ms = append(ms, m)
		default:
			return nil, &FilterError{Path: path, Problem: "a matcher must be a value or an object, not an array"}
		}
	}
	return ms, nil
}

func compileMatcher(obj map[string]any, path string) (matcher, error) {
	if len(obj) != 1 {
		return matcher{}, &FilterError{Path: path, Problem: "a matcher object must have exactly one key"}
	}
	var k string
	var v any
	for k, v = range obj {
		break
	}
	switch k {
	case "prefix", "suffix", "equals-ignore-case":
		s, ok := v.(string)
		if !ok {
			return matcher{}, &FilterError{Path: path, Problem: k + " needs a string"}
		}
		kind := map[string]matchKind{"prefix": matchPrefix, "suffix": matchSuffix, "equals-ignore-case": matchIgnoreCase}[k]
		return matcher{kind: kind, str: s}, nil
	case "exists":
		b, ok := v.(bool)
		if !ok {
			return matcher{}, &FilterError{Path: path, Problem: "exists needs true or false"}
		}
		return matcher{kind: matchExists, exists: b}, nil
	case "anything-but":
		vals, ok := v.([]any)
		if !ok {
			vals = []any{v}
		}
		if len(vals) == 0 {
			return matcher{}, &FilterError{Path: path, Problem: "anything-but needs at least one value"}
		}
		for _, x := range vals {
			switch x.(type) {
			case string, float64, bool, nil:
			default:
				return matcher{}, &FilterError{Path: path, Problem: "anything-but takes strings, numbers, booleans or null"}
			}
		}
		return matcher{kind: matchAnythingBut, values: vals}, nil
	case "numeric":
		arr, ok := v.([]any)
		if !ok || len(arr) == 0 || len(arr)%2 != 0 || len(arr) > 4 {
			return matcher{}, &FilterError{Path: path, Problem: `numeric needs one or two pairs: [">", 0, "<=", 5]`}
		}
		var ops []numericOp
		for i := 0; i < len(arr); i += 2 {
			op, ok1 := arr[i].(string)
			n, ok2 := arr[i+1].(float64)
			if !ok1 || !ok2 {
				return matcher{}, &FilterError{Path: path, Problem: "numeric needs operator-number pairs"}
			}
			switch op {
			case "=", "<", "<=", ">", ">=":
			default:
				return matcher{}, &FilterError{Path: path, Problem: fmt.Sprintf("numeric operator %q is not one of = < <= > >=", op)}
			}
			ops = append(ops, numericOp{op: op, n: n})
		}
		return matcher{kind: matchNumeric, ops: ops}, nil
	}
	return matcher{}, &FilterError{Path: path, Problem: fmt.Sprintf("unknown matcher %q", k)}
}

// topLevelKeys are the record keys recordTop decodes for filters.
var topLevelKeys = map[string]bool{"eventID": true, "eventName": true, "eventVersion": true, "eventSource": true, "awsRegion": true}

// topLevelOnly reports whether the pattern reads only leaf values of
// topLevelKeys, so a record's recordTop is enough to match it.
func (f *Filter) topLevelOnly() bool {
	for k, c := range f.root.children {
		if c.leaf == nil || !topLevelKeys[k] {
			return false
		}
	}
	return true
}

// Match reports whether the JSON object record matches the pattern. Invalid
// JSON matches nothing.
func (f *Filter) Match(record []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(record, &m) != nil {
		return false
	}
	return f.match(m)
}

func (f *Filter) match(m map[string]json.RawMessage) bool { return f.root.matchObject(m) }

func (n *patternNode) matchObject(m map[string]json.RawMessage) bool {
	for k, c := range n.children {
		raw, present := m[k]
		if c.leaf != nil {
			if !matchLeaf(c.leaf, raw, present) {
				return false
			}
			continue
		}
		if !present {
			return false
		}
		var sub map[string]json.RawMessage
		if json.Unmarshal(raw, &sub) != nil || sub == nil {
			return false
		}
		if !c.matchObject(sub) {
			return false
		}
	}
	return true
}

func matchLeaf(ms []matcher, raw json.RawMessage, present bool) bool {
	var v any
	if present {
		dec := json.NewDecoder(bytes.NewReader(raw))
		if dec.Decode(&v) != nil {
			return false
		}
	}
	for _, m := range ms {
		if m.kind == matchExists {
			if m.exists == present {
				return true
			}
			continue
		}
		if !present {
			continue
		}
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				if m.matchValue(e) {
					return true
				}
			}
			continue
		}
		if m.matchValue(v) {
			return true
		}
	}
	return false
}

func (m matcher) matchValue(v any) bool {
	switch m.kind {
	case matchEqual:
		return v == m.value
	case matchPrefix:
		s, ok := v.(string)
		return ok && strings.HasPrefix(s, m.str)
	case matchSuffix:
		s, ok := v.(string)
		return ok && strings.HasSuffix(s, m.str)
	case matchIgnoreCase:
		s, ok := v.(string)
		return ok && strings.EqualFold(s, m.str)
	case matchAnythingBut:
		for _, x := range m.values {
			if v == x {
				return false
			}
		}
		return true
	case matchNumeric:
		x, ok := v.(float64)
		if !ok {
			return false
		}
		for _, op := range m.ops {
			var hit bool
			switch op.op {
			case "=":
				hit = x == op.n
			case "<":
				hit = x < op.n
			case "<=":
				hit = x <= op.n
			case ">":
				hit = x > op.n
			case ">=":
				hit = x >= op.n
			}
			if !hit {
				return false
			}
		}
		return true
	}
	return false
}
