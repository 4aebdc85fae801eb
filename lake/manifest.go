package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Manifest states.
const (
	// StateCopying: the new files are being copied into the partition; the
	// objects they replace are still there (queries see both: events_dedup
	// is right, the events table counts the day's events twice).
	StateCopying = "copying"
	// StateDone: the replaced objects are deleted.
	StateDone = "done"
	// StateAborted: the check failed or the run failed before deleting
	// anything; the new files were removed again.
	StateAborted = "aborted"
)

// Manifest records what one rewrite of a day did: the objects it replaced
// (with their S3 versions, recoverable until the bucket's noncurrent-version
// expiry unless the rewrite purged them), the files it wrote and the row
// counts of its check. It is stored at
// maintenance/manifests/dt=<day>/<run>.json before the swap and updated when
// the swap ends, so a run that died leaves a record of where it stopped.
type Manifest struct {
	Version int    `json:"version"`
	Run     string `json:"run"`
	// Op is "compact", "forget" or "expire".
	Op string `json:"op"`
	// Request is the erasure request, for op forget.
	Request    string    `json:"request,omitempty"`
	Day        string    `json:"day"`
	State      string    `json:"state"`
	Format     string    `json:"format,omitempty"`
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
	Inputs     []Object  `json:"inputs"`
	Outputs    []Object  `json:"outputs"`
	Rows       RowCounts `json:"rows"`
	// VersionsPurged counts the noncurrent versions and delete markers of
	// the partition removed for good (an erasure, or a rewrite that
	// dropped suppressed events).
	VersionsPurged int    `json:"versions_purged,omitempty"`
	Error          string `json:"error,omitempty"`
}

// RowCounts are the row counts of a rewrite's check (sql/verify.sql).
type RowCounts struct {
	// Input is every row of the replaced objects, duplicates included.
	Input int64 `json:"input"`
	// Distinct is one per event.
	Distinct int64 `json:"distinct"`
	// Suppressed are the events of forgotten actors left out.
	Suppressed int64 `json:"suppressed"`
	// Written is what the new files hold: Distinct - Suppressed.
	Written int64 `json:"written"`
}

func manifestKey(day, run string) string {
	return manifestsPrefix + "dt=" + day + "/" + run + ".json"
}

func (l *Lake) putManifest(ctx context.Context, m *Manifest) error {
	m.Version = 1
	body, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	if _, err := l.store.Put(ctx, manifestKey(m.Day, m.Run), body, Condition{}); err != nil {
		return fmt.Errorf("write the manifest of %s run %s: %w", m.Day, m.Run, err)
	}
	return nil
}

// Manifests returns the manifests of a day, oldest run first.
func (l *Lake) Manifests(ctx context.Context, day string) ([]Manifest, error) {
	objs, err := l.store.List(ctx, manifestsPrefix+"dt="+day+"/")
	if err != nil {
		return nil, err
	}
	var out []Manifest
	for _, o := range objs {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		body, _, err := l.store.Get(ctx, o.Key)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var m Manifest
		if err := json.Unmarshal(body, &m); err != nil {
			return nil, fmt.Errorf("manifest %s: %w", o.Key, err)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Manifest) int { return strings.Compare(a.Run, b.Run) })
	return out, nil
}
