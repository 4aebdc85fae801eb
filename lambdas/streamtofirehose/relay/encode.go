package relay

import (
	"cmp"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventlake/eventlake/internal/jsonstr"
	"github.com/eventlake/eventlake/tracker"
)

// ErrNotEvent is matched by every *ImageError: errors.Is(err, ErrNotEvent).
var ErrNotEvent = errors.New("stream record image is not an event")

// ImageError says why a stream record's NewImage is not an event. It names
// the field and the problem, never a value (values may be personal data).
type ImageError struct {
	// Field is the schema field at fault, or empty when the image as a
	// whole is.
	Field string
	// Problem says what is wrong, for people.
	Problem string
}

func (e *ImageError) Error() string {
	if e.Field == "" {
		return "not an event: " + e.Problem
	}
	return "not an event: " + e.Field + ": " + e.Problem
}

// Is makes errors.Is(err, ErrNotEvent) hold.
func (e *ImageError) Is(target error) bool { return target == ErrNotEvent }

// column is one field of tracker.EventFields(), prepared for encoding.
type column struct {
	name     string
	key      []byte // `"name":`
	required bool
	isMap    bool // Athena map<string,string>, DynamoDB M of S
	isBool   bool // Athena boolean, DynamoDB BOOL
	identity bool // user_id or anonymous_id: an event needs one of them
	isTime   bool // event_at: S in tracker.TimeLayout
}

// columns is the event schema in column order. Every line's keys come from
// here, so the lines follow tracker.EventFields() by construction.
var columns = func() []column {
	cols := make([]column, len(tracker.EventFields()))
	for i, f := range tracker.EventFields() {
		cols[i] = column{
			name:     f.Name,
			key:      jsonstr.Append(nil, f.Name),
			required: f.Required,
			isMap:    f.DynamoType == "M",
			isBool:   f.DynamoType == "BOOL",
			identity: f.Name == tracker.FieldUserID || f.Name == tracker.FieldAnonymousID,
			isTime:   f.Name == tracker.FieldEventAt,
		}
		cols[i].key = append(cols[i].key, ':')
	}
	return cols
}()

// scratch holds buffers reused across records so that encoding a typical
// event allocates nothing. It is not safe for concurrent use.
type scratch struct {
	attrs []attr
	text  []byte
	cols  [][]byte    // appendFastLine: each column's value, by index
	kv    [][2][]byte // appendFastAttributes: key and value of each entry
}

type attr struct {
	key string
	val events.DynamoDBAttributeValue
}

// typeName is the DynamoDB type tag of each events.DynamoDBDataType.
var typeName = [...]string{
	events.DataTypeBinary: "B", events.DataTypeBoolean: "BOOL", events.DataTypeBinarySet: "BS",
	events.DataTypeList: "L", events.DataTypeMap: "M", events.DataTypeNumber: "N",
	events.DataTypeNumberSet: "NS", events.DataTypeNull: "NULL", events.DataTypeString: "S",
	events.DataTypeStringSet: "SS",
}

func tag(av events.DynamoDBAttributeValue) string {
	if t := int(av.DataType()); t >= 0 && t < len(typeName) {
		return typeName[t]
	}
	return fmt.Sprintf("type %d", av.DataType())
}

// AppendLine appends the NDJSON line of the event in img (a stream record's
// NewImage) to dst and returns the extended buffer: one JSON object whose
// keys are the tracker.EventFields() names in column order, then '\n'.
//
// Rendering rules:
//   - Attributes that are not schema fields (event_key, expires_at, any
//     other) are left out.
//   - A string field takes S as it is; N (as written), BOOL (true, false)
//     and B (standard base64) are rendered as text. Absent, NULL and empty
//     optional fields are omitted; a required field that is absent, NULL or
//     empty, or a string field of type M, L, SS, NS or BS, makes the image
//     not an event. So does an image with neither user_id nor anonymous_id.
//   - A boolean field (is_bot) must be BOOL and is rendered as JSON true or
//     false; absent or NULL, it is omitted (null in Athena).
//   - attributes must be M (or absent or NULL; omitted when empty). Each
//     value becomes a string: S as it is; N, BOOL and B as above; M, L, SS,
//     NS and BS as compact JSON text of the plain value (map keys sorted,
//     numbers as JSON numbers where valid); NULL becomes JSON null. Keys are
//     sorted, so a line is deterministic.
//   - Strings are escaped by internal/jsonstr (as encoding/json does,
//     without HTML escaping); invalid UTF-8 bytes become U+FFFD.
//
// On error AppendLine returns dst unchanged (truncated to its original
// length) and an *ImageError. It is safe for concurrent use; a typical
// event costs no allocation beyond growing dst.
func AppendLine(dst []byte, img map[string]events.DynamoDBAttributeValue) ([]byte, error) {
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	return appendLine(dst, img, sc)
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

func appendLine(dst []byte, img map[string]events.DynamoDBAttributeValue, sc *scratch) (out []byte, err error) {
	start := len(dst)
	defer func() {
		// A zero events.DynamoDBAttributeValue (possible only when a
		// caller builds images in Go) panics in its accessors.
		if r := recover(); r != nil {
			out, err = dst[:start], &ImageError{Problem: fmt.Sprintf("unreadable attribute value: %v", r)}
		}
	}()
	if img == nil {
		return dst, &ImageError{Problem: "the record has no NewImage (the stream's view type must be NEW_IMAGE or NEW_AND_OLD_IMAGES)"}
	}
	dst = append(dst, '{')
	first := true
	identified := false
	for i := range columns {
		c := &columns[i]
		av, ok := img[c.name]
		if !ok || av.DataType() == events.DataTypeNull {
			if c.required {
				return dst[:start], &ImageError{Field: c.name, Problem: "is missing"}
			}
			continue
		}
		if c.isBool {
			if av.DataType() != events.DataTypeBoolean {
				return dst[:start], &ImageError{Field: c.name, Problem: "is " + tag(av) + ", want BOOL"}
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, c.key...)
			if av.Boolean() {
				dst = append(dst, "true"...)
			} else {
				dst = append(dst, "false"...)
			}
			continue
		}
		if c.isMap {
			if av.DataType() != events.DataTypeMap {
				return dst[:start], &ImageError{Field: c.name, Problem: "is " + tag(av) + ", want M"}
			}
			m := av.Map()
			if len(m) == 0 {
				if c.required {
					return dst[:start], &ImageError{Field: c.name, Problem: "is empty"}
				}
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, c.key...)
			dst = appendAttributes(dst, m, sc)
			continue
		}
		if c.isTime && av.DataType() != events.DataTypeString {
			return dst[:start], &ImageError{Field: c.name, Problem: "is " + tag(av) + ", want S (a time in the layout " + tracker.TimeLayout + ")"}
		}
		var str string // the text of an S or N value, read once
		empty := false
		switch av.DataType() {
		case events.DataTypeString:
			str = av.String()
			empty = str == ""
		case events.DataTypeNumber:
			str = av.Number()
			empty = str == ""
		case events.DataTypeBinary:
			empty = len(av.Binary()) == 0
		case events.DataTypeBoolean:
		default:
			return dst[:start], &ImageError{Field: c.name, Problem: "is " + tag(av) + ", want S"}
		}
		if empty {
			if c.required {
				return dst[:start], &ImageError{Field: c.name, Problem: "is empty"}
			}
			continue
		}
		if c.isTime && !ValidTime(str) {
			return dst[:start], errBadTime
		}
		identified = identified || c.identity
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, c.key...)
		if str != "" {
			dst = jsonstr.Append(dst, str)
		} else {
			dst = appendScalar(dst, av)
		}
	}
	if !identified {
		return dst[:start], errNoIdentity
	}
	return append(dst, '}', '\n'), nil
}

// errBadTime is the error of an event_at that is not a time in
// tracker.TimeLayout: Firehose would file it under a partition named after
// its first ten characters, and one such line makes queries of the whole
// partition fail.
var errBadTime = &ImageError{Field: tracker.FieldEventAt, Problem: "is not a UTC time in the layout " + tracker.TimeLayout}

// ValidTime reports whether s is a time exactly as tracker.TimeLayout
// writes it ("2026-11-22T10:04:05.123Z": UTC, milliseconds) and names a
// real calendar date and time of day. It does not allocate.
func ValidTime(s string) bool { return validTime(s) }

func validTime[T string | []byte](s T) bool {
	if len(s) != len(tracker.TimeLayout) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c, l := s[i], tracker.TimeLayout[i]
		if l >= '0' && l <= '9' {
			if c < '0' || c > '9' {
				return false
			}
		} else if c != l {
			return false
		}
	}
	num := func(i, n int) int {
		v := 0
		for j := i; j < i+n; j++ {
			v = v*10 + int(s[j]-'0')
		}
		return v
	}
	year, month, day := num(0, 4), num(5, 2), num(8, 2)
	if month < 1 || month > 12 || day < 1 || num(11, 2) > 23 || num(14, 2) > 59 || num(17, 2) > 59 {
		return false
	}
	days := [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month-1]
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		days = 29
	}
	return day <= days
}

// errNoIdentity is the error of an image with neither user_id nor
// anonymous_id.
var errNoIdentity = &ImageError{Field: tracker.FieldUserID, Problem: "is missing, and so is " + tracker.FieldAnonymousID}

// appendScalar appends an S, N, BOOL or B value as a JSON string.
func appendScalar(dst []byte, av events.DynamoDBAttributeValue) []byte {
	switch av.DataType() {
	case events.DataTypeString:
		return jsonstr.Append(dst, av.String())
	case events.DataTypeNumber:
		return jsonstr.Append(dst, av.Number())
	case events.DataTypeBoolean:
		if av.Boolean() {
			return append(dst, `"true"`...)
		}
		return append(dst, `"false"`...)
	case events.DataTypeBinary:
		dst = append(dst, '"')
		dst = base64.StdEncoding.AppendEncode(dst, av.Binary())
		return append(dst, '"')
	}
	return append(dst, "null"...)
}

// appendAttributes appends m as a JSON object of strings with sorted keys.
func appendAttributes(dst []byte, m map[string]events.DynamoDBAttributeValue, sc *scratch) []byte {
	sc.attrs = sc.attrs[:0]
	for k, v := range m {
		sc.attrs = append(sc.attrs, attr{k, v})
	}
	sortAttrs(sc.attrs)
	dst = append(dst, '{')
	for i, a := range sc.attrs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = jsonstr.Append(dst, a.key)
		dst = append(dst, ':')
		switch a.val.DataType() {
		case events.DataTypeNull:
			dst = append(dst, "null"...)
		case events.DataTypeString, events.DataTypeNumber, events.DataTypeBoolean, events.DataTypeBinary:
			dst = appendScalar(dst, a.val)
		default:
			sc.text = appendPlain(sc.text[:0], a.val)
			dst = jsonstr.Append(dst, string(sc.text))
		}
	}
	clear(sc.attrs) // drop references to the image
	return append(dst, '}')
}

// sortAttrs sorts a by key: insertion sort for the few attributes of a
// typical event (no closure, no calls), slices.SortFunc for more.
func sortAttrs(a []attr) {
	if len(a) > 12 {
		slices.SortFunc(a, func(x, y attr) int { return cmp.Compare(x.key, y.key) })
		return
	}
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j].key < a[j-1].key; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// appendPlain appends av as plain JSON, without DynamoDB type wrappers.
func appendPlain(dst []byte, av events.DynamoDBAttributeValue) []byte {
	switch av.DataType() {
	case events.DataTypeString:
		return jsonstr.Append(dst, av.String())
	case events.DataTypeNumber:
		return appendNumber(dst, av.Number())
	case events.DataTypeBoolean:
		if av.Boolean() {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case events.DataTypeBinary:
		return appendScalar(dst, av)
	case events.DataTypeMap:
		m := av.Map()
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonstr.Append(dst, k)
			dst = append(dst, ':')
			dst = appendPlain(dst, m[k])
		}
		return append(dst, '}')
	case events.DataTypeList:
		dst = append(dst, '[')
		for i, v := range av.List() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendPlain(dst, v)
		}
		return append(dst, ']')
	case events.DataTypeStringSet:
		dst = append(dst, '[')
		for i, s := range av.StringSet() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = jsonstr.Append(dst, s)
		}
		return append(dst, ']')
	case events.DataTypeNumberSet:
		dst = append(dst, '[')
		for i, n := range av.NumberSet() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendNumber(dst, n)
		}
		return append(dst, ']')
	case events.DataTypeBinarySet:
		dst = append(dst, '[')
		for i, b := range av.BinarySet() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, b)
			dst = append(dst, '"')
		}
		return append(dst, ']')
	}
	return append(dst, "null"...)
}

// appendNumber appends n as a JSON number when it is one, else as a string
// (DynamoDB numbers such as ".5" or "1E+2" are not all valid JSON).
func appendNumber(dst []byte, n string) []byte {
	if validNumber(n) {
		return append(dst, n...)
	}
	return jsonstr.Append(dst, n)
}

// validNumber reports whether s is a JSON number.
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		d := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(s)
}
