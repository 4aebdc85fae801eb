package function

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/tracker"
)

// The function's environment variables. The CDK construct sets them.
const (
	// EnvEventsTable names the events table (required).
	EnvEventsTable = "EVENTS_TABLE_NAME"
	// EnvDeliveryStream names the Firehose delivery stream of the lake
	// route (required when EnvRoutes routes a type to the lake).
	EnvDeliveryStream = "DELIVERY_STREAM_NAME"
	// EnvRoutes routes event types: "page_view=lake,click=lake". Types it
	// does not name take the hot route (DynamoDB, then the stream).
	EnvRoutes = "ROUTES"
	// EnvWriteKeysSecret is the ARN or name of a Secrets Manager secret
	// holding the write keys; EnvWriteKeysParameter the name or ARN of an
	// SSM SecureString parameter. Exactly one is required. The value is a
	// JSON object {"write_keys": ["k1", "k2"]}, a JSON array of strings, or
	// keys separated by commas, spaces or new lines.
	EnvWriteKeysSecret    = "WRITE_KEYS_SECRET"
	EnvWriteKeysParameter = "WRITE_KEYS_PARAMETER"
	// EnvWriteKeysRefresh is how often the keys are read again, a Go
	// duration; default DefaultRefresh.
	EnvWriteKeysRefresh = "WRITE_KEYS_REFRESH"
	// EnvAllowedOrigins and EnvTrustedProxies are collector.Config's
	// AllowedOrigins and TrustedProxies, comma-separated. Behind API
	// Gateway neither is needed: its CORS configuration answers browsers
	// and its sourceIp is the client's address.
	EnvAllowedOrigins = "ALLOWED_ORIGINS"
	EnvTrustedProxies = "TRUSTED_PROXIES"
	// EnvEventNames is collector.Config.EventNames as a JSON object
	// ({"Checkout Done": "purchase"}); unset means the defaults.
	EnvEventNames = "EVENT_NAMES"
	// EnvIPPolicy is keep (default), anonymize or drop.
	EnvIPPolicy = "IP_POLICY"
	// EnvRetentionDays sets the events' DynamoDB TTL (tracker
	// Config.Retention), as the stack's retention setting does.
	EnvRetentionDays = "RETENTION_DAYS"
	// EnvSuppressionBucket names the lake bucket whose suppression list
	// (lake.SuppressionKey) the function honours: the events of actors an
	// erasure forgot are dropped before they are stored (lake.EnvSuppressionBucket).
	EnvSuppressionBucket = lake.EnvSuppressionBucket
)

// MaxRetentionDays is the longest RETENTION_DAYS, the most days a
// time.Duration holds (about 292 years); more would wrap around to a
// negative or a short retention.
const MaxRetentionDays = int(math.MaxInt64 / int64(24*time.Hour))

// DefaultRefresh is how often the write keys are read again by default: a
// key added to the secret is accepted within this time, so rotation is: add
// the new key, wait, move the clients, remove the old key.
const DefaultRefresh = 5 * time.Minute

// Config is the function's configuration.
type Config struct {
	EventsTable    string
	DeliveryStream string
	Routes         map[string]tracker.Route
	// Exactly one of KeysSecret and KeysParameter is set.
	KeysSecret     string
	KeysParameter  string
	Refresh        time.Duration
	AllowedOrigins []string
	TrustedProxies []string
	EventNames     map[string]string
	IPPolicy       tracker.IPPolicy
	Retention      time.Duration
	// SuppressionBucket, when set, is the bucket of the suppression list
	// (Clients.SuppressionStore reads it); SuppressionRefresh is how old the
	// cached list may get, default lake.DefaultSuppressionRefresh.
	SuppressionBucket  string
	SuppressionRefresh time.Duration
}

// ConfigFromEnv reads the configuration through getenv (os.Getenv in main).
// It fails naming every variable that is missing or does not parse; the
// tracker and the collector check the rest when they are built.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		EventsTable:       getenv(EnvEventsTable),
		DeliveryStream:    getenv(EnvDeliveryStream),
		KeysSecret:        getenv(EnvWriteKeysSecret),
		KeysParameter:     getenv(EnvWriteKeysParameter),
		Refresh:           DefaultRefresh,
		AllowedOrigins:    list(getenv(EnvAllowedOrigins)),
		TrustedProxies:    list(getenv(EnvTrustedProxies)),
		SuppressionBucket: getenv(EnvSuppressionBucket),
	}
	var bad []string
	if c.EventsTable == "" {
		bad = append(bad, EnvEventsTable+" is not set")
	}
	if (c.KeysSecret == "") == (c.KeysParameter == "") {
		bad = append(bad, "set exactly one of "+EnvWriteKeysSecret+" and "+EnvWriteKeysParameter)
	}
	if v := getenv(EnvWriteKeysRefresh); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad = append(bad, fmt.Sprintf("%s=%q is not a positive duration such as 5m", EnvWriteKeysRefresh, v))
		}
		c.Refresh = d
	}
	if v := getenv(EnvRoutes); v != "" {
		c.Routes = map[string]tracker.Route{}
		for _, item := range list(v) {
			typ, route, ok := strings.Cut(item, "=")
			if !ok || typ == "" || (route != string(tracker.RouteHot) && route != string(tracker.RouteLake)) {
				bad = append(bad, fmt.Sprintf("%s: %q is not type=hot or type=lake", EnvRoutes, item))
				continue
			}
			c.Routes[typ] = tracker.Route(route)
		}
	}
	if v := getenv(EnvEventNames); v != "" {
		if err := json.Unmarshal([]byte(v), &c.EventNames); err != nil {
			bad = append(bad, fmt.Sprintf("%s is not a JSON object of names to types: %v", EnvEventNames, err))
		}
	}
	switch v := getenv(EnvIPPolicy); v {
	case "", "keep":
		c.IPPolicy = tracker.IPKeep
	case "anonymize":
		c.IPPolicy = tracker.IPAnonymize
	case "drop":
		c.IPPolicy = tracker.IPDrop
	default:
		bad = append(bad, fmt.Sprintf("%s=%q: want keep, anonymize or drop", EnvIPPolicy, v))
	}
	if v := getenv(EnvRetentionDays); v != "" {
		days, err := strconv.Atoi(v)
		if err != nil || days < 0 || days > MaxRetentionDays {
			bad = append(bad, fmt.Sprintf("%s=%q is not a number of days from 0 to %d", EnvRetentionDays, v, MaxRetentionDays))
		} else {
			c.Retention = time.Duration(days) * 24 * time.Hour
		}
	}
	if len(bad) > 0 {
		return Config{}, errors.New("collector function: " + strings.Join(bad, "; "))
	}
	return c, nil
}

// list splits a comma-separated value, dropping empty items.
func list(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
