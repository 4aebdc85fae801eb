package tracker

import (
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// ForwardingHeader names the request header in which the proxies in front
// of an application report the addresses they forward for.
type ForwardingHeader int

const (
	// HeaderXForwardedFor is X-Forwarded-For: comma-separated addresses,
	// each proxy appending the address of its peer. AWS's load balancers,
	// CloudFront, API Gateway, nginx and most CDNs set it.
	HeaderXForwardedFor ForwardingHeader = iota
	// HeaderForwarded is RFC 7239's Forwarded header: comma-separated
	// elements whose for= parameters carry the addresses.
	HeaderForwarded
)

// Proxies says which peers of an HTTP server are proxies whose forwarding
// header is believed. The zero value trusts no one: the client is the
// request's RemoteAddr, and a forwarding header, which any client can send,
// is ignored. It is a plain value, safe for concurrent use.
type Proxies struct {
	// Trusted are the networks of the proxies in front of the application
	// (load balancers, CDN, ingress). Only a request whose peer is in one of
	// them has its forwarding header read, and only as far as every hop
	// between the peer and the client is in one of them.
	Trusted []netip.Prefix
	// Header is the header the trusted proxies set; default
	// HeaderXForwardedFor. Only that one is read: a proxy that appends to
	// X-Forwarded-For passes on a Forwarded header the client made up, and
	// the other way round.
	Header ForwardingHeader
}

// ParseProxies returns Proxies trusting the given networks, each in CIDR
// notation ("10.0.0.0/8", "2001:db8::/32") or a single address
// ("192.0.2.7"). It fails on the first entry that is neither, naming it.
func ParseProxies(cidrs ...string) (Proxies, error) {
	p := Proxies{Trusted: make([]netip.Prefix, 0, len(cidrs))}
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		var (
			pfx netip.Prefix
			err error
		)
		if strings.Contains(c, "/") {
			pfx, err = netip.ParsePrefix(c)
		} else {
			var a netip.Addr
			if a, err = netip.ParseAddr(c); err == nil && a.Zone() != "" {
				err = errors.New("an address with a zone")
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		if err != nil {
			return Proxies{}, fmt.Errorf("tracker: trusted proxy %q is not a CIDR or an address: %w", c, err)
		}
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), max(pfx.Bits()-96, 0))
		}
		p.Trusted = append(p.Trusted, pfx.Masked())
	}
	return p, nil
}

// ClientIP is Proxies{Trusted: trusted}.ClientIP(r): the client's address
// with X-Forwarded-For believed from the trusted proxies.
func ClientIP(r *http.Request, trusted []netip.Prefix) (netip.Addr, bool) {
	return Proxies{Trusted: trusted}.ClientIP(r)
}

// ClientIP returns the address of the client that sent r, and false when it
// cannot be known.
//
// The peer (r.RemoteAddr, "host:port" as net/http sets it) is the client
// unless it is a trusted proxy. Then the forwarding header is read from the
// right, the end the proxies append to: every address in it that is a
// trusted proxy is a hop to skip, and the first that is not is the client.
// Addresses to the left of it came from the client itself and are never
// believed, so a client cannot choose the address it is recorded under by
// sending the header. When every address is trusted, the leftmost one is the
// client (a request from inside the trusted networks). When the hop that
// should name the client names nothing usable ("unknown", an obfuscated
// RFC 7239 identifier, garbage), the client is not known and ClientIP
// reports false rather than blame a proxy.
//
// Addresses may carry ports ("192.0.2.1:1234", "[2001:db8::1]:443") and
// brackets; IPv4-mapped IPv6 addresses are returned as IPv4, zones are
// dropped. ClientIP allocates nothing for X-Forwarded-For.
func (p Proxies) ClientIP(r *http.Request) (netip.Addr, bool) {
	peer, ok := parseNode(r.RemoteAddr)
	if !ok {
		return netip.Addr{}, false
	}
	if !p.trusts(peer) {
		return peer, true
	}
	if p.Header == HeaderForwarded {
		return p.walkForwarded(peer, r.Header.Values("Forwarded"))
	}
	return p.walkXFF(peer, r.Header.Values("X-Forwarded-For"))
}

// trusts reports whether a is in a trusted network.
func (p Proxies) trusts(a netip.Addr) bool {
	for _, pfx := range p.Trusted {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// walkXFF walks X-Forwarded-For lines from the right; last is the trusted
// address the walk starts from.
func (p Proxies) walkXFF(last netip.Addr, lines []string) (netip.Addr, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		rest := lines[i]
		for {
			node := rest
			cut := strings.LastIndexByte(rest, ',')
			if cut >= 0 {
				node, rest = rest[cut+1:], rest[:cut]
			}
			a, ok := parseNode(node)
			if !ok {
				return netip.Addr{}, false
			}
			if !p.trusts(a) {
				return a, true
			}
			last = a
			if cut < 0 {
				break
			}
		}
	}
	return last, true
}

// walkForwarded walks the for= values of Forwarded lines from the right.
func (p Proxies) walkForwarded(last netip.Addr, lines []string) (netip.Addr, bool) {
	for i := len(lines) - 1; i >= 0; i-- {
		nodes := forwardedFor(lines[i])
		for j := len(nodes) - 1; j >= 0; j-- {
			a, ok := parseNode(nodes[j])
			if !ok {
				return netip.Addr{}, false
			}
			if !p.trusts(a) {
				return a, true
			}
			last = a
		}
	}
	return last, true
}

// forwardedFor returns the for= value of every element of one Forwarded
// header line (RFC 7239), unquoted, in order; "" for an element without
// one, or one that does not parse (which stops the walk there).
func forwardedFor(line string) []string {
	var nodes []string
	for len(line) > 0 {
		elem, rest, ok := cutUnquoted(line, ',')
		line = rest
		val, found, good := "", false, ok
		for pairs := elem; good && len(pairs) > 0; {
			var pair string
			pair, pairs, _ = cutUnquoted(pairs, ';')
			pair = strings.TrimSpace(pair)
			if pair == "" {
				continue
			}
			name, v, hasEq := strings.Cut(pair, "=")
			if !hasEq || !strings.EqualFold(strings.TrimSpace(name), "for") {
				continue
			}
			if found { // two for= in one element: malformed
				good = false
				break
			}
			v, good = unquote(strings.TrimSpace(v))
			val, found = v, true
		}
		if !good || !found {
			val = ""
		}
		nodes = append(nodes, val)
		if !ok {
			break // an unterminated quote swallowed the rest
		}
	}
	return nodes
}

// cutUnquoted cuts s at the first sep outside a quoted string. ok is false
// when a quoted string is not terminated (then before is all of s).
func cutUnquoted(s string, sep byte) (before, after string, ok bool) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case quoted && c == '\\':
			i++
		case c == '"':
			quoted = !quoted
		case !quoted && c == sep:
			return s[:i], s[i+1:], true
		}
	}
	return s, "", !quoted
}

// unquote returns the value of an RFC 7230 token or quoted-string.
func unquote(v string) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return v, !strings.ContainsAny(v, "\"\\")
	}
	if v[len(v)-1] != '"' {
		return "", false
	}
	v = v[1 : len(v)-1]
	if !strings.ContainsRune(v, '\\') {
		return v, true
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' {
			if i++; i == len(v) {
				return "", false
			}
		}
		b.WriteByte(v[i])
	}
	return b.String(), true
}

// parseNode parses one address as proxies and net/http write them: "ip",
// "ip:port", "[ipv6]", "[ipv6]:port" (an RFC 7239 obfuscated port such as
// ":_a1" too), surrounded by optional white space. A zone is dropped and an
// IPv4-mapped address unmapped.
func parseNode(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	host := s
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.IndexByte(s, ']')
		if end < 0 || (end+1 < len(s) && s[end+1] != ':') {
			return netip.Addr{}, false
		}
		host = s[1:end]
	case strings.Count(s, ":") == 1: // IPv4 with a port; IPv6 has at least two colons
		host = s[:strings.IndexByte(s, ':')]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

// WithRequest returns e with what r says about the client filled in where e
// leaves it empty: IP from p.ClientIP(r) (left empty when the client's
// address cannot be known) and UserAgent from r's User-Agent header. The IP
// policy of the tracker still applies when the event is put.
//
//	w.Put(r.Context(), tracker.Event{UserID: uid, Type: "login"}.WithRequest(r, proxies))
func (e Event) WithRequest(r *http.Request, p Proxies) Event {
	if e.IP == "" {
		if a, ok := p.ClientIP(r); ok {
			e.IP = a.String()
		}
	}
	if e.UserAgent == "" {
		e.UserAgent = r.UserAgent()
	}
	return e
}
