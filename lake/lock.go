package lake

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// ErrLocked reports a day that another run is rewriting. It is retryable:
// run again later (the other run finishes, or its lock expires after
// Config.LockTTL if it died).
var ErrLocked = errors.New("lake: the day is being rewritten by another run")

// lockDoc is the content of a day's lock object.
type lockDoc struct {
	Run       string    `json:"run"`
	Op        string    `json:"op"`
	Host      string    `json:"host,omitempty"`
	ExpiresAt time.Time `json:"expires_at"`
}

func lockKey(day string) string { return locksPrefix + "dt=" + day }

// lock takes the day's lock for run: a conditional create of its lock
// object, or the takeover (a conditional replace) of a lock that expired.
// The returned release deletes it if it is still this run's.
func (l *Lake) lock(ctx context.Context, day, run, op string) (func(), error) {
	return l.lockObject(ctx, lockKey(day), day, run, op)
}

// lockObject takes the lock object key (what it guards is named by day in
// errors) for run; see lock.
func (l *Lake) lockObject(ctx context.Context, key, day, run, op string) (func(), error) {
	host, _ := os.Hostname()
	doc := lockDoc{Run: run, Op: op, Host: host, ExpiresAt: l.cfg.Now().UTC().Add(l.cfg.LockTTL)}
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	_, err = l.store.Put(ctx, key, body, Condition{IfNoneMatch: true})
	if errors.Is(err, ErrPrecondition) {
		cur, obj, gerr := l.store.Get(ctx, key)
		switch {
		case errors.Is(gerr, ErrNotFound):
			// Released meanwhile: try once more.
			_, err = l.store.Put(ctx, key, body, Condition{IfNoneMatch: true})
		case gerr != nil:
			return nil, fmt.Errorf("read the lock of %s: %w", day, gerr)
		default:
			var held lockDoc
			if json.Unmarshal(cur, &held) == nil && l.cfg.Now().Before(held.ExpiresAt) {
				return nil, fmt.Errorf("%s: %w (%s run %s until %s)", day, ErrLocked, held.Op, held.Run, held.ExpiresAt.Format(time.RFC3339))
			}
			// Expired (or unreadable): take it over, unless another run
			// does so first.
			_, err = l.store.Put(ctx, key, body, Condition{IfMatch: obj.ETag})
			if err == nil {
				l.cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "took over an expired lock", slog.String("day", day), slog.String("run", run), slog.String("previous_run", held.Run))
			}
		}
	}
	if errors.Is(err, ErrPrecondition) {
		return nil, fmt.Errorf("%s: %w", day, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", day, err)
	}
	return func() {
		// Without ctx: a run that was cancelled still releases its lock.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		cur, _, err := l.store.Get(rctx, key)
		if err != nil {
			return
		}
		var held lockDoc
		if json.Unmarshal(cur, &held) == nil && held.Run == run {
			_ = l.store.Delete(rctx, []string{key})
		}
	}, nil
}
