package firehoselocal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/eventlake/eventlake/tracker"
)

// Partitioning turns on what eventlake's deployed delivery stream does
// before it writes (infra/eventlake's NewDelivery): multi-record
// deaggregation of each record into its JSON objects (newline-delimited or
// concatenated), dynamic partitioning with inline JQ queries evaluated on
// each object, and a newline after each object (AppendDelimiterToRecord).
// Objects are then grouped by their evaluated Options.Prefix, which may use
// !{partitionKeyFromQuery:NAME} for each key of Keys besides
// !{timestamp:...} (the arrival time). What cannot be deaggregated or
// partitioned goes to Options.ErrorPrefix as Firehose error records.
type Partitioning struct {
	// Keys maps each partition key to its JQ query. The queries Firehose
	// users write for a day are supported: .field and .field[a:b] (a
	// string's characters a to b). eventlake's is {"dt": ".event_at[0:10]"}.
	Keys map[string]string
	// MaxObjectsPerRecord is the most JSON objects deaggregation takes from
	// one record; default 500, the service's limit. A record with more, or
	// one that is not a sequence of JSON objects, goes to the error prefix
	// whole.
	MaxObjectsPerRecord int
}

// DefaultMaxObjectsPerRecord is Firehose's deaggregation limit.
const DefaultMaxObjectsPerRecord = 500

// DefaultErrorPrefix is eventlake's error output prefix
// (infra/eventlake.FirehoseErrorPrefix; a test ties the two).
const DefaultErrorPrefix = "errors/!{firehose:error-output-type}/" + tracker.PartitionColumn + "=!{timestamp:yyyy-MM-dd}/"

// EventDayPrefix is eventlake's data prefix with dynamic partitioning
// (infra/eventlake.FirehosePrefix): the day of each event's event_at.
const EventDayPrefix = "events/" + tracker.PartitionColumn + "=!{partitionKeyFromQuery:" + tracker.PartitionColumn + "}/"

// EventDayQuery is eventlake's partition key query
// (infra/eventlake.PartitionQuery): the first ten characters of event_at,
// its UTC day in tracker.DateLayout.
const EventDayQuery = "." + tracker.FieldEventAt + "[0:10]"

// EventDayPartitioning returns the partitioning of eventlake's deployed
// stream: the key dt from EventDayQuery, to use with EventDayPrefix.
func EventDayPartitioning() *Partitioning {
	return &Partitioning{Keys: map[string]string{tracker.PartitionColumn: EventDayQuery}}
}

// Error output types (!{firehose:error-output-type}).
const (
	// ErrorTypeProcessingFailed: a record that could not be deaggregated or
	// an object whose partition keys could not be computed.
	ErrorTypeProcessingFailed = "processing-failed"
	// ErrorTypeFormatConversionFailed: an object the format conversion
	// refused (injected with Faults.ConversionFailureRate).
	ErrorTypeFormatConversionFailed = "format-conversion-failed"
)

// Error codes of the error records. MetadataExtractionFailed is the
// service's; the deaggregation codes are firehoselocal's own names (AWS
// does not document the service's).
const (
	ErrorCodeMetadataExtractionFailed = "DynamicPartitioning.MetadataExtractionFailed"
	ErrorCodeDeaggregationFailed      = "Deaggregation.MalformedRecord"
	ErrorCodeTooManyObjects           = "Deaggregation.TooManyRecords"
	ErrorCodeMalformedData            = "DataFormatConversion.MalformedData"
)

// ErrorRecord is one line of an error object, as Firehose writes them: the
// failed data in base64 (RawData) with why it failed. Format conversion
// failures name their code LastErrorCode, the others ErrorCode.
type ErrorRecord struct {
	AttemptsMade           int    `json:"attemptsMade"`
	ArrivalTimestamp       int64  `json:"arrivalTimestamp"`
	ErrorCode              string `json:"errorCode,omitempty"`
	ErrorMessage           string `json:"errorMessage,omitempty"`
	LastErrorCode          string `json:"lastErrorCode,omitempty"`
	LastErrorMessage       string `json:"lastErrorMessage,omitempty"`
	AttemptEndingTimestamp int64  `json:"attemptEndingTimestamp"`
	RawData                []byte `json:"rawData"` // base64 in JSON
}

// query is a parsed partition key query: .field or .field[from:to].
type query struct {
	field    string
	slice    bool
	from, to int
}

var queryRE = regexp.MustCompile(`^\.([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+):(\d+)\])?$`)

func parseQuery(q string) (query, error) {
	m := queryRE.FindStringSubmatch(q)
	if m == nil {
		return query{}, fmt.Errorf("partition key query %q: firehoselocal supports .field and .field[a:b]", q)
	}
	out := query{field: m[1]}
	if m[2] != "" {
		out.slice = true
		out.from, _ = strconv.Atoi(m[2])
		out.to, _ = strconv.Atoi(m[3])
		if out.to < out.from {
			return query{}, fmt.Errorf("partition key query %q: empty slice", q)
		}
	}
	return out, nil
}

// eval evaluates the query on a JSON object as JQ 1.6 would, and applies
// Firehose's rule that a partition key must be neither null nor empty.
func (q query) eval(obj map[string]json.RawMessage) (string, error) {
	raw, ok := obj[q.field]
	if !ok || string(raw) == "null" {
		return "", errors.New("partitionKeys values must not be null or empty")
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", err
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case float64, bool:
		if q.slice {
			return "", fmt.Errorf("Cannot index %T with object", x)
		}
		s = string(raw)
	default:
		return "", fmt.Errorf("partition key %s is not a scalar", q.field)
	}
	if q.slice {
		// JQ slices strings by code point.
		n := utf8.RuneCountInString(s)
		from, to := min(q.from, n), min(q.to, n)
		runes := []rune(s)
		s = string(runes[from:to])
	}
	if s == "" {
		return "", errors.New("partitionKeys values must not be null or empty")
	}
	return s, nil
}

// splitObjects deaggregates one record: the JSON objects it holds, one
// after another with optional white space (newlines) between them.
func splitObjects(data []byte, max int) ([][]byte, string, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out [][]byte
	for {
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, ErrorCodeDeaggregationFailed, fmt.Errorf("the record is not a sequence of JSON objects: %v", err)
		}
		if len(raw) == 0 || raw[0] != '{' {
			return nil, ErrorCodeDeaggregationFailed, errors.New("the record holds a JSON value that is not an object")
		}
		if len(out) == max {
			return nil, ErrorCodeTooManyObjects, fmt.Errorf("the record holds more than %d JSON objects", max)
		}
		out = append(out, raw)
	}
	if len(out) == 0 {
		return nil, ErrorCodeDeaggregationFailed, errors.New("the record holds no JSON object")
	}
	return out, "", nil
}

// partitioned turns a batch into the objects a stream with dynamic
// partitioning writes: one per evaluated data prefix, one per error type.
func (s *Server) partitioned(b *batch) []Object {
	pt := s.opts.Partitioning
	type group struct {
		key  string
		data []byte
		errs bool
	}
	var groups []*group
	byKey := map[string]*group{}
	add := func(key string, line []byte, errs bool) {
		g := byKey[key]
		if g == nil {
			g = &group{key: key, errs: errs}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.data = append(g.data, line...)
		g.data = append(g.data, '\n')
	}
	arrival := b.oldest.UTC()
	failed := func(typ, code, msg string, raw []byte) {
		rec := ErrorRecord{AttemptsMade: 1, ArrivalTimestamp: arrival.UnixMilli(), AttemptEndingTimestamp: s.opts.Now().UnixMilli(), RawData: raw}
		if typ == ErrorTypeFormatConversionFailed {
			rec.LastErrorCode, rec.LastErrorMessage = code, msg
		} else {
			rec.ErrorCode, rec.ErrorMessage = code, msg
		}
		line, _ := json.Marshal(rec)
		add(s.errPrefix.evalWith(arrival, nil, typ), line, true)
		s.mu.Lock()
		s.stats.ErrorRecords++
		s.mu.Unlock()
	}
	keys := map[string]string{}
	start := 0
	for _, end := range b.ends {
		rec := b.data[start:end]
		start = end
		objs, code, err := splitObjects(rec, pt.MaxObjectsPerRecord)
		if err != nil {
			failed(ErrorTypeProcessingFailed, code, err.Error(), rec)
			continue
		}
	objects:
		for _, obj := range objs {
			var top map[string]json.RawMessage
			if err := json.Unmarshal(obj, &top); err != nil {
				failed(ErrorTypeProcessingFailed, ErrorCodeMetadataExtractionFailed, err.Error(), obj)
				continue
			}
			for name, q := range s.queries {
				v, err := q.eval(top)
				if err != nil {
					failed(ErrorTypeProcessingFailed, ErrorCodeMetadataExtractionFailed, err.Error(), obj)
					continue objects
				}
				keys[name] = v
			}
			prefix := b.prefix.evalWith(arrival, keys, "")
			if kc, ok := s.sink.(KeyChecker); ok && kc.CheckKey(prefix+"x") != nil {
				failed(ErrorTypeProcessingFailed, ErrorCodeMetadataExtractionFailed,
					"firehoselocal: the sink cannot store objects under the evaluated prefix "+strconv.Quote(prefix), obj)
				continue
			}
			if s.drawConversionFailure() {
				failed(ErrorTypeFormatConversionFailed, ErrorCodeMalformedData, "injected: the record does not match the table's schema", obj)
				continue
			}
			add(prefix, obj, false)
		}
	}
	out := make([]Object, 0, len(groups))
	for _, g := range groups {
		o := s.object(b, g.key, arrival, g.data, 0)
		if g.errs {
			// Error records are JSON, compressed as the destination is when
			// it compresses (GZIP); never converted.
			o.Key = errorObjectKey(o.Key, s.opts.Encoder)
			var w bytesWriter
			if _, gz := s.opts.Encoder.(GzipEncoder); gz {
				if err := (GzipEncoder{}).Encode(&w, g.data); err == nil {
					o.Body = w.b
				}
			}
			if o.Body == nil {
				o.Body = g.data
			}
		}
		out = append(out, o)
	}
	return out
}

// errorObjectKey gives an error object the extension of its content:
// ".gz" with a gzip encoder, none otherwise (JSON, not Parquet).
func errorObjectKey(key string, enc Encoder) string {
	ext := enc.Extension()
	if _, gz := enc.(GzipEncoder); gz || ext == "" {
		return key
	}
	return key[:len(key)-len(ext)]
}

// drawConversionFailure draws whether one object fails format conversion
// (Faults.ConversionFailureRate).
func (s *Server) drawConversionFailure() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.faults.ConversionFailureRate
	return r > 0 && s.rng.Float64() < r
}

// DecodeErrorRecords reads the error records of one error object's content
// (after decompression): one JSON document per line.
func DecodeErrorRecords(data []byte) ([]ErrorRecord, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var out []ErrorRecord
	for {
		var r ErrorRecord
		err := dec.Decode(&r)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("firehoselocal: error record %d: %w", len(out)+1, err)
		}
		out = append(out, r)
	}
}
