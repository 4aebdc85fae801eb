package lake

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/eventlake/eventlake/athena/local"
)

// TestStatementsFitAthena renders every statement at its limits: a pass of
// MaxRewriteInputs Firehose-sized URIs and MaxSQLHashes hashes.
func TestStatementsFitAthena(t *testing.T) {
	var uris, hashes []string
	for i := range MaxRewriteInputs {
		uris = append(uris, fmt.Sprintf("s3://eventlake-lakebucketb1d32e10-1a2b3c4d5e6f/events/dt=2026-11-30/eventlake-DefaultDeliveryStream-AbCdEfGhIjKl-1-2026-11-30-23-55-02-%08d-0123-4567-89ab-0123456789ab", i))
	}
	for i := range MaxSQLHashes {
		hashes = append(hashes, UserHash(fmt.Sprint(i)))
	}
	for _, d := range []Dialect{athenaDialect, duckDBDialect} {
		rw, err := d.rewriteSQL("2026-11-30", uris, MaxBuckets, hashes)
		if err != nil {
			t.Fatal(err)
		}
		v, err := d.verifySQL("2026-11-30", uris, uris[:MaxBuckets], hashes)
		if err != nil {
			t.Fatal(err)
		}
		f, err := d.findSQL(hashes, "")
		if err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string]string{"rewrite": rw, "verify": v, "find": f} {
			if len(s) > MaxStatementBytes-1024 || strings.Count(s, "?") > 0 {
				t.Errorf("%s %s: %d bytes, %d question marks", d.Name, name, len(s), strings.Count(s, "?"))
			}
		}
	}
	if _, err := athenaDialect.rewriteSQL("2026-11-30", uris, 1, append(hashes, UserHash("one more"))); err == nil {
		t.Error("more than MaxSQLHashes accepted")
	}
	if _, err := athenaDialect.rewriteSQL("2026-11-30", append(uris, uris...), 1, hashes); err == nil || !strings.Contains(err.Error(), "more than Athena takes") {
		t.Errorf("an oversized statement: %v", err)
	}
	for _, bad := range []string{"2026-11-3", "2026-11-30'", ""} {
		if _, err := athenaDialect.rewriteSQL(bad, uris[:1], 1, nil); err == nil {
			t.Errorf("day %q accepted", bad)
		}
	}
	if _, err := athenaDialect.findSQL([]string{"not a hash"}, ""); err == nil {
		t.Error("a non-hash accepted")
	}
}

// FuzzQuoteSQL: a value QuoteSQL accepts is read back by DuckDB as exactly
// itself; it refuses control characters and invalid UTF-8.
func FuzzQuoteSQL(f *testing.F) {
	for _, s := range []string{"", "s3://b/events/dt=2026-11-30/x.parquet", "it's", "''", "\\", "a'); DROP TABLE events; --", "é日本", "\x00", "a\nb", "\xff"} {
		f.Add(s)
	}
	db, err := local.Open(context.Background(), local.Config{Root: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	defer db.Close()
	f.Fuzz(func(t *testing.T, s string) {
		q, err := QuoteSQL(s)
		bad := !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
		if bad != (err != nil) {
			t.Fatalf("QuoteSQL(%q) = %q, %v", s, q, err)
		}
		if err != nil {
			return
		}
		res, err := db.Query(context.Background(), "SELECT "+q)
		if err != nil {
			t.Fatalf("SELECT %s: %v", q, err)
		}
		if got := res.Rows[0][0].String; got != s {
			t.Fatalf("SELECT %s = %q, want %q", q, got, s)
		}
	})
}

// FuzzParseSuppression: the stored list is outside input; a list that
// parses holds only hashes and survives a round trip.
func FuzzParseSuppression(f *testing.F) {
	f.Add([]byte(`{"version":1,"entries":[{"actor_sha256":"` + UserHash("42") + `","added_at":"2026-11-30T00:00:00Z"}]}`))
	f.Add([]byte(`{"version":2,"entries":[]}`))
	f.Add([]byte(`{"version":1,"entries":[{"actor_sha256":"ZZ"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := parseSuppression(body)
		if err != nil {
			return
		}
		for _, e := range s.Entries() {
			if !hexHashRE.MatchString(e.Hash) || !s.Has(e.Hash) {
				t.Fatalf("accepted entry %+v", e)
			}
		}
		again, err := json.Marshal(suppressionDoc{Version: 1, Entries: s.Entries()})
		if err != nil {
			t.Fatal(err)
		}
		s2, err := parseSuppression(again)
		if err != nil || s2.Len() != s.Len() {
			t.Fatalf("round trip: %v, %d entries of %d", err, s2.Len(), s.Len())
		}
	})
}

// FuzzDayOf: DayOf accepts exactly the keys of a day partition's objects.
func FuzzDayOf(f *testing.F) {
	for _, k := range []string{"events/dt=2026-11-30/x.parquet", "events/dt=2026-13-30/x", "events/dt=2026-11-30/", "events/dt=2026-11-30/a/b", "errors/dt=2026-11-30/x"} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, key string) {
		day, ok := DayOf(key)
		if !ok {
			return
		}
		if PartitionPrefix(day)+key[len(PartitionPrefix(day)):] != key || !strings.HasPrefix(key, PartitionPrefix(day)) || strings.Contains(key[len(PartitionPrefix(day)):], "/") {
			t.Fatalf("DayOf(%q) = %q", key, day)
		}
	})
}
