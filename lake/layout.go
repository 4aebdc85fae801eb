package lake

import (
	"strings"
	"time"

	"github.com/eventlake/eventlake/tracker"
)

// The lake's layout (see the package documentation).
const (
	eventsPrefix    = "events/"
	manifestsPrefix = ManifestsPrefix
	stagingPrefix   = "maintenance/staging/"
	locksPrefix     = "maintenance/locks/"
	auditPrefix     = "maintenance/audit/"
	// CompactedPrefix starts the name of every file a rewrite writes into
	// a partition: compacted-<run>-<n>.parquet (or .gz).
	CompactedPrefix = "compacted-"
)

// ManifestsPrefix holds the manifest of every rewrite (Manifest):
// ManifestsPrefix + "dt=<day>/<run>.json".
const ManifestsPrefix = "maintenance/manifests/"

// PartitionPrefix returns the prefix of a day's partition,
// "events/dt=2026-11-01/".
func PartitionPrefix(day string) string {
	return eventsPrefix + tracker.PartitionColumn + "=" + day + "/"
}

// DayOf returns the day of an object of the events prefix
// ("events/dt=2026-11-01/x" is 2026-11-01) and whether key is one.
func DayOf(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, eventsPrefix+tracker.PartitionColumn+"=")
	if !ok {
		return "", false
	}
	day, name, ok := strings.Cut(rest, "/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return "", false
	}
	if _, err := time.Parse(tracker.DateLayout, day); err != nil {
		return "", false
	}
	return day, true
}

// isCompacted reports whether key is a file a rewrite wrote.
func isCompacted(key string) bool {
	return strings.HasPrefix(key[strings.LastIndex(key, "/")+1:], CompactedPrefix)
}

// runOf returns the run that wrote a compacted file, "" for another object.
func runOf(key string) string {
	name := key[strings.LastIndex(key, "/")+1:]
	rest, ok := strings.CutPrefix(name, CompactedPrefix)
	if !ok {
		return ""
	}
	// compacted-<run>-<n>.<ext>, run = YYYYMMDDTHHMMSSZ-<hex>
	i := strings.LastIndex(rest, "-")
	if i < 0 {
		return ""
	}
	return rest[:i]
}
