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

// rawBody captures the HTTP response body of one SDK call. It is added as a
// deserialize-step middleware after the operation's deserializer, so it sits
// next to the transport: it reads the body, keeps a copy, and hands the
// deserializer an identical reader. Every retry attempt overwrites it.
type rawBody struct{ b []byte }

func (*rawBody) ID() string { return "eventlake.streamsource.rawBody" }

func (c *rawBody) HandleDeserialize(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
	middleware.DeserializeOutput, middleware.Metadata, error,
) {
	out, md, err := next.HandleDeserialize(ctx, in)
	if err != nil {
		return out, md, err
	}
	resp, ok := out.RawResponse.(*smithyhttp.Response)
	if !ok || resp.Body == nil {
		return out, md, err
	}
	b, rerr := io.ReadAll(resp.Body)
	resp.Body.Close()
	if rerr != nil {
		return out, md, fmt.Errorf("read GetRecords response body: %w", rerr)
	}
	c.b = b
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return out, md, nil
}

// option returns the per-call option that installs the capture.
func (c *rawBody) option() func(*dynamodbstreams.Options) {
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

// recordHead is the part of a stream record the source reads itself.
type recordHead struct {
	EventName string `json:"eventName"`
	DynamoDB  struct {
		SequenceNumber              string   `json:"SequenceNumber"`
		ApproximateCreationDateTime *float64 `json:"ApproximateCreationDateTime"`
	} `json:"dynamodb"`
}

// errMalformedRecords is matched by every error of parseRecords.
var errMalformedRecords = errors.New("malformed GetRecords response")

// parseRecords decodes a raw GetRecords response body into records, setting
// eventSourceARN and awsRegion in each as Lambda does and matching it against
// filters (nil keeps every record). Every other key of a record is passed on
// byte for byte, in the order DynamoDB sent it.
func parseRecords(body []byte, arn, region string, filters []*Filter) ([]record, error) {
	var page struct {
		Records []json.RawMessage `json:"Records"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformedRecords, err)
	}
	recs := make([]record, 0, len(page.Records))
	suffix := `,"eventSourceARN":` + quote(arn) + `}`
	for i, raw := range page.Records {
		r, err := parseRecord(raw, suffix, region, filters)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", errMalformedRecords, i, err)
		}
		recs = append(recs, r)
	}
	return recs, nil
}

func parseRecord(raw json.RawMessage, suffix, region string, filters []*Filter) (record, error) {
	var head recordHead
	if err := json.Unmarshal(raw, &head); err != nil {
		return record{}, err
	}
	if head.DynamoDB.SequenceNumber == "" || !isDigits(head.DynamoDB.SequenceNumber) {
		return record{}, fmt.Errorf("dynamodb.SequenceNumber %q is not a sequence number", head.DynamoDB.SequenceNumber)
	}
	r := record{seq: head.DynamoDB.SequenceNumber}
	r.advance = r.seq
	if t := head.DynamoDB.ApproximateCreationDateTime; t != nil && !math.IsNaN(*t) && !math.IsInf(*t, 0) &&
		math.Abs(*t) < 1e12 {
		sec, frac := math.Modf(*t)
		r.created = time.Unix(int64(sec), int64(frac*1e9)).UTC()
	}
	// Lambda sets eventSourceARN (absent from GetRecords) and reports the
	// stream's region; every other key is DynamoDB's, untouched.
	obj := bytes.TrimSpace(raw)
	if len(obj) < 2 || obj[0] != '{' || obj[len(obj)-1] != '}' {
		return record{}, errors.New("record is not a JSON object")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(obj, &m); err != nil {
		return record{}, err
	}
	if _, ok := m["eventSourceARN"]; ok || (region != "" && !isJSONString(m["awsRegion"], region)) {
		m["eventSourceARN"] = json.RawMessage(suffix[len(`,"eventSourceARN":`) : len(suffix)-1])
		if region != "" {
			m["awsRegion"] = json.RawMessage(quote(region))
		}
		b, err := json.Marshal(m)
		if err != nil {
			return record{}, err
		}
		r.json = b
	} else {
		// The common case: append the key, keeping DynamoDB's bytes and order.
		b := make([]byte, 0, len(obj)+len(suffix))
		b = append(b, obj[:len(obj)-1]...)
		if len(m) == 0 {
			b = append(b, suffix[1:]...)
		} else {
			b = append(b, suffix...)
		}
		r.json = b
	}
	r.keep = true
	for i, f := range filters {
		if f.match(m) {
			break
		}
		if i == len(filters)-1 {
			r.keep = false
		}
	}
	return r, nil
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
