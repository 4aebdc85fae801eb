package firehoselocal

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"
)

// apiError is an error answer of the service.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func invalidArgument(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidArgumentException", fmt.Sprintf(format, args...)}
}

// ServeHTTP answers one Firehose API call.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", newUUID())
	if err := s.serve(w, r); err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			ae = &apiError{http.StatusInternalServerError, "InternalFailure", err.Error()}
		}
		writeError(w, ae)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return &apiError{http.StatusMethodNotAllowed, "UnknownOperationException", "Firehose operations are POST requests"}
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if !ok {
		return &apiError{http.StatusBadRequest, "UnknownOperationException", "missing or foreign X-Amz-Target"}
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		return &apiError{http.StatusBadRequest, "MissingAuthenticationTokenException", "Missing Authentication Token"}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return &apiError{http.StatusBadRequest, "SerializationException", "read request body: " + err.Error()}
	}
	if len(body) > maxRequestBody {
		s.countInvalid(op)
		return invalidArgument("request body exceeds %d bytes", maxRequestBody)
	}
	switch op {
	case "PutRecordBatch":
		return s.putRecordBatch(w, r, body)
	case "PutRecord":
		return s.putRecord(w, r, body)
	case "DescribeDeliveryStream":
		return s.describeDeliveryStream(w, body)
	case "CreateDeliveryStream":
		return s.createDeliveryStream(w, body)
	case "ListDeliveryStreams":
		return s.listDeliveryStreams(w, body)
	default:
		return &apiError{http.StatusBadRequest, "UnknownOperationException", "operation " + op + " is not supported by firehoselocal"}
	}
}

func (s *Server) countInvalid(op string) {
	if op == "PutRecord" || op == "PutRecordBatch" {
		s.mu.Lock()
		s.stats.Calls++
		s.stats.InvalidRequests++
		s.mu.Unlock()
	}
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	body, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.code, e.message})
	w.Write(body)
}

func writeJSON(w http.ResponseWriter, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("marshal response: %w", err)
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	return nil
}

func decode(body []byte, v any) error {
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{http.StatusBadRequest, "SerializationException", err.Error()}
	}
	return nil
}

type recordIn struct {
	Data []byte // encoding/json decodes the base64
}

type responseEntry struct {
	RecordId     string `json:"RecordId,omitempty"`
	ErrorCode    string `json:"ErrorCode,omitempty"`
	ErrorMessage string `json:"ErrorMessage,omitempty"`
}

// checkRecords enforces the service's limits on a call's records.
func checkRecords(recs []*recordIn, batch bool) error {
	total := 0
	for i, rec := range recs {
		member := "record.data"
		if batch {
			member = fmt.Sprintf("records.%d.member.data", i+1)
		}
		if rec == nil || rec.Data == nil {
			return invalidArgument("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member must not be null", member)
		}
		if len(rec.Data) > MaxRecordBytes {
			return invalidArgument("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d (the record is %d bytes)",
				member, MaxRecordBytes, len(rec.Data))
		}
		total += len(rec.Data)
	}
	if total > MaxBatchBytes {
		return invalidArgument("Records size exceeds %d bytes limit (the records total %d bytes)", MaxBatchBytes, total)
	}
	return nil
}

// streamLocked returns the named stream, creating it when any name is
// accepted. s.mu must be held.
func (s *Server) streamLocked(name string) (*stream, error) {
	if st, ok := s.streams[name]; ok {
		return st, nil
	}
	if len(s.opts.Streams) == 0 && validStreamName(name) == nil {
		st := s.newStream(name)
		s.streams[name] = st
		return st, nil
	}
	return nil, &apiError{http.StatusBadRequest, "ResourceNotFoundException",
		fmt.Sprintf("Firehose %s under account %s not found.", name, s.opts.AccountID)}
}

func checkStreamName(name *string) error {
	if name == nil {
		return invalidArgument("1 validation error detected: Value null at 'deliveryStreamName' failed to satisfy constraint: Member must not be null")
	}
	if err := validStreamName(*name); err != nil {
		return invalidArgument("1 validation error detected: Value '%s' at 'deliveryStreamName' failed to satisfy constraint: %v", *name, err)
	}
	return nil
}

// admit counts a put call, draws its faults, applies the delay and the
// whole-call faults. It returns the per-record failure rate.
func (s *Server) admit(r *http.Request) (float64, error) {
	s.mu.Lock()
	s.stats.Calls++
	f := s.drawLocked()
	if f.delay > 0 {
		s.stats.Delayed++
	}
	switch {
	case f.throttle:
		s.stats.Throttled++
	case f.serverError:
		s.stats.ServerErrors++
	}
	s.mu.Unlock()

	if f.delay > 0 {
		// The records are processed after the delay even if the caller has
		// gone: a slow answer does not mean the service dropped the call.
		s.mu.Lock()
		wait := s.after(f.delay)
		s.mu.Unlock()
		select {
		case <-wait:
		case <-s.done:
			return 0, &apiError{http.StatusServiceUnavailable, "ServiceUnavailableException", "firehoselocal is shutting down"}
		}
	}
	switch {
	case f.throttle:
		return 0, &apiError{http.StatusServiceUnavailable, "ServiceUnavailableException", "Slow down."}
	case f.serverError:
		return 0, &apiError{http.StatusInternalServerError, "InternalFailure", "injected internal failure"}
	}
	return f.recordRate, nil
}

// acceptLocked appends data to st's buffer and returns its record ID.
// s.mu must be held.
func (s *Server) acceptLocked(st *stream, data []byte) string {
	if st.records == 0 {
		st.oldest = s.opts.Now()
	}
	st.data = append(st.data, data...)
	st.ends = append(st.ends, len(st.data))
	st.records++
	s.stats.RecordsReceived++
	s.stats.BytesReceived += int64(len(data))
	s.stats.BilledBytes += int64((len(data) + BillingIncrement - 1) / BillingIncrement * BillingIncrement)
	s.stats.LargestRecord = max(s.stats.LargestRecord, int64(len(data)))
	var id [28]byte
	s.rngBytesLocked(id[:])
	return hex.EncodeToString(id[:])
}

func (s *Server) rngBytesLocked(b []byte) {
	for i := range b {
		b[i] = byte(s.rng.Uint32())
	}
}

// flushIfFullLocked starts delivering st's buffer when it reached its size.
func (s *Server) flushIfFullLocked(st *stream) {
	if len(st.data) >= st.size {
		s.startDeliveryLocked(s.takeLocked(st))
	}
}

func (s *Server) putRecordBatch(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in struct {
		DeliveryStreamName *string
		Records            []*recordIn
	}
	if err := decode(body, &in); err != nil {
		s.countInvalid("PutRecordBatch")
		return err
	}
	err := checkStreamName(in.DeliveryStreamName)
	if err == nil {
		switch {
		case in.Records == nil:
			err = invalidArgument("1 validation error detected: Value null at 'records' failed to satisfy constraint: Member must not be null")
		case len(in.Records) == 0:
			err = invalidArgument("1 validation error detected: Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1")
		case len(in.Records) > MaxBatchRecords:
			err = invalidArgument("1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length less than or equal to %d (the call has %d records)",
				MaxBatchRecords, len(in.Records))
		default:
			err = checkRecords(in.Records, true)
		}
	}
	if err == nil {
		s.mu.Lock()
		_, err = s.streamLocked(*in.DeliveryStreamName)
		s.mu.Unlock()
	}
	if err != nil {
		s.countInvalid("PutRecordBatch")
		return err
	}
	rate, err := s.admit(r)
	if err != nil {
		return err
	}

	out := struct {
		FailedPutCount   int
		Encrypted        bool
		RequestResponses []responseEntry
	}{RequestResponses: make([]responseEntry, len(in.Records))}
	s.mu.Lock()
	st, err := s.streamLocked(*in.DeliveryStreamName)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	callBytes := 0
	for _, rec := range in.Records {
		callBytes += len(rec.Data)
	}
	s.stats.LargestCallRecords = max(s.stats.LargestCallRecords, int64(len(in.Records)))
	s.stats.LargestCallBytes = max(s.stats.LargestCallBytes, int64(callBytes))
	for i, rec := range in.Records {
		if rate > 0 && s.rng.Float64() < rate {
			out.FailedPutCount++
			s.stats.RecordsFailed++
			out.RequestResponses[i] = responseEntry{ErrorCode: "ServiceUnavailableException", ErrorMessage: "Slow down."}
			continue
		}
		out.RequestResponses[i] = responseEntry{RecordId: s.acceptLocked(st, rec.Data)}
	}
	s.flushIfFullLocked(st)
	s.mu.Unlock()
	return writeJSON(w, out)
}

func (s *Server) putRecord(w http.ResponseWriter, r *http.Request, body []byte) error {
	var in struct {
		DeliveryStreamName *string
		Record             *recordIn
	}
	if err := decode(body, &in); err != nil {
		s.countInvalid("PutRecord")
		return err
	}
	err := checkStreamName(in.DeliveryStreamName)
	if err == nil {
		err = checkRecords([]*recordIn{in.Record}, false)
	}
	if err == nil {
		s.mu.Lock()
		_, err = s.streamLocked(*in.DeliveryStreamName)
		s.mu.Unlock()
	}
	if err != nil {
		s.countInvalid("PutRecord")
		return err
	}
	rate, err := s.admit(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	if rate > 0 && s.rng.Float64() < rate {
		s.stats.RecordsFailed++
		s.mu.Unlock()
		return &apiError{http.StatusServiceUnavailable, "ServiceUnavailableException", "Slow down."}
	}
	st, err := s.streamLocked(*in.DeliveryStreamName)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	id := s.acceptLocked(st, in.Record.Data)
	s.flushIfFullLocked(st)
	s.mu.Unlock()
	return writeJSON(w, struct {
		RecordId  string
		Encrypted bool
	}{id, false})
}

// epochSeconds is how AWS JSON 1.1 writes timestamps.
func epochSeconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func (s *Server) describeDeliveryStream(w http.ResponseWriter, body []byte) error {
	var in struct{ DeliveryStreamName *string }
	if err := decode(body, &in); err != nil {
		return err
	}
	if err := checkStreamName(in.DeliveryStreamName); err != nil {
		return err
	}
	s.mu.Lock()
	st, ok := s.streams[*in.DeliveryStreamName]
	var name string
	var created time.Time
	var size int
	var interval time.Duration
	var pfx string
	if ok {
		name, created, size, interval, pfx = st.name, st.created, st.size, st.interval, st.prefix.src
	}
	s.mu.Unlock()
	if !ok {
		return &apiError{http.StatusBadRequest, "ResourceNotFoundException",
			fmt.Sprintf("Firehose %s under account %s not found.", *in.DeliveryStreamName, s.opts.AccountID)}
	}
	compression := "UNCOMPRESSED"
	if _, ok := s.opts.Encoder.(GzipEncoder); ok {
		compression = "GZIP"
	}
	type m = map[string]any
	return writeJSON(w, m{"DeliveryStreamDescription": m{
		"DeliveryStreamName":                    name,
		"DeliveryStreamARN":                     s.StreamARN(name),
		"DeliveryStreamStatus":                  "ACTIVE",
		"DeliveryStreamType":                    "DirectPut",
		"VersionId":                             "1",
		"CreateTimestamp":                       epochSeconds(created),
		"DeliveryStreamEncryptionConfiguration": m{"Status": "DISABLED"},
		"Destinations": []m{{
			"DestinationId": "destinationId-000000000001",
			"ExtendedS3DestinationDescription": m{
				"BucketARN":         "arn:aws:s3:::firehoselocal",
				"RoleARN":           fmt.Sprintf("arn:aws:iam::%s:role/firehoselocal", s.opts.AccountID),
				"Prefix":            pfx,
				"ErrorOutputPrefix": s.errPrefix.src,
				"BufferingHints": m{
					"SizeInMBs":         max(1, (size+(1<<20)-1)>>20),
					"IntervalInSeconds": int(interval / time.Second),
				},
				"CompressionFormat":                compression,
				"EncryptionConfiguration":          m{"NoEncryptionConfig": "NoEncryption"},
				"S3BackupMode":                     "Disabled",
				"DynamicPartitioningConfiguration": m{"Enabled": s.opts.Partitioning != nil},
			},
		}},
		"HasMoreDestinations": false,
	}})
}

func (s *Server) createDeliveryStream(w http.ResponseWriter, body []byte) error {
	var in struct {
		DeliveryStreamName                 *string
		DeliveryStreamType                 string
		ExtendedS3DestinationConfiguration *struct {
			Prefix         string
			BufferingHints *struct {
				SizeInMBs         int
				IntervalInSeconds *int
			}
		}
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	if err := checkStreamName(in.DeliveryStreamName); err != nil {
		return err
	}
	if in.DeliveryStreamType != "" && in.DeliveryStreamType != "DirectPut" {
		return invalidArgument("firehoselocal supports only DirectPut streams, not %s", in.DeliveryStreamType)
	}
	name := *in.DeliveryStreamName
	st := s.newStream(name)
	if c := in.ExtendedS3DestinationConfiguration; c != nil {
		if c.Prefix != "" {
			p, err := parsePrefix(c.Prefix)
			if err != nil {
				return invalidArgument("%v", err)
			}
			if err := checkDataPrefix(s.sink, p, s.queries); err != nil {
				return invalidArgument("%v", err)
			}
			st.prefix = p
		}
		if h := c.BufferingHints; h != nil {
			if h.SizeInMBs < 0 || h.SizeInMBs > 128 {
				return invalidArgument("BufferingHints.SizeInMBs %d is outside 1-128", h.SizeInMBs)
			}
			if h.SizeInMBs > 0 {
				st.size = h.SizeInMBs << 20
			}
			if h.IntervalInSeconds != nil {
				if *h.IntervalInSeconds < 0 || *h.IntervalInSeconds > 900 {
					return invalidArgument("BufferingHints.IntervalInSeconds %d is outside 0-900", *h.IntervalInSeconds)
				}
				// Zero buffering still delivers within the loop's tick.
				st.interval = max(time.Duration(*h.IntervalInSeconds)*time.Second, time.Millisecond)
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.streams[name]; ok {
		return &apiError{http.StatusBadRequest, "ResourceInUseException",
			fmt.Sprintf("Firehose %s under accountId %s already exists", name, s.opts.AccountID)}
	}
	s.streams[name] = st
	return writeJSON(w, struct{ DeliveryStreamARN string }{s.StreamARN(name)})
}

func (s *Server) listDeliveryStreams(w http.ResponseWriter, body []byte) error {
	var in struct {
		Limit                            int
		ExclusiveStartDeliveryStreamName string
	}
	if err := decode(body, &in); err != nil {
		return err
	}
	limit := in.Limit
	if limit <= 0 || limit > 10000 {
		limit = 10
	}
	s.mu.Lock()
	names := make([]string, 0, len(s.streams))
	for name := range s.streams {
		if name > in.ExclusiveStartDeliveryStreamName {
			names = append(names, name)
		}
	}
	s.mu.Unlock()
	sort.Strings(names)
	more := len(names) > limit
	if more {
		names = names[:limit]
	}
	return writeJSON(w, struct {
		DeliveryStreamNames    []string
		HasMoreDeliveryStreams bool
	}{names, more})
}
