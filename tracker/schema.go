package tracker

import (
	"slices"
	"time"
)

// Field describes one field of the event schema. The schema is defined once,
// here: the DynamoDB item, the NDJSON line the stream Lambda writes, the
// Athena DDL, the Glue table in the CDK app and the admin page all derive
// from EventFields or are tested against it.
type Field struct {
	// Name is the JSON key, the DynamoDB attribute name and the Athena column.
	Name string
	// DynamoType is the DynamoDB attribute type the item stores: "S", "BOOL"
	// or "M".
	DynamoType string
	// AthenaType is the Athena (Hive DDL) and Glue column type.
	AthenaType string
	// Required fields are present in every stored event; optional ones are
	// omitted from the item and are null in Athena when empty.
	Required bool
	// MaxBytes bounds the field's size in UTF-8 bytes (for attributes, the
	// total of all keys and values). Zero means fixed size.
	MaxBytes int
	// Doc says what the field holds.
	Doc string
}

// Field names of the event schema. These strings are the wire format: they
// appear in DynamoDB items, NDJSON lines and Athena columns.
const (
	FieldUserID      = "user_id"
	FieldAnonymousID = "anonymous_id"
	FieldEventAt     = "event_at"
	FieldEventID     = "event_id"
	FieldEventType   = "event_type"
	FieldUserAgent   = "user_agent"
	FieldIPAddress   = "ip_address"
	FieldDeviceType  = "device_type"
	FieldBrowser     = "browser"
	FieldOS          = "os"
	FieldIsBot       = "is_bot"
	FieldAttributes  = "attributes"
)

// Device types, the values of the device_type field.
const (
	DeviceDesktop = "desktop"
	DeviceMobile  = "mobile"
	DeviceTablet  = "tablet"
	DeviceBot     = "bot"
)

// Standard attribute names for web context. The collector, the fake data and
// the queries use these names; any other key is free-form.
const (
	AttrURL         = "url"
	AttrPath        = "path"
	AttrReferrer    = "referrer"
	AttrTitle       = "title"
	AttrUTMSource   = "utm_source"
	AttrUTMMedium   = "utm_medium"
	AttrUTMCampaign = "utm_campaign"
	AttrUTMTerm     = "utm_term"
	AttrUTMContent  = "utm_content"
)

// DynamoDB-only attributes: they are part of the item but not of the event
// schema, so they never leave DynamoDB as JSON.
const (
	// AttrActor is the partition key of both tables: "u#" and the user ID
	// for an event with a user ID, else "a#" and the anonymous ID (see
	// ActorKey). Identified and anonymous events never share a partition,
	// whatever the two IDs hold.
	AttrActor = "actor"
	// AttrEventKey is the table's sort key: EventAt formatted with TimeLayout,
	// "#", then the event ID. It sorts by time, never collides for two events
	// of one user in the same millisecond, and is range-queryable by date.
	AttrEventKey = "event_key"
	// AttrExpiresAt holds the TTL (Unix seconds, type N) when retention is set.
	AttrExpiresAt = "expires_at"
)

// PartitionColumn is the lake's partition column: the UTC date of event_at,
// formatted with DateLayout, as in the Firehose prefix events/dt=YYYY-MM-DD/.
const PartitionColumn = "dt"

// TimeLayout formats event_at: ISO8601 UTC with milliseconds, the form that
// Athena's from_iso8601_timestamp reads and that sorts lexically by time.
const TimeLayout = "2006-01-02T15:04:05.000Z"

// DateLayout formats the dt partition value.
const DateLayout = "2006-01-02"

// Limits of an event. Together they keep every item far below DynamoDB's
// 400 KB item limit (the largest valid item is about 24 KB).
const (
	MaxUserIDBytes         = 256
	MaxAnonymousIDBytes    = 256
	MaxEventTypeBytes      = 64
	MaxEventIDBytes        = 64
	MaxUserAgentBytes      = 2048
	MaxAttributes          = 32
	MaxAttributeKeyBytes   = 64
	MaxAttributeValueBytes = 2048
	MaxAttributesBytes     = 16 * 1024
	// MaxItemBytes is an upper bound of a stored item's size as DynamoDB
	// counts it (attribute names plus values), for events that pass Validate.
	MaxItemBytes = 2*MaxUserIDBytes + 2*MaxAnonymousIDBytes + 2*len(TimeLayout) + 2*MaxEventIDBytes + 1 +
		MaxEventTypeBytes + MaxUserAgentBytes + 39 + 3*maxDeviceField + MaxAttributesBytes +
		MaxAttributes*3 + 300
)

// DefaultMaxFutureSkew is how far in the future an event time may be before
// validation rejects it, when Config.MaxFutureSkew is zero.
const DefaultMaxFutureSkew = 5 * time.Minute

// eventFields is the event schema in column order.
var eventFields = []Field{
	{Name: FieldUserID, DynamoType: "S", AthenaType: "string", MaxBytes: MaxUserIDBytes,
		Doc: "the identified user who acted (numeric IDs are strings); absent for an anonymous visitor"},
	{Name: FieldAnonymousID, DynamoType: "S", AthenaType: "string", MaxBytes: MaxAnonymousIDBytes,
		Doc: "the visitor's first-party identifier (cookie, device ID, Segment's anonymousId); every event has a user_id, an anonymous_id or both"},
	{Name: FieldEventAt, DynamoType: "S", AthenaType: "string", Required: true,
		Doc: "when it happened, ISO8601 UTC with milliseconds: 2026-11-22T10:04:05.123Z"},
	{Name: FieldEventID, DynamoType: "S", AthenaType: "string", Required: true, MaxBytes: MaxEventIDBytes,
		Doc: "unique, time-sortable ID (UUIDv7 unless the caller supplies one); removes duplicate deliveries"},
	{Name: FieldEventType, DynamoType: "S", AthenaType: "string", Required: true, MaxBytes: MaxEventTypeBytes,
		Doc: "what happened: login, page_view, signup, identify, ... (an allowlist)"},
	{Name: FieldUserAgent, DynamoType: "S", AthenaType: "string", MaxBytes: MaxUserAgentBytes,
		Doc: "the client's User-Agent header"},
	{Name: FieldIPAddress, DynamoType: "S", AthenaType: "string", MaxBytes: 39,
		Doc: "the client's IPv4 or IPv6 address, possibly anonymized"},
	{Name: FieldDeviceType, DynamoType: "S", AthenaType: "string", MaxBytes: maxDeviceField,
		Doc: "desktop, mobile, tablet or bot, from the user agent at write time; absent when it says nothing"},
	{Name: FieldBrowser, DynamoType: "S", AthenaType: "string", MaxBytes: maxDeviceField,
		Doc: "the browser or client name from the user agent: Chrome, Safari, curl, Googlebot, ..."},
	{Name: FieldOS, DynamoType: "S", AthenaType: "string", MaxBytes: maxDeviceField,
		Doc: "the operating system's name from the user agent: Windows, Mac OS X, Android, ..."},
	{Name: FieldIsBot, DynamoType: "BOOL", AthenaType: "boolean",
		Doc: "true when the user agent is a crawler, a command-line tool or an HTTP library"},
	{Name: FieldAttributes, DynamoType: "M", AthenaType: "map<string,string>", MaxBytes: MaxAttributesBytes,
		Doc: "free-form string attributes; standard names url, path, referrer, title, utm_source, utm_medium, utm_campaign, utm_term, utm_content"},
}

// EventFields returns the event schema in column order. The slice is a
// copy: changing it changes nothing else.
func EventFields() []Field { return slices.Clone(eventFields) }

// FieldNames returns the names of EventFields in column order.
func FieldNames() []string {
	names := make([]string, len(eventFields))
	for i, f := range eventFields {
		names[i] = f.Name
	}
	return names
}

// TableDef describes a DynamoDB table's keys and stream. The CDK construct
// and the local DynamoDB harness both create tables from these definitions;
// the names are theirs to choose (the deployed stack lets CloudFormation
// name its tables, so the tracker has no default table names).
type TableDef struct {
	// PartitionKey and SortKey are string (S) attributes; SortKey may be empty.
	PartitionKey string
	SortKey      string
	// TTLAttribute, when set, is the table's time-to-live attribute.
	TTLAttribute string
	// StreamNewImage enables a stream with the NEW_IMAGE view.
	StreamNewImage bool
}

// EventsTableDef returns the definition of the events table: partition key
// actor ("u#<user_id>" or "a#<anonymous_id>"), sort key event_key, TTL on
// expires_at, and a NEW_IMAGE stream, which feeds the lake and the summary.
func EventsTableDef() TableDef {
	return TableDef{
		PartitionKey:   AttrActor,
		SortKey:        AttrEventKey,
		TTLAttribute:   AttrExpiresAt,
		StreamNewImage: true,
	}
}

// SummaryTableDef returns the definition of the summary table: one item per
// user or visitor (partition key actor) with last seen, the action count and
// identity links. It has no stream, so summary writes never reach the lake.
func SummaryTableDef() TableDef {
	return TableDef{PartitionKey: AttrActor}
}

// ActorKey returns the partition key of the events of a user (when userID is
// not empty) or of an anonymous visitor: "u#" + userID, else "a#" +
// anonymousID. The prefixes keep a user and a visitor with equal IDs apart.
func ActorKey(userID, anonymousID string) string {
	if userID != "" {
		return actorUser + userID
	}
	return actorAnonymous + anonymousID
}

const (
	actorUser      = "u#"
	actorAnonymous = "a#"
)
