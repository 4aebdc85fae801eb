package summary

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// decodeLikeTheRuntime decodes as lambda.NewHandler(h.Handle) would; ok is
// false when the runtime could not (or its decoder panics: aws-lambda-go
// v1.55.1 panics on a BS set holding a non-string, which DynamoDB never
// sends).
func decodeLikeTheRuntime(b []byte) (e events.DynamoDBTimeWindowEvent, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return e, json.Unmarshal(b, &e) == nil
}

// FuzzDecodePayload: the handler's own reading of a payload never panics,
// and whenever the runtime can decode the payload it finds the same
// records, fields, window and state as the runtime's decoding.
func FuzzDecodePayload(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"Records":[{"eventName":"INSERT","dynamodb":{"SequenceNumber":"1","NewImage":{"user_id":{"S":"a"},"USER_ID":{"S":"b"},"event_at":{"N":"1"}}}}]}`))
	f.Add([]byte(`{"Records":[{"dynamodb":{"NewImage":null}}],"window":{"start":"2026-03-01T09:00:00Z","end":"2026-03-01T09:01:00Z"},"state":null}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		inv, err := decodePayload(b)
		e, ok := decodeLikeTheRuntime(b)
		if !ok {
			return
		}
		if err != nil {
			t.Fatalf("the runtime decodes what Invoke refuses (%v): %s", err, b)
		}
		want := fromEvent(&e)
		if !reflect.DeepEqual(inv.records, want.records) {
			t.Fatalf("records differ:\n  invoke %+v\n runtime %+v\n%s", inv.records, want.records, b)
		}
		if inv.windowed != want.windowed || !inv.start.Equal(want.start) || !inv.end.Equal(want.end) ||
			inv.final != want.final || inv.early != want.early || inv.shardID != want.shardID || inv.arn != want.arn ||
			len(inv.state) != len(want.state) {
			t.Fatalf("window properties differ:\n  invoke %+v\n runtime %+v", inv, want)
		}
	})
}
