package delivery

import "testing"

func TestRedactIPs(t *testing.T) {
	for in, want := range map[string]string{
		"read tcp 127.0.0.1:45670->127.0.0.1:40545: use of closed network connection": "read tcp [ip]->[ip]: use of closed network connection",
		"dial tcp [2001:db8::1]:443: i/o timeout":                                     "dial tcp [[ip]]:443: i/o timeout",
		"lookup firehose.eu-west-1.amazonaws.com on 10.0.0.2:53: no such host":        "lookup firehose.eu-west-1.amazonaws.com on [ip]: no such host",
		"ServiceUnavailableException: Slow down.":                                     "ServiceUnavailableException: Slow down.",
		"at 2026-11-22T10:04:05.123Z, version 1.2.3":                                  "at 2026-11-22T10:04:05.123Z, version 1.2.3",
	} {
		if got := redactIPs(in); got != want {
			t.Errorf("redactIPs(%q) = %q, want %q", in, got, want)
		}
	}
}
