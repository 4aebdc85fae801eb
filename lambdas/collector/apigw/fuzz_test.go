package apigw_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventlake/eventlake/lambdas/collector/apigw"
)

type ctxKey struct{}

// FuzzHandle sends API Gateway HTTP API events built from fuzzed parts
// (method, raw path and stage, query string, a header, a cookie, the source
// IP, a body sent as it is (enc 0), as API Gateway's base64 of it (enc 2) or
// as a claimed base64 that may not be (enc 1)) to a handler that records
// the request and answers with its body, a fuzzed Content-Type and status
// and a Set-Cookie. It checks that Handle never fails or panics; an event
// that cannot become a request (a body that is not base64, a method that is
// not a token) is answered 400 without reaching the handler, never 5xx;
// otherwise the handler gets the body byte for byte (decoded when it was
// base64), its length, the method, the path (without the stage's prefix,
// unescaped), the raw query string, the header, the cookies as one Cookie
// header, the Host, the client's address and the invocation's context; and
// the response carries the handler's status, headers and cookies, and a
// body that comes back byte for byte, base64 unless it is valid UTF-8 text,
// also after the JSON encoding the Lambda runtime gives it.
func FuzzHandle(f *testing.F) {
	f.Add("POST", "/v1/track", "$default", "", "authorization", "Basic d2tfbGl2ZV8xOg==", "", "198.51.100.23", []byte(`{"userId":"42","event":"Signed Up"}`), uint8(0), "application/json", uint16(0))
	f.Add("POST", "/v1/batch", "$default", "", "content-encoding", "gzip", "", "198.51.100.23", []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"), uint8(2), "text/plain; charset=utf-8", uint16(0))
	f.Add("POST", "/prod/v1/page", "prod", "", "content-type", "text/plain", "ajs_anonymous_id=a-9", "198.51.100.23", []byte(`{"writeKey":"wk_live_1"}`), uint8(0), "", uint16(201))
	f.Add("POST", "/analytics", "", "timestamp=1795341800&user=3&event=click&write_key=wk_live_1", "user-agent", "PostmanRuntime/7.42.0", "", "2001:db8::5", []byte(nil), uint8(0), "text/plain", uint16(0))
	f.Add("OPTIONS", "/v1/t", "$default", "", "origin", "https://shop.example", "", "198.51.100.23", []byte(nil), uint8(0), "", uint16(4))
	f.Add("POST", "/v1/track", "", "", "", "", "", "", []byte("not base64!"), uint8(1), "", uint16(0))
	f.Add("POST", "/v1/track", "", "", "", "", "", "", []byte("YQ"), uint8(1), "", uint16(0))
	f.Add("POST", "/v1/track", "", "", "", "", "", "", []byte("YQ==\r\n"), uint8(1), "", uint16(0))
	f.Add("GET", "/prod", "prod", "a=%zz&b=1;c", "Host", "collector.example.com", "a=1; b=2", "fe80::1%eth0", []byte("\xff\xfe"), uint8(0), "application/octet-stream", uint16(300))
	f.Add("GET", "/a%2Fb/%zz/é", "a%2Fb", "x=%E2%82%AC", "content-length", "999", "", "::ffff:192.0.2.1", []byte("\xff"), uint8(2), "text/html", uint16(399))
	f.Add("GE T", "", "", "", "x-forwarded-for", "6.6.6.6, 198.51.100.23", "", "not an ip", []byte("{}"), uint8(0), "application/json", uint16(0))
	f.Add("", "//x/../y", "$default", "", "cookie", "c=3", "d=4", "0.0.0.0", []byte("é"), uint8(0), "TEXT/PLAIN", uint16(0))
	f.Fuzz(func(t *testing.T, method, rawPath, stage, rawQuery, hKey, hVal, cookie, sourceIP string, body []byte, enc uint8, respType string, status uint16) {
		const domain = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
		ev := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: "$default", RawPath: rawPath, RawQueryString: rawQuery,
			Headers: map[string]string{"user-agent": "Mozilla/5.0", hKey: hVal},
		}
		ev.RequestContext.DomainName = domain
		ev.RequestContext.Stage = stage
		ev.RequestContext.HTTP.Method = method
		ev.RequestContext.HTTP.Path = rawPath
		ev.RequestContext.HTTP.SourceIP = sourceIP
		if cookie != "" {
			ev.Cookies = []string{cookie, "session=s1"}
		}
		want, validBody := body, true
		switch enc % 3 {
		case 0:
			ev.Body = string(body)
		case 1:
			ev.Body, ev.IsBase64Encoded = string(body), true
			want, validBody = nil, false
			if b, err := base64.StdEncoding.DecodeString(ev.Body); err == nil {
				want, validBody = b, true
			}
		case 2:
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
		code := 200 + int(status)%400
		written := slices.Concat(want, []byte("!")) // what the handler answers
		var got *http.Request
		var gotBody []byte
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got = r
			var err error
			if gotBody, err = io.ReadAll(r.Body); err != nil {
				t.Errorf("reading the body: %v", err)
			}
			if respType != "" {
				w.Header().Set("Content-Type", respType)
			}
			w.Header().Add("Set-Cookie", "a=1")
			w.Header().Add("Set-Cookie", "b=2; Path=/")
			w.Header().Add("Vary", "Origin")
			w.Header().Add("Vary", "Accept")
			w.WriteHeader(code)
			w.Write(gotBody)
			w.Write([]byte("!"))
			w.WriteHeader(500) // too late: ignored
		})
		ctx := context.WithValue(context.Background(), ctxKey{}, "invocation")
		resp, err := apigw.New(h).Handle(ctx, ev)
		if err != nil {
			t.Fatalf("Handle returned an error: %v", err)
		}
		validMethod := method == "" || !strings.ContainsFunc(method, func(r rune) bool { return r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) })
		if !validBody || !validMethod {
			if got != nil || resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("an event with a bad body (%v) or method (%q) was answered %d, reaching the handler: %v", !validBody, method, resp.StatusCode, got != nil)
			}
			if !validBody && !strings.Contains(resp.Body, "base64") {
				t.Fatalf("the answer to a body that is not base64 does not say so: %q", resp.Body)
			}
			return
		}
		if got == nil {
			t.Fatalf("the event was answered %d %q without reaching the handler", resp.StatusCode, resp.Body)
		}

		// The request.
		if !bytes.Equal(gotBody, want) || got.ContentLength != int64(len(want)) || got.Header.Get("Content-Length") != strconv.Itoa(len(want)) {
			t.Fatalf("the handler got %q (%d bytes, Content-Length %q), want %q", gotBody, got.ContentLength, got.Header.Get("Content-Length"), want)
		}
		if wantMethod := cmpOr(method, http.MethodGet); got.Method != wantMethod {
			t.Fatalf("method %q, want %q", got.Method, wantMethod)
		}
		path := rawPath
		if stage != "" && stage != "$default" {
			if rest, ok := strings.CutPrefix(path, "/"+stage); ok && (rest == "" || rest[0] == '/') {
				path = rest
			}
		}
		path = cmpOr(path, "/")
		wantPath := path
		if p, err := url.PathUnescape(path); err == nil {
			wantPath = p
		}
		if got.URL.Path != wantPath || got.URL.RawQuery != rawQuery || got.RequestURI != got.URL.RequestURI() {
			t.Fatalf("URL path %q query %q (request URI %q), want path %q query %q", got.URL.Path, got.URL.RawQuery, got.RequestURI, wantPath, rawQuery)
		}
		if p, err := url.PathUnescape(got.URL.EscapedPath()); err != nil || p != got.URL.Path {
			t.Fatalf("the escaped path %q does not unescape to the path %q", got.URL.EscapedPath(), got.URL.Path)
		}
		canon := http.CanonicalHeaderKey(hKey)
		clash := canon == "User-Agent" && hKey != "user-agent" // two keys, one header: either may win
		switch {
		case canon == "Host":
			if want := cmpOr(hVal, domain); got.Host != want {
				t.Fatalf("Host %q, want %q", got.Host, want)
			}
		case got.Host != domain:
			t.Fatalf("Host %q, want %q", got.Host, domain)
		case canon == "Content-Length", canon == "Cookie" && cookie != "", clash:
		case got.Header.Get(hKey) != hVal:
			t.Fatalf("header %q = %q, want %q", hKey, got.Header.Get(hKey), hVal)
		}
		if _, ok := got.Header["Host"]; ok {
			t.Fatalf("Host left among the headers: %q", got.Header)
		}
		wantUA := "Mozilla/5.0"
		if hKey == "user-agent" {
			wantUA = hVal
		}
		if !clash && got.Header.Get("User-Agent") != wantUA {
			t.Fatalf("User-Agent %q, want %q", got.Header.Get("User-Agent"), wantUA)
		}
		if cookie != "" {
			if c := got.Header.Values("Cookie"); len(c) != 1 || c[0] != cookie+"; session=s1" {
				t.Fatalf("Cookie headers %q, want one of %q", c, cookie+"; session=s1")
			}
		}
		if ip, err := netip.ParseAddr(sourceIP); err == nil {
			host, port, err := net.SplitHostPort(got.RemoteAddr)
			back, err2 := netip.ParseAddr(host)
			if err != nil || err2 != nil || port != "0" || back != ip.WithZone("") {
				t.Fatalf("RemoteAddr %q for source IP %q", got.RemoteAddr, sourceIP)
			}
		} else if got.RemoteAddr != "" {
			t.Fatalf("RemoteAddr %q for source IP %q, not an address", got.RemoteAddr, sourceIP)
		}
		if got.Context().Value(ctxKey{}) != "invocation" {
			t.Fatal("the request's context is not the invocation's")
		}

		// The response, as Handle returns it and as the runtime sends it.
		if resp.StatusCode != code || resp.Headers["Vary"] != "Origin, Accept" || strings.Join(resp.Cookies, "|") != "a=1|b=2; Path=/" ||
			respType != "" && resp.Headers["Content-Type"] != respType {
			t.Fatalf("response %d %q cookies %q, want %d, Content-Type %q", resp.StatusCode, resp.Headers, resp.Cookies, code, respType)
		}
		if _, ok := resp.Headers["Set-Cookie"]; ok {
			t.Fatalf("Set-Cookie among the headers: %q", resp.Headers)
		}
		checkResponseBody(t, resp, written)
		raw, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		var sent events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(raw, &sent); err != nil {
			t.Fatal(err)
		}
		checkResponseBody(t, sent, written)
	})
}

// checkResponseBody checks that resp's body is written, base64-encoded
// unless it is valid UTF-8 text.
func checkResponseBody(t *testing.T, resp events.APIGatewayV2HTTPResponse, written []byte) {
	t.Helper()
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			t.Fatalf("the response body %q is not base64: %v", resp.Body, err)
		}
		body = b
	} else if !utf8.ValidString(resp.Body) {
		t.Fatalf("the response body %q is sent as text, but is not UTF-8", resp.Body)
	}
	if !bytes.Equal(body, written) {
		t.Fatalf("the response body comes back as %q, want %q", body, written)
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
