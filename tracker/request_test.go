package tracker_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/eventlake/eventlake/tracker"
)

// testProxies trusts a private network and a documentation IPv6 network.
func testProxies(t testing.TB, header tracker.ForwardingHeader) tracker.Proxies {
	p, err := tracker.ParseProxies("10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.7")
	if err != nil {
		t.Fatal(err)
	}
	p.Header = header
	return p
}

func request(remote string, header http.Header) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.RemoteAddr = remote
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	return r
}

func TestClientIP(t *testing.T) {
	xff := func(lines ...string) http.Header { return http.Header{"X-Forwarded-For": lines} }
	fwd := func(lines ...string) http.Header { return http.Header{"Forwarded": lines} }
	for _, c := range []struct {
		name   string
		header tracker.ForwardingHeader
		remote string
		h      http.Header
		want   string // "" means not known
	}{
		{"direct client", 0, "198.51.100.1:50000", nil, "198.51.100.1"},
		{"direct client's header is ignored", 0, "198.51.100.1:50000", xff("203.0.113.9"), "198.51.100.1"},
		{"direct IPv6 client", 0, "[2001:db8:1::5]:443", nil, "2001:db8:1::5"},
		{"IPv4-mapped peer", 0, "[::ffff:198.51.100.1]:80", nil, "198.51.100.1"},
		{"peer without port", 0, "198.51.100.1", nil, "198.51.100.1"},
		{"unix socket peer", 0, "@", nil, ""},
		{"empty peer", 0, "", nil, ""},
		{"trusted proxy, one hop", 0, "10.0.0.2:1234", xff("203.0.113.9"), "203.0.113.9"},
		{"trusted proxy without header", 0, "10.0.0.2:1234", nil, "10.0.0.2"},
		{"spoofed entries to the left are not believed", 0, "10.0.0.2:1234", xff("1.1.1.1, 6.6.6.6, 203.0.113.9"), "203.0.113.9"},
		{"chain of trusted hops", 0, "10.0.0.2:1234", xff("6.6.6.6, 203.0.113.9, 10.1.1.1, 192.0.2.7"), "203.0.113.9"},
		{"every hop trusted: the leftmost", 0, "10.0.0.2:1234", xff("10.9.9.9, 10.1.1.1"), "10.9.9.9"},
		{"several header lines", 0, "10.0.0.2:1234", xff("6.6.6.6", "203.0.113.9, 10.1.1.1"), "203.0.113.9"},
		{"several lines, client in the first", 0, "10.0.0.2:1234", xff("203.0.113.9", "10.1.1.1"), "203.0.113.9"},
		{"entries with ports and brackets", 0, "10.0.0.2:1234", xff("[2001:db8:1::9]:5555, 10.1.1.1:80"), "2001:db8:1::9"},
		{"trusted IPv6 hop", 0, "[2001:db8:ffff::1]:443", xff("203.0.113.9, 2001:db8:ffff::2"), "203.0.113.9"},
		{"garbage from a trusted hop: unknown", 0, "10.0.0.2:1234", xff("203.0.113.9, unknown"), ""},
		{"empty entry from a trusted hop: unknown", 0, "10.0.0.2:1234", xff("203.0.113.9, "), ""},
		{"garbage left of the client is not read", 0, "10.0.0.2:1234", xff("<script>, 203.0.113.9"), "203.0.113.9"},
		{"X-Forwarded-For mode ignores Forwarded", 0, "10.0.0.2:1234", fwd("for=203.0.113.9"), "10.0.0.2"},

		{"Forwarded, one hop", tracker.HeaderForwarded, "10.0.0.2:1234", fwd("for=203.0.113.9;proto=https;by=10.0.0.2"), "203.0.113.9"},
		{"Forwarded, quoted IPv6 with port", tracker.HeaderForwarded, "10.0.0.2:1234", fwd(`for="[2001:db8:cafe::17]:4711"`), "2001:db8:cafe::17"},
		{"Forwarded, chain", tracker.HeaderForwarded, "10.0.0.2:1234", fwd("for=6.6.6.6, for=203.0.113.9", "For=10.1.1.1"), "203.0.113.9"},
		{"Forwarded, case and spaces", tracker.HeaderForwarded, "10.0.0.2:1234", fwd(" FOR = 203.0.113.9 ; proto=http"), "203.0.113.9"},
		{"Forwarded, obfuscated port", tracker.HeaderForwarded, "10.0.0.2:1234", fwd(`for="203.0.113.9:_abc"`), "203.0.113.9"},
		{"Forwarded, obfuscated node: unknown", tracker.HeaderForwarded, "10.0.0.2:1234", fwd("for=_hidden"), ""},
		{"Forwarded, unknown", tracker.HeaderForwarded, "10.0.0.2:1234", fwd("for=unknown"), ""},
		{"Forwarded, element without for: unknown", tracker.HeaderForwarded, "10.0.0.2:1234", fwd("for=203.0.113.9, proto=https"), ""},
		{"Forwarded, comma inside quotes", tracker.HeaderForwarded, "10.0.0.2:1234", fwd(`for=6.6.6.6;ext="a,b", for=203.0.113.9`), "203.0.113.9"},
		{"Forwarded, unterminated quote left of the client", tracker.HeaderForwarded, "10.0.0.2:1234", fwd(`for="6.6.6.6`, "for=203.0.113.9"), "203.0.113.9"},
		{"Forwarded mode ignores X-Forwarded-For", tracker.HeaderForwarded, "10.0.0.2:1234", xff("203.0.113.9"), "10.0.0.2"},
		{"Forwarded direct client ignored", tracker.HeaderForwarded, "198.51.100.1:1", fwd("for=203.0.113.9"), "198.51.100.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, ok := testProxies(t, c.header).ClientIP(request(c.remote, c.h))
			switch {
			case c.want == "" && ok:
				t.Errorf("ClientIP = %v, want not known", got)
			case c.want != "" && (!ok || got != netip.MustParseAddr(c.want)):
				t.Errorf("ClientIP = %v, %v; want %s", got, ok, c.want)
			}
		})
	}
}

func TestParseProxies(t *testing.T) {
	p, err := tracker.ParseProxies("10.1.2.3/8", " 192.0.2.7 ", "2001:db8::/32", "::ffff:172.16.0.0/108")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
		netip.MustParsePrefix("2001:db8::/32"), netip.MustParsePrefix("172.16.0.0/12"),
	}
	if !slices.Equal(p.Trusted, want) || p.Header != tracker.HeaderXForwardedFor {
		t.Errorf("ParseProxies = %+v, want %v", p, want)
	}
	for _, bad := range []string{"", "10.0.0.0/33", "example.com", "10.0.0.0/8/1", "fe80::1%eth0"} {
		if _, err := tracker.ParseProxies("10.0.0.0/8", bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", strings.TrimSpace(bad))) {
			t.Errorf("ParseProxies(%q) = %v, want an error naming it", bad, err)
		}
	}
	if got, ok := tracker.ClientIP(request("10.0.0.2:1", http.Header{"X-Forwarded-For": {"203.0.113.9"}}), p.Trusted); !ok || got.String() != "203.0.113.9" {
		t.Errorf("tracker.ClientIP = %v, %v", got, ok)
	}
}

func TestWithRequest(t *testing.T) {
	p := testProxies(t, tracker.HeaderXForwardedFor)
	r := request("10.0.0.2:1234", http.Header{"X-Forwarded-For": {"203.0.113.9"}, "User-Agent": {"curl/8.5.0"}})
	e := tracker.Event{UserID: "42", Type: "login"}.WithRequest(r, p)
	if e.IP != "203.0.113.9" || e.UserAgent != "curl/8.5.0" || e.UserID != "42" {
		t.Errorf("WithRequest = %+v", e)
	}
	// The caller's own values win.
	e = tracker.Event{UserID: "42", Type: "login", IP: "198.51.100.1", UserAgent: "app/1"}.WithRequest(r, p)
	if e.IP != "198.51.100.1" || e.UserAgent != "app/1" {
		t.Errorf("WithRequest overwrote the caller's values: %+v", e)
	}
	// An unknown client leaves IP empty; the event stays valid.
	r = request("10.0.0.2:1234", http.Header{"X-Forwarded-For": {"unknown"}})
	if e := (tracker.Event{UserID: "42", Type: "login"}).WithRequest(r, p); e.IP != "" {
		t.Errorf("IP = %q for an unknown client, want empty", e.IP)
	}
	// r.RemoteAddr itself is a valid Event.IP.
	tr := newValidatingTracker(t, tracker.Config{})
	v, err := tr.Validate(tracker.Event{UserID: "42", Type: "login", IP: "[2001:db8::7]:443"})
	if err != nil || v.IP != "2001:db8::7" {
		t.Errorf("Validate of a host:port IP = %+v, %v", v, err)
	}
}

// TestClientIPAllocs keeps ClientIP free of allocations for
// X-Forwarded-For, the common case on a request path.
func TestClientIPAllocs(t *testing.T) {
	p := testProxies(t, tracker.HeaderXForwardedFor)
	r := request("10.0.0.2:1234", http.Header{"X-Forwarded-For": {"6.6.6.6, 203.0.113.9, 10.1.1.1"}})
	if n := testing.AllocsPerRun(100, func() { p.ClientIP(r) }); n != 0 {
		t.Errorf("ClientIP allocates %v times per call", n)
	}
}

// FuzzClientIP feeds arbitrary peers and headers to ClientIP. It must never
// panic; a known client is a valid address without zone or IPv4 mapping; a
// peer that is not trusted is the client whatever the headers say; and for
// X-Forwarded-For the answer equals a plain reference implementation (split
// on commas, walk from the right).
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.2:1234", "6.6.6.6, 203.0.113.9, 10.1.1.1", "for=203.0.113.9", false)
	f.Add("10.0.0.2:1234", "[2001:db8::1]:80,unknown", `for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.9`, true)
	f.Add("198.51.100.1:1", "1.2.3.4", `for="unterminated`, true)
	f.Add("[2001:db8:ffff::1]:443", ",,", `for=_x;for=y, ,for="\"a\\"`, true)
	f.Add("@", "", "", false)
	f.Add("192.0.2.7", "10.1.1.1,10.2.2.2", "FOR=10.1.1.1, for=\"10.2.2.2:_p\"", true)
	f.Fuzz(func(t *testing.T, remote, xff, fwd string, forwarded bool) {
		header := tracker.HeaderXForwardedFor
		if forwarded {
			header = tracker.HeaderForwarded
		}
		p := testProxies(t, header)
		r := request(remote, http.Header{"X-Forwarded-For": {xff}, "Forwarded": {fwd}})
		got, ok := p.ClientIP(r)
		if ok && (!got.IsValid() || got.Zone() != "" || got.Is4In6()) {
			t.Fatalf("ClientIP = %v: not a plain address", got)
		}
		direct, directOK := tracker.ClientIP(r, nil)
		if directOK && !trustedBy(p, direct) && (got != direct || !ok) {
			t.Fatalf("untrusted peer %v, ClientIP = %v, %v: the header was believed", direct, got, ok)
		}
		if !directOK && ok {
			t.Fatalf("peer %q does not parse, yet ClientIP = %v", remote, got)
		}
		if !forwarded && directOK {
			want, wantOK := referenceXFF(p, direct, xff)
			if ok != wantOK || (ok && got != want) {
				t.Fatalf("ClientIP = %v, %v; the reference says %v, %v", got, ok, want, wantOK)
			}
		}
	})
}

func trustedBy(p tracker.Proxies, a netip.Addr) bool {
	return slices.ContainsFunc(p.Trusted, func(pfx netip.Prefix) bool { return pfx.Contains(a) })
}

// referenceXFF is the X-Forwarded-For walk written as plainly as possible.
func referenceXFF(p tracker.Proxies, peer netip.Addr, xff string) (netip.Addr, bool) {
	if !trustedBy(p, peer) {
		return peer, true
	}
	entries := strings.Split(xff, ",")
	last := peer
	for i := len(entries) - 1; i >= 0; i-- {
		s := strings.TrimSpace(entries[i])
		if host, _, err := netSplitHostPortLoose(s); err == nil {
			s = host
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Addr{}, false
		}
		a = a.WithZone("").Unmap()
		if !trustedBy(p, a) {
			return a, true
		}
		last = a
	}
	return last, true
}

// netSplitHostPortLoose strips "[...]" and a port from an IPv6 literal, or a
// port from "a.b.c.d:port", the forms proxies write.
func netSplitHostPortLoose(s string) (string, string, error) {
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 || (end+1 < len(s) && s[end+1] != ':') {
			return "", "", fmt.Errorf("bad brackets")
		}
		return s[1:end], s[min(end+2, len(s)):], nil
	}
	if strings.Count(s, ":") == 1 {
		host, port, _ := strings.Cut(s, ":")
		return host, port, nil
	}
	return "", "", fmt.Errorf("no port")
}

// ExampleEvent_WithRequest fills the client's address and user agent from
// a request that came through the application's load balancer.
func ExampleEvent_WithRequest() {
	// Once, at start-up: the networks of the load balancers (from the
	// configuration; an address that is not a network fails here).
	proxies, err := tracker.ParseProxies("10.0.0.0/8")
	if err != nil {
		fmt.Println(err)
		return
	}

	// A request as the handler sees it: the peer is the load balancer,
	// which appended the client's address to what the client sent.
	r := httptest.NewRequest(http.MethodPost, "/login", nil)
	r.RemoteAddr = "10.0.3.7:41234"
	r.Header.Set("X-Forwarded-For", "127.0.0.1, 203.0.113.9")
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0")

	e := tracker.Event{UserID: "42", Type: "login"}.WithRequest(r, proxies)
	fmt.Println(e.IP)
	fmt.Println(e.UserAgent)
	// Output:
	// 203.0.113.9
	// Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0
}
