package relay

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/eventlake/eventlake/internal/delivery"
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
// (os.Getenv in main). A set tuning variable must be a positive number of
// bytes or a positive Go duration; the Config must then pass the checks of
// New, so that ConfigFromEnv accepts nothing New refuses. The error is a
// *ConfigError naming each bad variable.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{DeliveryStreamName: getenv(EnvDeliveryStreamName)}
	var problems []string
	if v := getenv(EnvRecordMaxBytes); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			problems = append(problems, fmt.Sprintf("%s=%q is not a positive number of bytes", EnvRecordMaxBytes, v))
		} else {
			cfg.RecordMaxBytes = n
		}
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
			problems = append(problems, fmt.Sprintf("%s=%q is not a positive duration such as 500ms", d.name, v))
			continue
		}
		*d.dst = dur
	}
	if err := cfg.check(); err != nil {
		problems = append(problems, err.(*ConfigError).Problems...)
	}
	if len(problems) > 0 {
		return Config{}, &ConfigError{Problems: problems}
	}
	return cfg, nil
}

// ConfigError reports every bad setting of a Config, each named by the
// environment variable that sets it (docs/lambda.md) and its Config field.
type ConfigError struct {
	Problems []string
}

func (e *ConfigError) Error() string {
	return "relay: bad configuration: " + strings.Join(e.Problems, "; ")
}

// maxDuration bounds the durations an invocation uses: no Lambda
// invocation lasts longer than 15 minutes.
const maxDuration = 15 * time.Minute

// check is the one validation of a Config, shared by New and
// ConfigFromEnv: the stream name is set, RecordMaxBytes is 0 (the default)
// or 1..MaxRecordBytes, and no duration is negative or, for those an
// invocation uses, longer than 15 minutes.
func (c Config) check() error {
	var problems []string
	if c.DeliveryStreamName == "" {
		problems = append(problems, EnvDeliveryStreamName+" (Config.DeliveryStreamName) is not set")
	}
	if c.RecordMaxBytes < 0 || c.RecordMaxBytes > MaxRecordBytes {
		problems = append(problems, fmt.Sprintf("%s=%d (Config.RecordMaxBytes) is outside 1..%d", EnvRecordMaxBytes, c.RecordMaxBytes, MaxRecordBytes))
	}
	if c.RecordMaxLines < 0 || c.RecordMaxLines > delivery.MaxDeaggregatedLines {
		problems = append(problems, fmt.Sprintf("Config.RecordMaxLines %d is outside 1..%d, the most lines Firehose's deaggregation takes from a record",
			c.RecordMaxLines, delivery.MaxDeaggregatedLines))
	}
	for _, d := range []struct {
		env, field string
		v          time.Duration
	}{
		{EnvCallTimeout, "CallTimeout", c.CallTimeout},
		{EnvSafetyMargin, "SafetyMargin", c.SafetyMargin},
		{EnvBackoffBase, "BackoffBase", c.BackoffBase},
		{EnvBackoffMax, "BackoffMax", c.BackoffMax},
	} {
		switch {
		case d.v < 0:
			problems = append(problems, fmt.Sprintf("%s=%v (Config.%s) is negative", d.env, d.v, d.field))
		case d.v > maxDuration:
			problems = append(problems, fmt.Sprintf("%s=%v (Config.%s) is more than %v, the longest Lambda invocation", d.env, d.v, d.field, maxDuration))
		}
	}
	if c.RetryTimeout < 0 {
		problems = append(problems, fmt.Sprintf("Config.RetryTimeout %v is negative", c.RetryTimeout))
	}
	if len(problems) > 0 {
		return &ConfigError{Problems: problems}
	}
	return nil
}
