package local_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/athena/local"
)

// extremes are the edges of what Query.Args accepts for a parameter.
func extremes(p athena.Param) []string {
	switch p.Kind {
	case athena.Date:
		return []string{"0000-01-01", "9999-12-31"}
	case athena.Timestamp:
		return []string{"0000-01-01T00:00:00+23:59", "9999-12-31T23:59:59.999999999-23:59", "0", "253402300799"}
	case athena.Bigint:
		return []string{strconv.FormatInt(p.Min, 10), strconv.FormatInt(p.Max, 10)}
	default:
		return []string{"", strings.Repeat("é", 512)}
	}
}

// TestEveryAcceptedArgumentRuns runs every query with the edges of every
// parameter's accepted values: what Query.Args accepts never fails inside
// the engine (a bigint near the int64 limits used to, with a DuckDB
// conversion error or "Overflow in negation").
func TestEveryAcceptedArgumentRuns(t *testing.T) {
	l := getLake(t)
	db := openLake(t, l.json, athena.FormatJSON)
	qs, err := athena.Queries()
	if err != nil {
		t.Fatal(err)
	}
	typical := map[athena.Kind]string{athena.Date: l.ds.End, athena.Timestamp: l.ds.Start, athena.Bigint: "30", athena.Varchar: "u0001"}
	for _, q := range qs {
		inputs := q.Inputs()
		for i, p := range inputs {
			for _, v := range extremes(p) {
				values := make([]string, len(inputs))
				for j, pj := range inputs {
					values[j] = typical[pj.Kind]
				}
				values[i] = v
				args, err := q.Args(values...)
				if err != nil {
					t.Errorf("%s %s=%.20q: Args: %v", q.Name, p.Name, v, err)
					continue
				}
				if _, err := db.Run(context.Background(), q, args); err != nil {
					t.Errorf("%s %s=%.20q: %v", q.Name, p.Name, v, err)
				}
			}
		}
	}
}

// TestRunChecksArguments: arguments that did not come from Query.Args are
// refused, naming the parameter, before DuckDB sees them.
func TestRunChecksArguments(t *testing.T) {
	db := openEmptyLake(t)
	q, err := athena.Lookup("signup_attribution")
	if err != nil {
		t.Fatal(err)
	}
	args, err := q.Args("2026-11-01", "2026-11-22", "30")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i, p := range q.Params { // every "?" of lookback
		if p.Name == "lookback" {
			args[i] = athena.Arg{Param: p, Text: "-9223372036854775808"}
			n++
		}
	}
	if n == 0 {
		t.Fatal("signup_attribution has no lookback parameter")
	}
	_, err = db.Run(context.Background(), q, args)
	if !errors.Is(err, athena.ErrInvalidArgs) || !strings.Contains(err.Error(), "lookback (bigint): -9223372036854775808 is outside 1..3650") {
		t.Errorf("Run = %v, want an ErrInvalidArgs naming lookback", err)
	}
}

// TestOpenNeedsAnExistingFolder: a mistyped lake folder is an error, not an
// empty lake; an empty folder is an empty lake.
func TestOpenNeedsAnExistingFolder(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, tt := range map[string]struct {
		root string
		want string
	}{
		"missing": {filepath.Join(dir, "nope"), "no such file or directory"},
		"a file":  {file, "is not a folder"},
		"glob":    {filepath.Join(dir, "a[1]"), "glob or quote character"},
		"quote":   {filepath.Join(dir, "o'brien"), "glob or quote character"},
		"empty":   {"", "empty"},
	} {
		db, err := local.Open(context.Background(), local.Config{Root: tt.root})
		if err == nil {
			db.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Open(%q) = %v, want an error containing %q", name, tt.root, err, tt.want)
		}
	}
	if err := local.CheckRoot(filepath.Join(dir, "not-yet")); err != nil {
		t.Errorf("CheckRoot of a folder to create: %v", err)
	}
	db := openLake(t, dir, "")
	if _, err := db.Query(context.Background(), "SELECT count(*) FROM "+athena.TableName); err != nil {
		t.Errorf("an empty folder is an empty lake: %v", err)
	}
}
