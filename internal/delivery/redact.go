package delivery

import (
	"net/netip"
	"strings"
)

// redactIPs replaces every IPv4 or IPv6 address in s (alone, with a port,
// or in brackets) by "[ip]", so error texts such as "dial tcp
// 10.0.0.1:443: i/o timeout" can be logged without addresses.
func redactIPs(s string) string {
	isDelim := func(c byte) bool { return strings.IndexByte(" \t\n/()\"',;=<>[]{}-", c) >= 0 }
	var b strings.Builder
	changed := false
	for i := 0; i < len(s); {
		if isDelim(s[i]) {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i
		for j < len(s) && !isDelim(s[j]) {
			j++
		}
		tok := s[i:j]
		addr := strings.TrimRight(tok, ".:")
		if isAddress(addr) {
			b.WriteString("[ip]")
			b.WriteString(tok[len(addr):])
			changed = true
		} else {
			b.WriteString(tok)
		}
		i = j
	}
	if !changed {
		return s
	}
	return b.String()
}

func isAddress(tok string) bool {
	if _, err := netip.ParseAddr(tok); err == nil {
		return true
	}
	if _, err := netip.ParseAddrPort(tok); err == nil {
		return true
	}
	return false
}
