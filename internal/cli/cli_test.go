package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"
)

func TestStatus(t *testing.T) {
	for _, tt := range []struct {
		err         error
		interrupted bool
		status      int
		stderr      string
	}{
		{nil, false, ExitOK, ""},
		{flag.ErrHelp, false, ExitOK, ""},
		{Usage(flag.ErrHelp), false, ExitOK, ""},
		{Usagef("-n %d: want at least 1", 0), false, ExitUsage, "cmd: -n 0: want at least 1\n"},
		{fmt.Errorf("wrapped: %w", Usage(errors.New("bad"))), false, ExitUsage, "cmd: wrapped: bad\n"},
		{errors.New("disk full"), false, ExitFailure, "cmd: disk full\n"},
		{context.Canceled, true, ExitInterrupted, "interrupted"},
		{Usage(errors.New("bad")), true, ExitUsage, "cmd: bad\n"},
	} {
		var b strings.Builder
		if got := Status("cmd", tt.err, tt.interrupted, &b); got != tt.status || !strings.Contains(b.String(), tt.stderr) {
			t.Errorf("Status(%v, %t) = %d, %q; want %d, %q", tt.err, tt.interrupted, got, b.String(), tt.status, tt.stderr)
		}
	}
	if Usage(nil) != nil {
		t.Error("Usage(nil) is not nil")
	}
}
