package relay

import (
	"fmt"
	"strconv"
	"time"
)

// Optional environment variables that tune the handler; unset means the
// Config default.
const (
	// EnvRecordMaxBytes is Config.RecordMaxBytes, in bytes.
	EnvRecordMaxBytes = "RECORD_MAX_BYTES"
	// EnvCallTimeout is Config.CallTimeout, a Go duration ("10s").
	EnvCallTimeout = "PUT_CALL_TIMEOUT"
	// EnvSafetyMargin is Config.SafetyMargin, a Go duration.
	EnvSafetyMargin = "SAFETY_MARGIN"
	// EnvBackoffBase and EnvBackoffMax are Config.BackoffBase and
	// Config.BackoffMax, Go durations.
	EnvBackoffBase = "RETRY_BACKOFF_BASE"
	EnvBackoffMax  = "RETRY_BACKOFF_MAX"
)

// ConfigFromEnv reads a Config from the environment through getenv
// (os.Getenv in main). It fails, naming the variable, when
// DELIVERY_STREAM_NAME is unset or a tuning variable does not parse; New
// checks the ranges.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{DeliveryStreamName: getenv(EnvDeliveryStreamName)}
	if cfg.DeliveryStreamName == "" {
		return Config{}, fmt.Errorf("relay: %s is not set", EnvDeliveryStreamName)
	}
	if v := getenv(EnvRecordMaxBytes); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return Config{}, fmt.Errorf("relay: %s=%q is not a positive number of bytes", EnvRecordMaxBytes, v)
		}
		cfg.RecordMaxBytes = n
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{
		{EnvCallTimeout, &cfg.CallTimeout},
		{EnvSafetyMargin, &cfg.SafetyMargin},
		{EnvBackoffBase, &cfg.BackoffBase},
		{EnvBackoffMax, &cfg.BackoffMax},
	} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		dur, err := time.ParseDuration(v)
		if err != nil || dur <= 0 {
			return Config{}, fmt.Errorf("relay: %s=%q is not a positive duration such as 500ms", d.name, v)
		}
		*d.dst = dur
	}
	return cfg, nil
}
