package lake

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/eventlake/eventlake/athena"
)

// Defaults of Config.
const (
	// DefaultTargetFileBytes is the size a rewrite aims its files at: a
	// day whose objects add up to less is written as one file. Athena's
	// guidance is files of 128 MB or more; UNLOAD cannot cut files to a
	// size, so the rewrite asks for ceil(input bytes / target) buckets.
	DefaultTargetFileBytes = 256 << 20
	// DefaultLockTTL is how long a day's lock holds before another run may
	// take it over (a run that died keeps it until then).
	DefaultLockTTL = time.Hour
)

// Config configures a Lake. The zero value of every field means its
// default.
type Config struct {
	// Format is what rewrites write: athena.FormatParquet (default, GZIP
	// pages, as Firehose's conversion) or athena.FormatJSON (gzip NDJSON).
	// It must be the format of the Glue table.
	Format athena.Format
	// TargetFileBytes sizes the files of a rewrite; default
	// DefaultTargetFileBytes.
	TargetFileBytes int64
	// LockTTL bounds how long a day stays locked by a run that died;
	// default DefaultLockTTL.
	LockTTL time.Duration
	// Logger receives one JSON record per day rewritten and per failure;
	// default slog.Default().
	Logger *slog.Logger
	// Progress, when set, is called after each day (rewritten, skipped or
	// failed) and at each phase of an erasure, on the calling goroutine.
	Progress func(Progress)
	// Now is the clock; nil means time.Now. For tests.
	Now func() time.Time

	// hook, when set, is called at each step of a rewrite; an error stops
	// the rewrite there (errCrash: as if the process died). For tests.
	hook func(step, day string) error
	// maxInputs overrides MaxRewriteInputs. For tests.
	maxInputs int
}

// Progress is what a Lake reports while it works.
type Progress struct {
	// Op is "compact", "forget" or "expire".
	Op string
	// Day is the partition, for a day's report.
	Day string
	// N and Of count the days of the operation (1-based).
	N, Of int
	// Result is the day's outcome, when a day is done.
	Result *DayResult
	// Err is the day's failure.
	Err error
	// Message describes a phase of an erasure.
	Message string
}

// Lake maintains one lake: its Store and the Engine that runs its SQL. Its
// methods are safe for concurrent use; two runs (in one process or many)
// never rewrite the same day at once (a lock object per day).
type Lake struct {
	store  Store
	engine Engine
	cfg    Config
}

// New returns a Lake over store, rewriting with engine.
func New(store Store, engine Engine, cfg Config) (*Lake, error) {
	if store == nil || engine == nil {
		return nil, errors.New("lake: New needs a store and an engine")
	}
	if cfg.Format == "" {
		cfg.Format = athena.FormatParquet
	}
	if cfg.Format != athena.FormatParquet && cfg.Format != athena.FormatJSON {
		return nil, fmt.Errorf("lake: Config.Format %q: want parquet or json", cfg.Format)
	}
	if cfg.TargetFileBytes <= 0 {
		cfg.TargetFileBytes = DefaultTargetFileBytes
	}
	if cfg.LockTTL <= 0 {
		cfg.LockTTL = DefaultLockTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.maxInputs <= 0 {
		cfg.maxInputs = MaxRewriteInputs
	}
	return &Lake{store: store, engine: engine, cfg: cfg}, nil
}

// Store returns the lake's store.
func (l *Lake) Store() Store { return l.store }

// Engine returns the lake's engine.
func (l *Lake) Engine() Engine { return l.engine }

func (l *Lake) progress(p Progress) {
	if l.cfg.Progress != nil {
		l.cfg.Progress(p)
	}
}

func (l *Lake) step(step, day string) error {
	if l.cfg.hook != nil {
		return l.cfg.hook(step, day)
	}
	return nil
}

// errCrash, returned by a test hook, stops a rewrite as if its process had
// died: no rollback, no unlock.
var errCrash = errors.New("lake: simulated crash")

// newRunID returns a run ID that sorts by time: 20261130T013000Z-1a2b3c.
func (l *Lake) newRunID() string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return l.cfg.Now().UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// today is the current UTC day.
func (l *Lake) today() time.Time { return l.cfg.Now().UTC().Truncate(24 * time.Hour) }
