package collector

// Names of the collector's log lines and fields, for CloudWatch metric
// filters: a filter on { $.msg = "events not stored" } with the value
// $.not_stored counts events answered with 503.
const (
	// LogMessageNotStored is the msg of the line logged when the sink failed
	// to store events (the request was answered 503).
	LogMessageNotStored = "events not stored"
	// LogFieldPath is the request path.
	LogFieldPath = "path"
	// LogFieldEvents counts the events of the request.
	LogFieldEvents = "events"
	// LogFieldNotStored counts the events the sink could not store.
	LogFieldNotStored = "not_stored"
)
