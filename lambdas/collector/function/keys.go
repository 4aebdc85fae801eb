package function

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/eventlake/eventlake/collector"
)

// SecretsManagerAPI is the part of the Secrets Manager client WriteKeys uses.
type SecretsManagerAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SSMAPI is the part of the SSM client WriteKeys uses.
type SSMAPI interface {
	GetParameter(ctx context.Context, in *ssm.GetParameterInput, optFns ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
}

// SecretKeys returns a loader of the keys in a Secrets Manager secret (its
// AWSCURRENT version).
func SecretKeys(c SecretsManagerAPI, secretID string) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		out, err := c.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(secretID)})
		if err != nil {
			return nil, fmt.Errorf("read the write keys' secret: %w", err)
		}
		if out.SecretString == nil {
			return nil, errors.New("read the write keys' secret: it holds no string")
		}
		return ParseKeys(*out.SecretString)
	}
}

// ParameterKeys returns a loader of the keys in an SSM parameter
// (SecureString, decrypted).
func ParameterKeys(c SSMAPI, name string) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(name), WithDecryption: aws.Bool(true)})
		if err != nil {
			return nil, fmt.Errorf("read the write keys' parameter: %w", err)
		}
		if out.Parameter == nil || out.Parameter.Value == nil {
			return nil, errors.New("read the write keys' parameter: it holds no value")
		}
		return ParseKeys(*out.Parameter.Value)
	}
}

// ParseKeys reads write keys from a secret's text: a JSON object
// {"write_keys": [...]}, a JSON array of strings, or keys separated by
// commas, spaces or new lines. It fails when there is no key.
func ParseKeys(text string) ([]string, error) {
	text = strings.TrimSpace(text)
	var keys []string
	switch {
	case strings.HasPrefix(text, "{"):
		var v struct {
			WriteKeys []string `json:"write_keys"`
		}
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			return nil, errors.New(`the write keys' secret is not {"write_keys": ["..."]}`)
		}
		keys = v.WriteKeys
	case strings.HasPrefix(text, "["):
		if err := json.Unmarshal([]byte(text), &keys); err != nil {
			return nil, errors.New("the write keys' secret is not a JSON array of strings")
		}
	default:
		keys = strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t' })
	}
	if len(keys) == 0 {
		return nil, errors.New("the write keys' secret holds no key")
	}
	return keys, nil
}

// WriteKeys keeps a collector.KeySet loaded from a secret: Load once at
// cold start, then Wrap the handler so that every request first reloads the
// keys when they are older than the refresh interval. A failed reload keeps
// the keys in use, logs the error and is tried again after RetryAfter. It is
// safe for concurrent use.
type WriteKeys struct {
	Set     *collector.KeySet
	load    func(context.Context) ([]string, error)
	refresh time.Duration
	log     *slog.Logger
	now     func() time.Time

	mu   sync.Mutex
	next time.Time
}

// RetryAfter is how long a failed reload waits before the next try.
const RetryAfter = 30 * time.Second

// LoadTimeout bounds one reload made on a request's path.
const LoadTimeout = 2 * time.Second

// LogMessageReloadKeys is the msg of the error line logged when a reload of
// the write keys failed (the keys in use are kept), for a CloudWatch metric
// filter: { $.msg = "reload write keys" }. The line's error field says why.
const LogMessageReloadKeys = "reload write keys"

// LoadWriteKeys loads the keys with load and returns them, to be reloaded
// every refresh. It fails when the first load fails: a function without
// keys would only answer 401.
func LoadWriteKeys(ctx context.Context, load func(context.Context) ([]string, error), refresh time.Duration, log *slog.Logger) (*WriteKeys, error) {
	keys, err := load(ctx)
	if err != nil {
		return nil, err
	}
	set, err := collector.NewKeySet(keys...)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	return &WriteKeys{Set: set, load: load, refresh: refresh, log: log, now: time.Now, next: time.Now().Add(refresh)}, nil
}

// Reload loads the keys now and replaces the set; on error the set is kept.
func (k *WriteKeys) Reload(ctx context.Context) error {
	keys, err := k.load(ctx)
	if err == nil {
		err = k.Set.Set(keys...)
	}
	return err
}

// maybeReload reloads the keys when they are due; one request reloads
// while the others go on with the keys in use.
func (k *WriteKeys) maybeReload(ctx context.Context) {
	if !k.mu.TryLock() {
		return
	}
	defer k.mu.Unlock()
	now := k.now()
	if now.Before(k.next) {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, LoadTimeout)
	defer cancel()
	if err := k.Reload(ctx); err != nil {
		k.log.LogAttrs(ctx, slog.LevelError, LogMessageReloadKeys, slog.String("error", err.Error()))
		k.next = now.Add(RetryAfter)
		return
	}
	k.next = now.Add(k.refresh)
}

// Wrap returns h with the keys reloaded, when due, before each request.
func (k *WriteKeys) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k.maybeReload(r.Context())
		h.ServeHTTP(w, r)
	})
}
