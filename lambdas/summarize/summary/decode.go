package summary

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventlake/eventlake/tracker"
)

// invocation is one invocation's event as the handler sees it.
type invocation struct {
	records  []record
	windowed bool // the event has a tumbling window
	start    time.Time
	end      time.Time
	state    map[string]string
	shardID  string
	arn      string
	final    bool
	early    bool
}

// rawAttr is a DynamoDB attribute value of which only S and N are read.
type rawAttr struct {
	S *string `json:"S"`
	N *string `json:"N"`
}

func (a rawAttr) text() string {
	switch {
	case a.S != nil:
		return *a.S
	case a.N != nil:
		return *a.N
	}
	return ""
}

// newImage is a record's NewImage with every attribute value reduced to
// its S or N member: a map, so that attribute names match exactly (a struct
// would also take "USER_ID" for user_id), as the runtime's decoding does.
type newImage map[string]rawAttr

// decodePayload reads an invocation from the payload's JSON. It fails when
// the payload is not a JSON object, as the runtime's decoding would.
func decodePayload(payload []byte) (*invocation, error) {
	var raw struct { // the part of a DynamoDBTimeWindowEvent the handler reads
		Records []struct {
			EventName string `json:"eventName"`
			DynamoDB  struct {
				SequenceNumber string    `json:"SequenceNumber"`
				NewImage       *newImage `json:"NewImage"`
			} `json:"dynamodb"`
			EventSourceARN string `json:"eventSourceARN"`
		} `json:"Records"`
		Window *struct {
			Start events.RFC3339EpochTime `json:"start"`
			End   events.RFC3339EpochTime `json:"end"`
		} `json:"window"`
		State          map[string]string `json:"state"`
		ShardID        string            `json:"shardId"`
		EventSourceARN string            `json:"eventSourceARN"`
		IsFinal        bool              `json:"isFinalInvokeForWindow"`
		Early          bool              `json:"isWindowTerminatedEarly"`
	}
	if err := json.Unmarshal(payload, &raw); err != nil {
		return nil, fmt.Errorf("decode the stream event: %w", err)
	}
	inv := &invocation{
		records: make([]record, len(raw.Records)), state: raw.State, shardID: raw.ShardID, arn: raw.EventSourceARN,
		final: raw.IsFinal, early: raw.Early,
	}
	if w := raw.Window; w != nil && !w.Start.IsZero() {
		inv.windowed, inv.start, inv.end = true, w.Start.UTC(), w.End.UTC()
	}
	for i, rr := range raw.Records {
		r := &inv.records[i]
		r.name, r.seq = rr.EventName, rr.DynamoDB.SequenceNumber
		if img := rr.DynamoDB.NewImage; img != nil {
			r.image = true
			im := *img
			r.userID, r.anonymousID = im[tracker.FieldUserID].text(), im[tracker.FieldAnonymousID].text()
			r.eventAt, r.eventID = im[tracker.FieldEventAt].text(), im[tracker.FieldEventID].text()
		}
		if inv.arn == "" {
			inv.arn = rr.EventSourceARN
		}
	}
	return inv, nil
}

// fromEvent converts a decoded event.
func fromEvent(e *events.DynamoDBTimeWindowEvent) *invocation {
	inv := &invocation{
		records: make([]record, len(e.Records)), state: e.State, shardID: e.ShardID, arn: e.EventSourceARN,
		final: e.IsFinalInvokeForWindow, early: e.IsWindowTerminatedEarly,
	}
	if !e.Window.Start.IsZero() {
		inv.windowed, inv.start, inv.end = true, e.Window.Start.UTC(), e.Window.End.UTC()
	}
	text := func(img map[string]events.DynamoDBAttributeValue, name string) string {
		v, ok := img[name]
		if !ok {
			return ""
		}
		switch v.DataType() {
		case events.DataTypeString:
			return v.String()
		case events.DataTypeNumber:
			return v.Number()
		}
		return ""
	}
	for i, rr := range e.Records {
		r := &inv.records[i]
		r.name, r.seq = rr.EventName, rr.Change.SequenceNumber
		if img := rr.Change.NewImage; img != nil {
			r.image = true
			r.userID, r.anonymousID = text(img, tracker.FieldUserID), text(img, tracker.FieldAnonymousID)
			r.eventAt, r.eventID = text(img, tracker.FieldEventAt), text(img, tracker.FieldEventID)
		}
		if inv.arn == "" {
			inv.arn = rr.EventSourceArn
		}
	}
	return inv
}
