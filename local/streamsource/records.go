package streamsource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// rawRecords captures the records of one GetRecords call as raw JSON. It is
// a deserialize-step middleware added after the operation's deserializer,
// so it sits next to the transport and sees the HTTP response first. From a
// successful response it keeps each record's bytes and hands the SDK's
// deserializer only the NextShardIterator: the source never uses the SDK's
// typed records (they do not marshal back to DynamoDB JSON), so it does not
// pay for decoding them. Error responses pass through untouched. Every retry
// attempt overwrites the capture.
type rawRecords struct {
	records []json.RawMessage
	ok      bool // a successful response was captured
}

func (*rawRecords) ID() string { return "eventlake.streamsource.rawRecords" }

func (c *rawRecords) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || resp.Body == nil || resp.StatusCode < 200 || resp.StatusCode > 299 {
		return out, md, err
	}
	body, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr != nil {
		return out, md, fmt.Errorf("read GetRecords response body: %w", rerr)
	}
	c.records, c.ok = nil, false
	page, perr := splitPage(body)
	if perr != nil {
		// Let the SDK's deserializer report the malformed body.
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return out, md, nil
	}
	c.records, c.ok = page.Records, true
	rest, merr := json.Marshal(struct {
		NextShardIterator *string `json:",omitempty"`
	}{page.NextShardIterator})
	if merr != nil {
		return out, md, fmt.Errorf("GetRecords response: %w", merr)
	}
	resp.Body = io.NopCloser(bytes.NewReader(rest))
	resp.ContentLength = int64(len(rest))
	resp.Header.Del("X-Amz-Crc32") // the checksum was of the whole body
	return out, md, nil
}

// getRecordsPage is a GetRecords response with the records left raw.
type getRecordsPage struct {
	Records           []json.RawMessage `json:"Records"`
	NextShardIterator *string           `json:"NextShardIterator"`
}

// splitPage splits a GetRecords response body into its records' raw JSON.
// Keys match exactly, as in the service's JSON: "records" is not "Records".
func splitPage(body []byte) (getRecordsPage, error) {
	var page getRecordsPage
	if !json.Valid(body) {
		return page, fmt.Errorf("%w: the body is not JSON", errMalformedRecords)
	}
	var records, next json.RawMessage
	err := members(body, func(key, val []byte) {
		switch string(key) {
		case "Records":
			records = val
		case "NextShardIterator":
			next = val
		}
	})
	if err == nil && records != nil {
		err = json.Unmarshal(records, &page.Records)
	}
	if err == nil && next != nil {
		err = json.Unmarshal(next, &page.NextShardIterator)
	}
	if err != nil {
		return getRecordsPage{}, fmt.Errorf("%w: %v", errMalformedRecords, err)
	}
	return page, nil
}

// option returns the per-call option that installs the capture.
func (c *rawRecords) option() func(*dynamodbstreams.Options) {
	return func(o *dynamodbstreams.Options) {
		o.APIOptions = append(o.APIOptions, func(s *middleware.Stack) error {
			return s.Deserialize.Add(c, middleware.After)
		})
	}
}

// record is one stream record ready to be sent: its JSON as Lambda delivers
// it, and what the invoker needs to know about it.
type record struct {
	seq     string
	json    []byte // the record with eventSourceARN and awsRegion set
	created time.Time
	keep    bool // matched the filters
	// advance is the checkpoint once this record is done: its own sequence
	// number, or that of the last filtered-out record read after it.
	advance string
	recvAt  time.Time
}

// recordTop is what the source reads itself from a stream record: the
// top-level keys that filters commonly use, and the sequence number. Keys
// match exactly, as the Lambda service reads them (encoding/json would take
// "EVENTNAME" for "eventName", or "sequencenumber" for "SequenceNumber").
type recordTop struct {
	EventID        json.RawMessage
	EventName      json.RawMessage
	EventVersion   json.RawMessage
	EventSource    json.RawMessage
	AWSRegion      json.RawMessage
	EventSourceARN json.RawMessage
	DynamoDB       json.RawMessage
}

// read reads obj, a valid JSON object, into t.
func (t *recordTop) read(obj []byte) error {
	return members(obj, func(key, val []byte) {
		switch string(key) {
		case "eventID":
			t.EventID = val
		case "eventName":
			t.EventName = val
		case "eventVersion":
			t.EventVersion = val
		case "eventSource":
			t.EventSource = val
		case "awsRegion":
			t.AWSRegion = val
		case "eventSourceARN":
			t.EventSourceARN = val
		case "dynamodb":
			t.DynamoDB = val
		}
	})
}

// streamRecord reads the sequence number and creation time of a record's
// "dynamodb" object (nil when the record has none).
func streamRecord(dynamodb json.RawMessage) (seq string, created *float64, err error) {
	if dynamodb == nil {
		return "", nil, nil
	}
	var seqRaw, createdRaw json.RawMessage
	if err := members(dynamodb, func(key, val []byte) {
		switch string(key) {
		case "SequenceNumber":
			seqRaw = val
		case "ApproximateCreationDateTime":
			createdRaw = val
		}
	}); err != nil {
		return "", nil, fmt.Errorf("dynamodb: %v", err)
	}
	if seqRaw != nil {
		if err := json.Unmarshal(seqRaw, &seq); err != nil {
			return "", nil, fmt.Errorf("dynamodb.SequenceNumber: %v", err)
		}
	}
	if createdRaw != nil {
		if err := json.Unmarshal(createdRaw, &created); err != nil {
			return "", nil, fmt.Errorf("dynamodb.ApproximateCreationDateTime: %v", err)
		}
	}
	return seq, created, nil
}

// topKeys returns the keys of t that are present, as a filter reads them.
func (t *recordTop) topKeys() map[string]json.RawMessage {
	m := make(map[string]json.RawMessage, 5)
	for k, v := range map[string]json.RawMessage{
		"eventID": t.EventID, "eventName": t.EventName, "eventVersion": t.EventVersion,
		"eventSource": t.EventSource, "awsRegion": t.AWSRegion,
	} {
		if v != nil {
			m[k] = v
		}
	}
	return m
}

// errMalformedRecords is matched by every error of parseRecords.
var errMalformedRecords = errors.New("malformed GetRecords response")

// parseRecords turns the raw records of a GetRecords response into
// records, setting eventSourceARN and awsRegion in each as Lambda does and
// matching it against filters (nil keeps every record). Every other key of a
// record is passed on byte for byte, in the order DynamoDB sent it.
//
// A record is decoded once into the few fields the source reads, and once
// more into all its keys only when a filter looks beyond the top-level keys
// of recordTop (or the record needs rewriting).
func parseRecords(raws []json.RawMessage, arn, region string, filters []*Filter) ([]record, error) {
	generic := false
	for _, f := range filters {
		generic = generic || !f.topLevelOnly()
	}
	recs := make([]record, 0, len(raws))
	suffix := `,"eventSourceARN":` + quote(arn) + `}`
	for i, raw := range raws {
		r, err := parseRecord(raw, suffix, region, filters, generic)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", errMalformedRecords, i, err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func parseRecord(raw json.RawMessage, suffix, region string, filters []*Filter, generic bool) (record, error) {
	obj := bytes.TrimSpace(raw)
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return record{}, errors.New("record is not a JSON object")
	}
	if !json.Valid(obj) {
		return record{}, errors.New("record is not valid JSON")
	}
	top := new(recordTop)
	if err := top.read(obj); err != nil {
		return record{}, err
	}
	seq, created, err := streamRecord(top.DynamoDB)
	if err != nil {
		return record{}, err
	}
	if seq == "" || !isDigits(seq) {
		return record{}, fmt.Errorf("dynamodb.SequenceNumber %q is not a sequence number", seq)
	}
	r := record{seq: seq, advance: seq, keep: true}
	if t := created; t != nil && !math.IsNaN(*t) && !math.IsInf(*t, 0) &&
		math.Abs(*t) < 1e12 {
		sec, frac := math.Modf(*t)
		r.created = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	var all map[string]json.RawMessage // every key, when needed
	if generic {
		if err := json.Unmarshal(obj, &all); err != nil {
			return record{}, err
		}
	}
	// Lambda sets eventSourceARN (absent from GetRecords) and reports the
	// stream's region; every other key is DynamoDB's, untouched.
	if top.EventSourceARN != nil || (region != "" && !isJSONString(top.AWSRegion, region)) {
		if all == nil {
			if err := json.Unmarshal(obj, &all); err != nil {
				return record{}, err
			}
		}
		all["eventSourceARN"] = json.RawMessage(suffix[len(`,"eventSourceARN":`) : len(suffix)-1])
		if region != "" {
			all["awsRegion"] = json.RawMessage(quote(region))
		}
		b, err := json.Marshal(all)
		if err != nil {
			return record{}, err
		}
		r.json = b
	} else {
		// The common case: append the key, keeping DynamoDB's bytes and order.
		b := make([]byte, 0, len(obj)+len(suffix))
		b = append(b, obj[:len(obj)-1]...)
		if isEmptyObject(obj) {
			b = append(b, suffix[1:]...)
		} else {
			b = append(b, suffix...)
		}
		r.json = b
	}
	if len(filters) > 0 {
		m := all
		if m == nil {
			m = top.topKeys()
		}
		r.keep = false
		for _, f := range filters {
			if f.match(m) {
				r.keep = true
				break
			}
		}
	}
	return r, nil
}

// isEmptyObject reports whether obj, a JSON object, has no keys.
func isEmptyObject(obj []byte) bool {
	return len(bytes.TrimSpace(obj[1:len(obj)-1])) == 0
}

// isJSONString reports whether v is the JSON string want.
func isJSONString(v json.RawMessage, want string) bool {
	var s string
	return v != nil && json.Unmarshal(v, &s) == nil && s == want
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// compareSeq orders two stream sequence numbers (decimal strings of up to 40
// digits, possibly zero-padded) numerically.
func compareSeq(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// regionOf returns the region of an ARN (arn:partition:service:region:...).
func regionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 5 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}

// buildPayload returns {"Records":[r0,r1,...]}.
func buildPayload(recs []record) []byte {
	n := len(`{"Records":[]}`)
	for _, r := range recs {
		n += len(r.json) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, `{"Records":[`...)
	for i, r := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r.json...)
	}
	return append(b, "]}"...)
}

// payloadOverhead is the size of {"Records":[]}.
const payloadOverhead = len(`{"Records":[]}`)
