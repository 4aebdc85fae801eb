package athena

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

//go:embed queries/*.sql
var queryFiles embed.FS

// Query is one named query of athena/queries.
type Query struct {
	// Name is the file name without .sql, for example "logins_per_day".
	Name string
	// Description is the header comment: what the query answers and its
	// parameters.
	Description string
	// SQL is the file's text, unchanged.
	SQL string
}

// Queries returns every query of athena/queries, sorted by name.
func Queries() ([]Query, error) {
	entries, err := fs.Glob(queryFiles, "queries/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(entries)
	out := make([]Query, 0, len(entries))
	for _, p := range entries {
		b, err := queryFiles.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read query %s: %w", p, err)
		}
		sql := string(b)
		out = append(out, Query{
			Name:        strings.TrimSuffix(path.Base(p), ".sql"),
			Description: headerComment(sql),
			SQL:         sql,
		})
	}
	return out, nil
}

// headerComment returns the leading "--" comment lines without the markers.
func headerComment(sql string) string {
	var lines []string
	for _, l := range strings.Split(sql, "\n") {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "--") {
			break
		}
		lines = append(lines, strings.TrimSpace(strings.TrimPrefix(t, "--")))
	}
	return strings.TrimSpace(strings.Join(lines, "\n"))
}
