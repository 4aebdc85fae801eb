// Package apigw runs an http.Handler behind an API Gateway HTTP API (payload
// format 2.0): Handle turns the Lambda event into an *http.Request, serves
// it, and turns what the handler wrote into the event's response. The
// collector's Lambda serves collector.Handler through it; any handler
// works.
//
// What a request gets: the method, the raw path (without the stage's prefix
// when the stage is not $default) and raw query string, the headers
// (API Gateway joins repeated ones with commas; cookies come back as one
// Cookie header), the body (base64-decoded when API Gateway encoded it),
// RemoteAddr from requestContext.http.sourceIp (the client's address as
// API Gateway saw it, so the handler needs no trusted proxies; "ip:0",
// without an IPv6 zone, empty when sourceIp is not an address), Host from
// the host header or the domain name, and the invocation's context (its
// deadline included). The response carries the status, the headers (repeated
// ones joined with commas, Set-Cookie as cookies) and the body, base64
// encoded unless it is text.
package apigw

import (
	"bytes"
	"context"
	"encoding/base64"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

// Handler serves API Gateway HTTP API events with an http.Handler. It is
// safe for concurrent use when the http.Handler is.
type Handler struct {
	h http.Handler
}

// New returns a Handler serving h. Start it with lambda.Start(a.Handle).
func New(h http.Handler) *Handler { return &Handler{h: h} }

// Handle serves one event. It never returns an error: an event that cannot
// become a request (a body that is not valid base64) is answered 400.
func (a *Handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	r, err := Request(ctx, ev)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{
			StatusCode: http.StatusBadRequest,
			Headers:    map[string]string{"Content-Type": "text/plain; charset=utf-8"},
			Body:       err.Error() + "\n",
		}, nil
	}
	w := &recorder{header: http.Header{}}
	a.h.ServeHTTP(w, r)
	return w.response(), nil
}

// errBody is the error of a body API Gateway encoded as base64 that does
// not decode.
type errBody struct{ err error }

func (e errBody) Error() string { return "the request body is not valid base64: " + e.err.Error() }

// Request returns the *http.Request an event describes, with ctx as its
// context.
func Request(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return nil, errBody{err}
		}
		body = b
	}
	path := ev.RawPath
	if path == "" {
		path = ev.RequestContext.HTTP.Path
	}
	if stage := ev.RequestContext.Stage; stage != "" && stage != "$default" {
		if rest, ok := strings.CutPrefix(path, "/"+stage); ok && (rest == "" || rest[0] == '/') {
			path = rest
		}
	}
	if path == "" {
		path = "/"
	}
	u := &url.URL{Path: path, RawQuery: ev.RawQueryString}
	if p, err := url.PathUnescape(path); err == nil && p != path {
		u.Path, u.RawPath = p, path
	}
	method := ev.RequestContext.HTTP.Method
	if method == "" {
		method = http.MethodGet
	}
	r, err := http.NewRequestWithContext(ctx, method, "/", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	r.URL = u
	r.RequestURI = u.RequestURI()
	r.Proto = "HTTP/1.1"
	if ev.RequestContext.HTTP.Protocol != "" {
		r.Proto = ev.RequestContext.HTTP.Protocol
	}
	if major, minor, ok := http.ParseHTTPVersion(r.Proto); ok {
		r.ProtoMajor, r.ProtoMinor = major, minor
	}
	for k, v := range ev.Headers {
		r.Header.Set(k, v)
	}
	if len(ev.Cookies) > 0 {
		r.Header.Set("Cookie", strings.Join(ev.Cookies, "; "))
	}
	r.ContentLength = int64(len(body))
	r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	r.Host = r.Header.Get("Host")
	if r.Host == "" {
		r.Host = ev.RequestContext.DomainName
	}
	r.Header.Del("Host")
	if ip, err := netip.ParseAddr(ev.RequestContext.HTTP.SourceIP); err == nil {
		// A zone means nothing beyond the link (API Gateway sends none),
		// and one of any characters would make RemoteAddr unparseable.
		r.RemoteAddr = netip.AddrPortFrom(ip.WithZone(""), 0).String()
	}
	return r, nil
}

// recorder is the http.ResponseWriter a request is served with.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header { return w.header }

func (w *recorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

// response renders what the handler wrote.
func (w *recorder) response() events.APIGatewayV2HTTPResponse {
	resp := events.APIGatewayV2HTTPResponse{StatusCode: w.status, Headers: map[string]string{}}
	if resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK
	}
	for k, vs := range w.header {
		if k == "Set-Cookie" {
			resp.Cookies = append(resp.Cookies, vs...)
			continue
		}
		resp.Headers[k] = strings.Join(vs, ", ")
	}
	b := w.body.Bytes()
	if isText(w.header.Get("Content-Type"), b) {
		resp.Body = string(b)
	} else {
		resp.Body = base64.StdEncoding.EncodeToString(b)
		resp.IsBase64Encoded = true
	}
	return resp
}

// isText reports whether a body can travel as a JSON string as it is.
func isText(contentType string, b []byte) bool {
	if len(b) == 0 {
		return true
	}
	ct := strings.ToLower(contentType)
	textual := strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") || strings.Contains(ct, "xml") || strings.Contains(ct, "javascript")
	return textual && utf8.Valid(b)
}
