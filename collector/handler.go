package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/eventlake/eventlake/tracker"
)

// Handler is the collector's http.Handler: it speaks Segment's tracking API,
// eventlake's JSON and the seeds' formats (see the package documentation),
// and answers only after the sink has stored every event it accepted. It is
// safe for concurrent use.
type Handler struct {
	sink Sink
	o    options
}

// New returns a Handler that stores events with sink. It fails, naming
// every bad field, when the configuration is invalid (no write keys, an
// origin or a proxy network that does not parse, a negative limit).
func New(sink Sink, cfg Config) (*Handler, error) {
	if sink == nil {
		return nil, errors.New("collector: nil Sink")
	}
	o, err := newOptions(cfg)
	if err != nil {
		return nil, err
	}
	return &Handler{sink: sink, o: o}, nil
}

// protocol is the format of a route's body.
type protocol int

const (
	protoSegment protocol = iota
	protoEventlake
	protoSeed001
	protoSeed003
)

// route is what a path means.
type route struct {
	proto protocol
	call  string // Segment's call type for a single-message route; "" for a batch
	batch bool   // the body may hold many events (MaxBatchBytes)
}

// routes maps the request paths. Segment's one-letter paths are what
// analytics.js posts to (api.segment.io answers both spellings).
var routes = map[string]route{
	"/v1/track":    {proto: protoSegment, call: "track"},
	"/v1/t":        {proto: protoSegment, call: "track"},
	"/v1/page":     {proto: protoSegment, call: "page"},
	"/v1/p":        {proto: protoSegment, call: "page"},
	"/v1/screen":   {proto: protoSegment, call: "screen"},
	"/v1/s":        {proto: protoSegment, call: "screen"},
	"/v1/identify": {proto: protoSegment, call: "identify"},
	"/v1/i":        {proto: protoSegment, call: "identify"},
	"/v1/alias":    {proto: protoSegment, call: "alias"},
	"/v1/a":        {proto: protoSegment, call: "alias"},
	"/v1/group":    {proto: protoSegment, call: "group"},
	"/v1/g":        {proto: protoSegment, call: "group"},
	"/v1/batch":    {proto: protoSegment, batch: true},
	"/v1/b":        {proto: protoSegment, batch: true},
	"/v1/import":   {proto: protoSegment, batch: true},
	"/v1/events":   {proto: protoEventlake, batch: true},
	"/analytics":   {proto: protoSeed001},
	"/event":       {proto: protoSeed003},
}

// Paths returns the request paths the handler answers, for a mux.
func Paths() []string {
	paths := make([]string, 0, len(routes))
	for p := range routes {
		paths = append(paths, p)
	}
	return paths
}

// Problem is one thing wrong with one event of a request.
type Problem struct {
	// Index is the event's position in the request: 0 for a single-event
	// request, the position in the batch, array or NDJSON lines otherwise.
	Index int `json:"index"`
	// Field names the field at fault as the request spelled it (userId,
	// context.ip, properties.price, fingerprint, ...), or is empty when the
	// event as a whole is.
	Field string `json:"field,omitempty"`
	// Reason says what is wrong, for people.
	Reason string `json:"reason"`
}

// Response is the JSON body of every answer except seed 001's 204.
type Response struct {
	// Success is true when every event was stored.
	Success bool `json:"success"`
	// Accepted counts the events stored; good events of a batch are stored
	// even when others are refused.
	Accepted int `json:"accepted"`
	// Rejected counts the events refused or not stored.
	Rejected int `json:"rejected,omitempty"`
	// Error says what is wrong with the request as a whole (nothing was
	// stored).
	Error string `json:"error,omitempty"`
	// Errors lists the problems of refused events (at most MaxProblems;
	// Rejected counts them all). Warnings lists what was cut from stored
	// events (attributes over the limits).
	Errors   []Problem `json:"errors,omitempty"`
	Warnings []Problem `json:"warnings,omitempty"`
}

// MaxProblems bounds the errors and the warnings one response lists.
const MaxProblems = 100

// decoded is a request's events, ready for the sink.
type decoded struct {
	events   []tracker.Event
	index    []int               // each event's index in the request
	fields   []map[string]string // each event's tracker field -> request field
	total    int                 // events in the request
	problems []Problem
	warnings []Problem
	writeKey string // Segment's writeKey field, when the body has one
	// defaultIP and defaultUA mark the events whose client address and
	// user agent come from the request.
	defaultIP []bool
	defaultUA []bool
}

func (d *decoded) add(i int, e tracker.Event, fields map[string]string, useIP, useUA bool) {
	d.events = append(d.events, e)
	d.index = append(d.index, i)
	d.fields = append(d.fields, fields)
	d.defaultIP = append(d.defaultIP, useIP)
	d.defaultUA = append(d.defaultUA, useUA)
}

func (d *decoded) fail(i int, field, reason string) {
	d.problems = append(d.problems, Problem{Index: i, Field: field, Reason: reason})
}

// errRequest is a fault of the request as a whole: 400 with its text.
type errRequest string

func (e errRequest) Error() string { return string(e) }

// ServeHTTP answers one request. See the package documentation for the
// routes, the status codes and the bodies.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	received := h.o.now()
	rt, known := routes[r.URL.Path]
	if h.o.corsEnabled {
		if origin := r.Header.Get("Origin"); origin != "" {
			if r.Method == http.MethodOptions && known {
				h.preflight(w, r, origin)
				return
			}
			h.allowOrigin(w, origin)
		}
	}
	switch {
	case !known:
		h.fail(w, http.StatusNotFound, "no such route: "+truncate(r.URL.Path, 100))
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", "POST, OPTIONS")
		h.fail(w, http.StatusMethodNotAllowed, "method "+truncate(r.Method, 20)+" not allowed: send POST")
		return
	}
	key, keyGiven := requestKey(r)
	if keyGiven && !h.o.keys.Valid(key) {
		h.fail(w, http.StatusUnauthorized, "unknown write key")
		return
	}
	if !keyGiven && rt.proto != protoSegment {
		h.unauthorized(w)
		return
	}
	limit := h.o.maxEvent
	if rt.batch {
		limit = h.o.maxBatch
	}
	buf := bufPool.Get().(*bytes.Buffer)
	defer putBuf(buf)
	if err := readBody(r, buf, limit); err != nil {
		h.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	body := buf.Bytes()
	if !utf8.Valid(body) {
		h.fail(w, http.StatusBadRequest, "the body is not valid UTF-8")
		return
	}
	var d decoded
	var err error
	switch rt.proto {
	case protoSegment:
		err = h.decodeSegment(&d, body, rt, received)
	case protoEventlake:
		err = h.decodeEventlake(&d, body)
	case protoSeed001:
		err = h.decodeSeed001(&d, r, received)
	case protoSeed003:
		err = h.decodeSeed003(&d, body, r)
	}
	if !keyGiven {
		// Segment's browser library also puts the key in the body.
		if d.writeKey == "" {
			h.unauthorized(w)
			return
		}
		if !h.o.keys.Valid(d.writeKey) {
			h.fail(w, http.StatusUnauthorized, "unknown write key")
			return
		}
	}
	if err != nil {
		h.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if d.total == 0 {
		h.fail(w, http.StatusBadRequest, "the request holds no events")
		return
	}
	h.store(w, r, &d, rt)
}

// store hands the decoded events to the sink and answers.
func (h *Handler) store(w http.ResponseWriter, r *http.Request, d *decoded, rt route) {
	if len(d.events) > 0 {
		var ip, ua string
		for i := range d.events {
			if d.defaultIP[i] {
				if ip == "" {
					ip = h.clientIP(r)
				}
				d.events[i].IP = ip
			}
			if d.defaultUA[i] {
				if ua == "" {
					ua = r.UserAgent()
				}
				d.events[i].UserAgent = ua
			}
		}
	}
	var errs []error
	if len(d.events) > 0 {
		// A client that hangs up does not cancel the store: the events
		// it sent are stored, or reported, as they would have been. A
		// deadline (a Lambda invocation's) still holds.
		ctx := context.WithoutCancel(r.Context())
		if deadline, ok := r.Context().Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, deadline)
			defer cancel()
		}
		errs = h.sink.PutBatch(ctx, d.events)
	}
	accepted, unavailable := len(d.events), 0
	var firstFailure error
	for i, err := range errs {
		if err == nil {
			continue
		}
		accepted--
		idx := d.index[i]
		var ve *tracker.ValidationError
		switch {
		case errors.As(err, &ve):
			for _, f := range ve.Fields {
				d.fail(idx, requestField(d.fields[i], f.Field), f.Problem)
			}
		case errors.Is(err, tracker.ErrDuplicateEvent):
			d.fail(idx, requestField(d.fields[i], tracker.FieldEventID), "another event is already stored under this ID and time")
		default:
			unavailable++
			if firstFailure == nil {
				firstFailure = err
			}
			d.fail(idx, "", "not stored: the event store is unavailable; send it again")
		}
	}
	if unavailable > 0 {
		h.o.log.LogAttrs(r.Context(), slog.LevelError, LogMessageNotStored,
			slog.String(LogFieldPath, r.URL.Path),
			slog.Int(LogFieldEvents, d.total),
			slog.Int(LogFieldNotStored, unavailable),
			slog.String("error", firstFailure.Error()))
	}
	resp := Response{Success: len(d.problems) == 0, Accepted: accepted, Rejected: d.total - accepted}
	if !resp.Success {
		sortProblems(d.problems)
		resp.Errors = d.problems[:min(len(d.problems), MaxProblems)]
	}
	if len(d.warnings) > 0 {
		resp.Warnings = d.warnings[:min(len(d.warnings), MaxProblems)]
	}
	status := http.StatusOK
	switch {
	case unavailable > 0:
		// Not the client's fault: Segment's libraries retry 5xx.
		status = http.StatusServiceUnavailable
		w.Header().Set("Retry-After", "5")
	case !resp.Success:
		status = http.StatusBadRequest
	case rt.proto == protoSeed001 && len(resp.Warnings) == 0:
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if resp.Success && len(resp.Warnings) == 0 {
		// The common answer, without encoding/json.
		h.writeOK(w, accepted)
		return
	}
	h.writeJSON(w, status, &resp)
}

// sortProblems orders problems by index, keeping each event's in the order
// found.
func sortProblems(p []Problem) {
	for i := 1; i < len(p); i++ {
		for j := i; j > 0 && p[j].Index < p[j-1].Index; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
}

// requestField returns the request's name of a tracker field
// ("attributes.x" maps through "attributes").
func requestField(fields map[string]string, f string) string {
	if name, ok := fields[f]; ok {
		return name
	}
	if rest, ok := strings.CutPrefix(f, tracker.FieldAttributes+"."); ok {
		if base, ok := fields[tracker.FieldAttributes]; ok {
			return base + "." + rest
		}
	}
	return f
}

var okPrefix = []byte(`{"success":true,"accepted":`)

func (h *Handler) writeOK(w http.ResponseWriter, accepted int) {
	var b [64]byte
	out := append(b[:0], okPrefix...)
	out = strconv.AppendInt(out, int64(accepted), 10)
	out = append(out, '}', '\n')
	hd := w.Header()
	hd["Content-Type"] = jsonContentType
	hd["Content-Length"] = []string{strconv.Itoa(len(out))}
	w.WriteHeader(http.StatusOK)
	w.Write(out)
}

var jsonContentType = []string{"application/json"}

func (h *Handler) writeJSON(w http.ResponseWriter, status int, resp *Response) {
	b, err := json.Marshal(resp)
	if err != nil { // cannot happen: strings and ints
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	b = append(b, '\n')
	hd := w.Header()
	hd["Content-Type"] = jsonContentType
	hd["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(status)
	w.Write(b)
}

// fail answers a fault of the request as a whole: nothing was stored.
func (h *Handler) fail(w http.ResponseWriter, status int, reason string) {
	h.writeJSON(w, status, &Response{Error: reason})
}

func (h *Handler) unauthorized(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Basic realm="eventlake", charset="UTF-8"`)
	h.fail(w, http.StatusUnauthorized, "missing write key: send it as the HTTP Basic user name, the write_key query parameter or, on Segment's routes, the body's writeKey field")
}

// requestKey returns the write key of the request's Authorization header
// (HTTP Basic user name) or write_key query parameter, and whether one was
// given.
func requestKey(r *http.Request) (string, bool) {
	if user, _, ok := r.BasicAuth(); ok {
		return user, true
	}
	if r.URL.RawQuery != "" {
		if k := r.URL.Query().Get("write_key"); k != "" {
			return k, true
		}
	}
	return "", false
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 {
		b.Reset()
		bufPool.Put(b)
	}
}

var gzipPool sync.Pool // *gzip.Reader

// readBody reads the request body into buf, decompressing gzip, and fails
// when it is over limit bytes (compressed or not) or uses another encoding.
func readBody(r *http.Request, buf *bytes.Buffer, limit int) error {
	if r.Body == nil {
		return nil
	}
	if r.ContentLength > int64(limit) {
		return errRequest("the body is " + strconv.FormatInt(r.ContentLength, 10) + " bytes, over the limit of " + strconv.Itoa(limit))
	}
	var src io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		zr, _ := gzipPool.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(io.LimitReader(r.Body, int64(limit)+1))
		} else {
			err = zr.Reset(io.LimitReader(r.Body, int64(limit)+1))
		}
		if err != nil {
			return errRequest("the body is not gzip: " + err.Error())
		}
		defer gzipPool.Put(zr)
		src = zr
	default:
		return errRequest("Content-Encoding " + truncate(enc, 40) + " is not supported: send gzip or no encoding")
	}
	if r.ContentLength > 0 {
		buf.Grow(int(r.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(src, int64(limit)+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errRequest("the body is over the limit of " + strconv.Itoa(limit) + " bytes")
		}
		if errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
			return errRequest("the body is not valid gzip: " + err.Error())
		}
		return errRequest("reading the body: " + err.Error())
	}
	if n > int64(limit) {
		return errRequest("the body is over the limit of " + strconv.Itoa(limit) + " bytes (after decompression)")
	}
	return nil
}

// clientIP returns the address of the client that sent r: the connection's
// peer, or, when the peer is a trusted proxy, the rightmost address of
// X-Forwarded-For that is not itself a trusted proxy. "" when the peer's
// address does not parse.
func (h *Handler) clientIP(r *http.Request) string {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	var addr netip.Addr
	if err == nil {
		addr = peer.Addr().Unmap()
	} else if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		addr = a.Unmap()
	} else {
		return ""
	}
	if !h.trusted(addr) {
		return addr.String()
	}
	hops := r.Header.Values("X-Forwarded-For")
	for i := len(hops) - 1; i >= 0; i-- {
		parts := strings.Split(hops[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				// Garbage in the header: the last hop we trust saw addr.
				return addr.String()
			}
			addr = a.Unmap()
			if !h.trusted(addr) {
				return addr.String()
			}
		}
	}
	return addr.String()
}

func (h *Handler) trusted(a netip.Addr) bool {
	for _, p := range h.o.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// allowOrigin adds the CORS headers of a request from an allowed origin.
func (h *Handler) allowOrigin(w http.ResponseWriter, origin string) bool {
	hd := w.Header()
	hd.Add("Vary", "Origin")
	switch {
	case h.o.anyOrigin:
		hd.Set("Access-Control-Allow-Origin", "*")
	case h.o.origins[strings.ToLower(origin)]:
		hd.Set("Access-Control-Allow-Origin", origin)
	default:
		return false
	}
	return true
}

// preflight answers a CORS preflight request: 204 with the allowed
// methods and the requested headers for an allowed origin, 403 otherwise.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request, origin string) {
	if !h.allowOrigin(w, origin) {
		h.fail(w, http.StatusForbidden, "origin not allowed")
		return
	}
	hd := w.Header()
	hd.Add("Vary", "Access-Control-Request-Method")
	hd.Add("Vary", "Access-Control-Request-Headers")
	hd.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
	if req := r.Header.Get("Access-Control-Request-Headers"); req != "" && validHeaderList(req) {
		hd.Set("Access-Control-Allow-Headers", req)
	}
	hd.Set("Access-Control-Max-Age", "7200")
	w.WriteHeader(http.StatusNoContent)
}

// validHeaderList reports whether s is a comma-separated list of header
// names, safe to echo.
func validHeaderList(s string) bool {
	if len(s) > 1024 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(keyByte(c) || c == ',' || c == ' ') {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) > n {
		return cutUTF8(s, n) + "..."
	}
	return s
}
