package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/local/firehoselocal"
)

// ManifestName is the file in the lake folder that lists every object a
// pipeline wrote there, one Go-quoted key a line, so that CleanLake removes
// those objects and nothing else.
const ManifestName = ".eventlake-objects"

// ErrForeignObjects is returned by CleanLake when the lake folder's events/
// holds files that no pipeline wrote there (or that were written before
// pipelines kept a manifest).
var ErrForeignObjects = errors.New("pipeline: the lake folder holds objects this pipeline did not write")

// lakeSink is the pipeline's Firehose sink: a firehoselocal.FolderSink that
// first appends each new key to the lake's manifest, so an object cut
// short by a crash is listed too. It is safe for concurrent use.
type lakeSink struct {
	folder firehoselocal.FolderSink
	aside  lake.Writer // the kept-aside records, without forgotten actors'
	mu     sync.Mutex
	f      *os.File
	seen   map[string]bool
	kept   map[string]int // kept-aside objects: records in each
}

func openLakeSink(root string, list *lake.SuppressionCache) (*lakeSink, error) {
	f, err := os.OpenFile(filepath.Join(root, ManifestName), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pipeline: lake manifest: %w", err)
	}
	store, err := lake.NewFolderStore(root)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	return &lakeSink{folder: firehoselocal.FolderSink{Root: root}, aside: lake.Writer{Store: store, Suppression: list},
		f: f, seen: map[string]bool{}, kept: map[string]int{}}, nil
}

// Put is the relay's keep-aside store (relay.KeepAsideStore): it records
// key in the manifest and writes body to the folder without the records of
// forgotten actors (lake.Writer.Suppression, as the deployed relay), and
// counts the records (lines) the relay kept aside under each key for Drain.
func (s *lakeSink) Put(ctx context.Context, key string, body []byte) error {
	if err := s.record(key); err != nil {
		return err
	}
	if err := s.aside.Put(ctx, key, body); err != nil {
		return err
	}
	s.mu.Lock()
	s.kept[key] = bytes.Count(body, []byte("\n"))
	s.mu.Unlock()
	return nil
}

// keptAside returns the records the relay kept aside.
func (s *lakeSink) keptAside() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.kept {
		n += c
	}
	return int64(n)
}

func (s *lakeSink) record(key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.seen[key] {
		if _, err := s.f.WriteString(strconv.Quote(key) + "\n"); err != nil {
			return fmt.Errorf("pipeline: lake manifest: %w", err)
		}
		s.seen[key] = true
	}
	return nil
}

// Deliver records obj.Key in the manifest, then writes the object.
func (s *lakeSink) Deliver(ctx context.Context, obj firehoselocal.Object) error {
	s.mu.Lock()
	if !s.seen[obj.Key] {
		if _, err := s.f.WriteString(strconv.Quote(obj.Key) + "\n"); err != nil {
			s.mu.Unlock()
			return fmt.Errorf("pipeline: lake manifest: %w", err)
		}
		s.seen[obj.Key] = true
	}
	s.mu.Unlock()
	return s.folder.Deliver(ctx, obj)
}

// Close closes the manifest.
func (s *lakeSink) Close() error { return s.f.Close() }

// CleanLake removes the event objects that pipelines wrote to the lake
// folder dir (those its manifest lists, with the temporary files of writes
// cut short and the folders left empty), so a new run starts from an empty
// lake. It removes nothing else: when dir/events holds a file the manifest
// does not list, it returns ErrForeignObjects, naming one, and removes
// nothing at all. A dir that does not exist is clean.
func CleanLake(dir string) error {
	manifest := filepath.Join(dir, ManifestName)
	listed := map[string]bool{}
	b, err := os.ReadFile(manifest)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pipeline: clean lake: %w", err)
	}
	for i, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		key, err := strconv.Unquote(string(line))
		if err != nil {
			return fmt.Errorf("pipeline: clean lake: %s line %d is not a quoted key: %q", manifest, i+1, line)
		}
		if path.Clean(key) != key || !strings.HasPrefix(key, "events/") && !strings.HasPrefix(key, "errors/") || !filepath.IsLocal(filepath.FromSlash(key)) {
			return fmt.Errorf("pipeline: clean lake: %s line %d: key %q is outside events/ and errors/", manifest, i+1, key)
		}
		listed[key] = true
	}

	events := filepath.Join(dir, "events")
	var ours, foreign, dirs []string
	err = filepath.WalkDir(events, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == events {
				return fs.SkipDir
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if listed[rel] || isTempOf(rel, listed) {
			ours = append(ours, p)
		} else {
			foreign = append(foreign, rel)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("pipeline: clean lake: %w", err)
	}
	if len(foreign) > 0 {
		return fmt.Errorf("%w: %s holds %d file(s) no run of the pipeline wrote (%s first); move them away or choose another lake folder",
			ErrForeignObjects, events, len(foreign), foreign[0])
	}
	for _, p := range ours {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pipeline: clean lake: %w", err)
		}
	}
	slices.Reverse(dirs) // deepest first
	for _, d := range dirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pipeline: clean lake: %w", err)
		}
	}
	// Error output the runs wrote (Firehose's and the relay's), and the
	// folders it leaves empty; other files under errors/ stay.
	for key := range listed {
		if !strings.HasPrefix(key, "errors/") {
			continue
		}
		p := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pipeline: clean lake: %w", err)
		}
		for d := filepath.Dir(p); d != dir && strings.HasPrefix(d, filepath.Join(dir, "errors")); d = filepath.Dir(d) {
			if os.Remove(d) != nil {
				break // not empty
			}
		}
	}
	// The on-failure queue of the runs (their streams are gone with them).
	if msgs, err := filepath.Glob(filepath.Join(dir, QueueDirName, "*.json")); err == nil {
		for _, m := range msgs {
			os.Remove(m)
		}
	}
	if err := os.Remove(manifest); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pipeline: clean lake: %w", err)
	}
	return nil
}

// isTempOf reports whether rel is the temporary file of a listed object's
// write (FolderSink writes ".<name>.<random>.tmp" beside it).
func isTempOf(rel string, listed map[string]bool) bool {
	d, base := path.Split(rel)
	if !strings.HasPrefix(base, ".") || !strings.HasSuffix(base, ".tmp") {
		return false
	}
	name := strings.TrimSuffix(base[1:], ".tmp")
	i := strings.LastIndexByte(name, '.')
	return i > 0 && listed[d+name[:i]]
}
