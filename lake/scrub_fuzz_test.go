package lake_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/eventlake/eventlake/lake"
	"github.com/eventlake/eventlake/local/firehoselocal"
)

// FuzzScrubLines: the error output an erasure scrubs (and the kept-aside
// records lake.Writer writes) is outside input: Firehose error records of
// whatever producers sent, images that broke the schema. The target builds
// a body of a Firehose error record of data, a kept-aside record of data
// and body itself, and scrubs it with a list of u0002, s0001, the visitor
// hot-cookie and forgotten (as a user and as a visitor). It checks that
//
//   - nothing removed means body itself, and an empty list removes nothing;
//   - the body is scrubbed line by line: the output is the scrubbed lines
//     joined, and the count their counts added up;
//   - a line with nothing removed keeps its bytes; a line with something
//     removed is gone, or is a Firehose record rewritten with the same other
//     fields and a rawData holding the events it held less those removed
//     (their bytes unchanged, in order);
//   - no line left names a forgotten actor as a JSON reader reads it (an
//     event's user_id and anonymous_id, every event packed in a Firehose
//     record's rawData, a kept-aside image's IDs and actor key);
//   - scrubbing the output again removes nothing.
func FuzzScrubLines(f *testing.F) {
	gone1 := eventLine("u0002", "", "g1")
	f.Add([]byte(nil), gone1, "")
	f.Add(bytes.Join([][]byte{fhKeep1, fhGone1, fhKeep2, fhGone2, fhVisitor}, nil), eventLine("u0003", "", "k"), "")
	f.Add(bytes.Join([][]byte{fhPacked, fhBroken}, nil), append(append(gone1, '\n'), eventLine("u0004", "", "k")...), "u0004")
	f.Add(bytes.Join([][]byte{poison, noUserID, textImage, keptOther}, nil), []byte(`{"actor":{"S":"u#u0002"},"user_id":{"S":"u0002"}}`), "")
	f.Add(append(eventLine("u0002", "", "e1"), "\r\n"+string(eventLine("u0003", "hot-cookie", "e2"))+"\n"+string(eventLine("", "hot-cookie", "e3"))...),
		[]byte(`{"user_id":"s0001","event_at":`), "")
	f.Add([]byte("garbage \"user_id\":\"s0001\" more\ngarbage\n\n   \n"), []byte(`not json "anonymous_id": "v-9"`), "v-9")
	f.Add(fhGone1[:len(fhGone1)-1], []byte(`{"user_id":"u0002"} {"user_id":"u0003"} [1]`), "")
	f.Add([]byte(`{"rawData":"`+base64.StdEncoding.EncodeToString(gone1)+`","rawdata":"eyJ1c2VyX2lkIjoidTAwMDMifQ=="}`+"\n"), gone1, "")
	packed := base64.StdEncoding.EncodeToString(append(append(gone1, '\n'), eventLine("u0004", "", "k")...))
	f.Add([]byte(`{"rawData":"","rawdata":"`+packed+`"}`+"\n"), []byte(nil), "")
	f.Add([]byte(`{"rawData":5,"User_Id":"u0002"}`+"\n"+`{"new_image_text":{},"anonymous_id":"hot-cookie"}`), []byte(`{"USER_ID":{"S":"u0002"},"actor":"x"}`), "")
	f.Add([]byte(`{"new_image":null,"user_id":"u0002"}`+"\n"+`{"new_image_text":"{\"actor\":{\"S\":\"a#hot-cookie\"}"}`), []byte(`{"USER_ID":"u0002"} x`), "")
	f.Add([]byte(`{"user_id":1,"anonymous_id":"hot-cookie"}`+"\n"+`{"user_id":"","anonymous_id":"hot-cookie"}`+"\n"+`null`+"\n"+`[]`), []byte(`{"user_id":"é\u0000"}`), "é\x00")
	f.Fuzz(func(t *testing.T, body, data []byte, forgotten string) {
		entries := []lake.SuppressionEntry{{Hash: lake.UserHash("u0002")}, {Hash: lake.UserHash("s0001")}, {Hash: lake.AnonymousHash("hot-cookie")}}
		if forgotten != "" {
			entries = append(entries, lake.SuppressionEntry{Hash: lake.UserHash(forgotten)}, lake.SuppressionEntry{Hash: lake.AnonymousHash(forgotten)})
		}
		list, err := lake.NewSuppression(entries)
		if err != nil {
			t.Fatal(err)
		}
		full := bytes.Join([][]byte{errorRecord(data, firehoselocal.ErrorCodeMalformedData), keptAside(string(data)), body}, nil)

		empty, _ := lake.NewSuppression(nil)
		if out, n := lake.ScrubLines(full, empty); n != 0 || !bytes.Equal(out, full) {
			t.Fatalf("an empty list removed %d from %q", n, full)
		}
		out, n := lake.ScrubLines(full, list)
		if n < 0 {
			t.Fatalf("removed %d", n)
		}
		if n == 0 && (!bytes.Equal(out, full) || len(full) > 0 && &out[0] != &full[0]) {
			t.Fatalf("nothing removed, yet the body changed:\n%q\nbecame\n%q", full, out)
		}
		var joined []byte
		sum := 0
		for _, line := range bytes.SplitAfter(full, []byte("\n")) {
			if len(line) == 0 {
				continue
			}
			o, k := lake.ScrubLines(line, list)
			checkScrubbedLine(t, list, line, o, k)
			joined = append(joined, o...)
			sum += k
		}
		if sum != n || !bytes.Equal(joined, out) {
			t.Fatalf("the body scrubbed whole (%d removed):\n%q\ndiffers from its lines scrubbed one by one (%d removed):\n%q", n, out, sum, joined)
		}
		for _, line := range bytes.SplitAfter(out, []byte("\n")) {
			if who := namesForgotten(line, list); who != "" {
				t.Fatalf("the scrubbed body still holds %s in\n%q\n(from %q)", who, line, full)
			}
		}
		if again, k := lake.ScrubLines(out, list); k != 0 || !bytes.Equal(again, out) {
			t.Fatalf("scrubbing again removed %d more:\n%q\nbecame\n%q", k, out, again)
		}
	})
}

// checkScrubbedLine checks what ScrubLines made of one line.
func checkScrubbedLine(t *testing.T, list *lake.Suppression, line, out []byte, n int) {
	t.Helper()
	switch {
	case n < 0:
		t.Fatalf("removed %d from %q", n, line)
	case n == 0:
		if !bytes.Equal(out, line) {
			t.Fatalf("nothing removed, yet %q became %q", line, out)
		}
		return
	case len(out) == 0:
		return // removed whole
	}
	// Rewritten: a Firehose record, without some of its events.
	var before, after map[string]json.RawMessage
	if err := json.Unmarshal(line, &before); err != nil {
		t.Fatalf("%q, not a JSON object, was rewritten as %q", line, out)
	}
	if !bytes.HasSuffix(out, []byte("\n")) || bytes.Count(out, []byte("\n")) != 1 || json.Unmarshal(out, &after) != nil {
		t.Fatalf("%q was rewritten as %q, not one line of a JSON object", line, out)
	}
	// Of the keys that read as rawData (case aside) the rewrite keeps one.
	for k := range after {
		if strings.EqualFold(k, "rawData") && k != "rawData" {
			t.Fatalf("%q was rewritten with a second rawData, %q: %q", line, k, out)
		}
	}
	n0 := len(before)
	for k, v := range before {
		if strings.EqualFold(k, "rawData") {
			n0--
			continue
		}
		var a, b any
		json.Unmarshal(v, &a)
		json.Unmarshal(after[k], &b)
		if _, ok := after[k]; !ok || !reflect.DeepEqual(a, b) {
			t.Fatalf("field %q of %q was %s, is %s in %q", k, line, v, after[k], out)
		}
	}
	if len(after) != n0+1 {
		t.Fatalf("%q was rewritten with other fields: %q", line, out)
	}
	var oldRaw, newRaw struct {
		RawData *string `json:"rawData"`
	}
	if json.Unmarshal(line, &oldRaw) != nil || json.Unmarshal(out, &newRaw) != nil || oldRaw.RawData == nil || newRaw.RawData == nil {
		t.Fatalf("%q was rewritten as %q, without a rawData string", line, out)
	}
	oldData, err1 := base64.StdEncoding.DecodeString(*oldRaw.RawData)
	newData, err2 := base64.StdEncoding.DecodeString(*newRaw.RawData)
	if err1 != nil || err2 != nil {
		t.Fatalf("rawData is not base64 in %q or %q", line, out)
	}
	oldEvents, newEvents := jsonValues(oldData), jsonValues(newData)
	if len(oldEvents)-len(newEvents) != n {
		t.Fatalf("rawData %q held %d values, holds %d: %d removed, yet the count says %d", oldData, len(oldEvents), len(newEvents), len(oldEvents)-len(newEvents), n)
	}
	i := 0
	for _, e := range newEvents {
		for i < len(oldEvents) && !bytes.Equal(oldEvents[i], e) {
			i++
		}
		if i == len(oldEvents) {
			t.Fatalf("rawData %q became %q: %s is not one of its events, in order", oldData, newData, e)
		}
		i++
	}
}

// jsonValues returns the JSON values data holds one after the other, up to
// the first that does not decode.
func jsonValues(data []byte) [][]byte {
	dec := json.NewDecoder(bytes.NewReader(data))
	var vs [][]byte
	for {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return vs
		}
		vs = append(vs, v)
	}
}

// idsOf is what a JSON reader finds of an actor in an event.
type idsOf struct {
	UserID      any `json:"user_id"`
	AnonymousID any `json:"anonymous_id"`
}

// unmarshalLoose decodes v as encoding/json does, keeping what it filled in
// when a value had another type than the field.
func unmarshalLoose(b []byte, v any) bool {
	err := json.Unmarshal(b, v)
	var te *json.UnmarshalTypeError
	return err == nil || errors.As(err, &te)
}

// namesForgotten returns which forgotten actor's record a line of the
// lake's error output holds as a JSON reader reads it, or "": an event's
// user_id (or, without one, its anonymous_id), each event a Firehose
// record's rawData packs (up to the first that is not JSON), a kept-aside
// image's IDs or its actor key. Text that is not JSON is not judged here.
func namesForgotten(line []byte, list *lake.Suppression) string {
	var l struct {
		RawData      json.RawMessage `json:"rawData"`
		NewImage     json.RawMessage `json:"new_image"`
		NewImageText json.RawMessage `json:"new_image_text"`
		idsOf
	}
	if !json.Valid(line) || !unmarshalLoose(line, &l) {
		return ""
	}
	str := func(v any) string { s, _ := v.(string); return s }
	// rawData and new_image_text are read when they are strings.
	var rawData, imageText *string
	json.Unmarshal(l.RawData, &rawData)
	json.Unmarshal(l.NewImageText, &imageText)
	switch {
	case rawData != nil:
		raw, err := base64.StdEncoding.DecodeString(*rawData)
		if err != nil {
			return ""
		}
		for _, ev := range jsonValues(raw) {
			var e idsOf
			if unmarshalLoose(ev, &e) && list.Suppressed(str(e.UserID), str(e.AnonymousID)) {
				return "the packed event " + string(ev)
			}
		}
		return ""
	case len(l.NewImage) > 0 && string(l.NewImage) != "null":
		type s struct {
			S string `json:"S"`
		}
		var img struct {
			UserID      s `json:"user_id"`
			AnonymousID s `json:"anonymous_id"`
			Actor       s `json:"actor"`
		}
		if !unmarshalLoose(l.NewImage, &img) {
			return ""
		}
		user, anon := img.UserID.S, img.AnonymousID.S
		if user == "" && anon == "" {
			if u, ok := bytes.CutPrefix([]byte(img.Actor.S), []byte("u#")); ok {
				user = string(u)
			} else if a, ok := bytes.CutPrefix([]byte(img.Actor.S), []byte("a#")); ok {
				anon = string(a)
			}
		}
		if list.Suppressed(user, anon) {
			return "the kept-aside image " + string(l.NewImage)
		}
		return ""
	case imageText != nil:
		return ""
	}
	if list.Suppressed(str(l.UserID), str(l.AnonymousID)) {
		return "the event"
	}
	return ""
}
