package tracker

import "time"

// Field describes one field of the event schema. The schema is defined once,
// here: the DynamoDB item, the NDJSON line the stream Lambda writes, the
// Athena DDL, the Glue table in the CDK app and the admin page all derive
// from EventFields or are tested against it.
type Field struct {
	// Name is the JSON key, the DynamoDB attribute name and the Athena column.
	Name string
	// DynamoType is the DynamoDB attribute type the item stores: "S" or "M".
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
	FieldUserID     = "user_id"
	FieldEventAt    = "event_at"
	FieldEventID    = "event_id"
	FieldEventType  = "event_type"
	FieldUserAgent  = "user_agent"
	FieldIPAddress  = "ip_address"
	FieldAttributes = "attributes"
)

// DynamoDB-only attributes: they are part of the item but not of the event
// schema, so they never leave DynamoDB as JSON.
const (
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
	MaxEventTypeBytes      = 64
	MaxEventIDBytes        = 64
	MaxUserAgentBytes      = 2048
	MaxAttributes          = 32
	MaxAttributeKeyBytes   = 64
	MaxAttributeValueBytes = 2048
	MaxAttributesBytes     = 16 * 1024
	// MaxItemBytes is an upper bound of a stored item's size as DynamoDB
	// counts it (attribute names plus values), for events that pass Validate.
	MaxItemBytes = MaxUserIDBytes + 2*len(TimeLayout) + 2*MaxEventIDBytes + 1 +
		MaxEventTypeBytes + MaxUserAgentBytes + 39 + MaxAttributesBytes +
		MaxAttributes*3 + 200
)

// DefaultMaxFutureSkew is how far in the future an event time may be before
// validation rejects it, when Config.MaxFutureSkew is zero.
const DefaultMaxFutureSkew = 5 * time.Minute

// EventFields is the event schema in column order.
var EventFields = []Field{
	{Name: FieldUserID, DynamoType: "S", AthenaType: "string", Required: true, MaxBytes: MaxUserIDBytes,
		Doc: "the user who acted; the table's partition key (numeric IDs are strings)"},
	{Name: FieldEventAt, DynamoType: "S", AthenaType: "string", Required: true,
		Doc: "when it happened, ISO8601 UTC with milliseconds: 2026-11-22T10:04:05.123Z"},
	{Name: FieldEventID, DynamoType: "S", AthenaType: "string", Required: true, MaxBytes: MaxEventIDBytes,
		Doc: "unique, time-sortable ID (UUIDv7 unless the caller supplies one); removes duplicate deliveries"},
	{Name: FieldEventType, DynamoType: "S", AthenaType: "string", Required: true, MaxBytes: MaxEventTypeBytes,
		Doc: "what happened: login, page_view, signup, ... (an allowlist)"},
	{Name: FieldUserAgent, DynamoType: "S", AthenaType: "string", MaxBytes: MaxUserAgentBytes,
		Doc: "the client's User-Agent header"},
	{Name: FieldIPAddress, DynamoType: "S", AthenaType: "string", MaxBytes: 39,
		Doc: "the client's IPv4 or IPv6 address, possibly anonymized"},
	{Name: FieldAttributes, DynamoType: "M", AthenaType: "map<string,string>", MaxBytes: MaxAttributesBytes,
		Doc: "free-form string attributes: url, referrer, campaign, fingerprint, ..."},
}

// FieldNames returns the names of EventFields in column order.
func FieldNames() []string {
	names := make([]string, len(EventFields))
	for i, f := range EventFields {
		names[i] = f.Name
	}
	return names
}

// TableDef describes a DynamoDB table. The CDK app and the local DynamoDB
// helper both create tables from these definitions.
type TableDef struct {
	// DefaultName is the name used locally; the CDK app lets CloudFormation
	// name the deployed tables.
	DefaultName string
	// PartitionKey and SortKey are string (S) attributes; SortKey may be empty.
	PartitionKey string
	SortKey      string
	// TTLAttribute, when set, is the table's time-to-live attribute.
	TTLAttribute string
	// StreamNewImage enables a stream with the NEW_IMAGE view.
	StreamNewImage bool
}

// EventsTable holds the events. Its stream feeds the analytics pipeline.
var EventsTable = TableDef{
	DefaultName:    "eventlake-events",
	PartitionKey:   FieldUserID,
	SortKey:        AttrEventKey,
	TTLAttribute:   AttrExpiresAt,
	StreamNewImage: true,
}

// SummaryTable holds one item per user: last seen and the action count. It
// has no stream, so summary writes never reach the analytics pipeline.
var SummaryTable = TableDef{
	DefaultName:  "eventlake-user-summary",
	PartitionKey: FieldUserID,
}

// Tables lists every table the tracker uses.
var Tables = []TableDef{EventsTable, SummaryTable}
