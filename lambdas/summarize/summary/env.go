package summary

import (
	"fmt"
	"strconv"
	"time"
)

// WindowFromEnv reads the tumbling window from SUMMARY_WINDOW_SECONDS
// through getenv: DefaultWindow when unset, otherwise 1 to 900 whole
// seconds. The CDK app sets the event source mapping's
// TumblingWindowInSeconds and the function's variable from the same value;
// the local pipeline reads it too.
func WindowFromEnv(getenv func(string) string) (time.Duration, error) {
	v := getenv(EnvWindowSeconds)
	if v == "" {
		return DefaultWindow, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > int(MaxWindow/time.Second) {
		return 0, fmt.Errorf("summary: %s=%q is not a number of seconds from 1 to %d", EnvWindowSeconds, v, int(MaxWindow/time.Second))
	}
	return time.Duration(n) * time.Second, nil
}

// ConfigFromEnv reads a Config from the environment through getenv
// (os.Getenv in main). It fails, naming the variable, when
// SUMMARY_TABLE_NAME is unset or a variable does not parse or is out of
// range (MAX_STATE_BYTES above MaxStateLimit), so that it accepts nothing
// New refuses.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := Config{SummaryTable: getenv(EnvSummaryTableName)}
	if cfg.SummaryTable == "" {
		return Config{}, fmt.Errorf("summary: %s is not set", EnvSummaryTableName)
	}
	var err error
	if cfg.Window, err = WindowFromEnv(getenv); err != nil {
		return Config{}, err
	}
	for _, n := range []struct {
		name string
		dst  *int
		max  int
	}{{EnvMaxStateBytes, &cfg.MaxStateBytes, MaxStateLimit}, {EnvWriteConcurrency, &cfg.WriteConcurrency, 0}} {
		v := getenv(n.name)
		if v == "" {
			continue
		}
		i, err := strconv.Atoi(v)
		if err != nil || i <= 0 {
			return Config{}, fmt.Errorf("summary: %s=%q is not a positive number", n.name, v)
		}
		if n.max > 0 && i > n.max {
			return Config{}, fmt.Errorf("summary: %s=%d is more than %d", n.name, i, n.max)
		}
		*n.dst = i
	}
	for _, d := range []struct {
		name string
		dst  *time.Duration
	}{{EnvSafetyMargin, &cfg.SafetyMargin}, {EnvBackoffBase, &cfg.BackoffBase}, {EnvBackoffMax, &cfg.BackoffMax}} {
		v := getenv(d.name)
		if v == "" {
			continue
		}
		dur, err := time.ParseDuration(v)
		if err != nil || dur <= 0 {
			return Config{}, fmt.Errorf("summary: %s=%q is not a positive duration such as 500ms", d.name, v)
		}
		*d.dst = dur
	}
	return cfg, nil
}
