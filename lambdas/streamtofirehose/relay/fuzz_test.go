package relay_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
	"github.com/eventlake/eventlake/tracker"
)

// FuzzDecodeImage feeds NewImage JSON, decoded the way the Lambda runtime
// decodes it, to the encoder: it must return a line that follows the event
// schema and keeps the string values, or an *ImageError; never panic.
func FuzzDecodeImage(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		payload, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		var ev events.DynamoDBEvent
		if err := json.Unmarshal(payload, &ev); err != nil {
			f.Fatal(err)
		}
		for _, r := range ev.Records {
			if r.Change.NewImage != nil {
				img, err := json.Marshal(r.Change.NewImage)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(img)
			}
		}
	}
	f.Add([]byte(`{"user_id":{"S":"u"},"event_at":{"S":"t"},"event_id":{"S":"i"},"event_type":{"N":"1"},"attributes":{"M":{"k":{"BS":["AA=="]},"l":{"L":[{"NS":["1e5","-0"]}]}}}}`))
	f.Add([]byte(`{"user_id":{"S":"\u0000\ud800"},"event_at":{"B":"AA=="},"event_id":{"BOOL":true},"event_type":{"S":"\u2028"}}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		var img map[string]events.DynamoDBAttributeValue
		if !decodeLikeTheRuntime(data, &img) {
			return
		}
		line, err := relay.AppendLine(nil, img)
		if err != nil {
			var ie *relay.ImageError
			if !errors.As(err, &ie) || !errors.Is(err, relay.ErrNotEvent) || len(line) != 0 {
				t.Fatalf("AppendLine error %v (%T) with %d bytes written", err, err, len(line))
			}
			return
		}
		if len(line) == 0 || line[len(line)-1] != '\n' || bytes.Count(line, []byte{'\n'}) != 1 {
			t.Fatalf("line %q is not one newline-terminated line", line)
		}
		m := checkLine(t, string(line[:len(line)-1]))
		for _, f := range tracker.EventFields() {
			av, ok := img[f.Name]
			if !ok || av.DataType() != events.DataTypeString || f.DynamoType != "S" {
				continue
			}
			if got, _ := m[f.Name].(string); av.String() != "" && got != av.String() {
				t.Fatalf("%s = %q, the image holds %q", f.Name, got, av.String())
			}
		}
		if attrs, ok := img[tracker.FieldAttributes]; ok && attrs.DataType() == events.DataTypeMap {
			got, _ := m[tracker.FieldAttributes].(map[string]any)
			for k, v := range attrs.Map() {
				if v.DataType() == events.DataTypeString && got[k] != v.String() {
					t.Fatalf("attributes.%s = %v, the image holds %q", k, got[k], v.String())
				}
			}
		}
		again, err := relay.AppendLine(nil, img)
		if err != nil || !bytes.Equal(again, line) {
			t.Fatalf("encoding the same image twice gave %q and %q (%v)", line, again, err)
		}
	})
}

// decodeLikeTheRuntime unmarshals as aws-lambda-go does. Its attribute
// decoder panics on some malformed sets (a BS holding a number); that is
// the runtime's input validation, not the handler's, so it counts as
// undecodable input here.
func decodeLikeTheRuntime(data []byte, v any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return json.Unmarshal(data, v) == nil
}
