package lake

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/eventlake/eventlake/tracker"
)

// ErrorsPrefix holds the lake's error output: Firehose's error records
// (errors/<error-output-type>/dt=<day>/..., each a JSON line whose rawData
// is the data that failed, in base64) and, under errors/relay/, the relay's
// kept-aside records (JSON lines whose new_image is an item that broke the
// schema). Both hold event images with personal data, so an erasure scrubs
// them (Forget) and writers that honour the suppression list keep nothing
// of a forgotten actor there (Writer.Suppression).
const ErrorsPrefix = "errors/"

// ScrubLines returns body, NDJSON of the lake's error output (Firehose error
// records, the relay's kept-aside records) or of events, without what
// belongs to an actor on list (Suppression.Suppressed's rule), and the
// number of events it removed; body itself when it removed nothing. A
// Firehose error record whose rawData packs several events keeps the
// others (its rawData rewritten); a line left without events is removed
// whole. The actor is read from an event's user_id and anonymous_id (a
// kept-aside image's actor key when it has neither); from data that is not
// JSON (a record Firehose could not read, an image kept as text) the
// quoted "user_id", "anonymous_id" and "actor" values are read as text, so
// a forgotten actor's malformed record goes too. Lines that name no
// forgotten actor keep their bytes.
func ScrubLines(body []byte, list *Suppression) ([]byte, int) {
	if list.Len() == 0 || len(body) == 0 {
		return body, 0
	}
	var out []byte
	removed := 0
	rest, start := body, 0
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		kept, n := scrubLine(bytes.TrimRight(line, "\r\n"), list)
		if n > 0 && out == nil {
			out = make([]byte, 0, len(body))
			out = append(out, body[:start]...)
		}
		start += len(line)
		removed += n
		switch {
		case out == nil:
		case n == 0:
			out = append(out, line...)
		case kept != nil:
			out = append(append(out, kept...), '\n')
		}
	}
	if removed == 0 {
		return body, 0
	}
	return out, removed
}

// errorLine is what ScrubLines reads of a line: a Firehose error record
// (rawData), a kept-aside record (new_image, new_image_text) or an event.
// rawData and new_image_text count when they are strings (stringField):
// a value of another type fails no line, whose other fields are read.
type errorLine struct {
	RawData      json.RawMessage `json:"rawData"`
	NewImage     json.RawMessage `json:"new_image"`
	NewImageText json.RawMessage `json:"new_image_text"`
	UserID       any             `json:"user_id"`
	AnonymousID  any             `json:"anonymous_id"`
}

// stringField returns the string a field holds, nil when it is absent,
// null or of another type; odd reports another type.
func stringField(raw json.RawMessage) (s *string, odd bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, false
	}
	if json.Unmarshal(raw, &s) != nil {
		return nil, true
	}
	return s, false
}

// scrubLine returns line without the events of forgotten actors (nil when
// none is left) and how many it removed; n == 0 leaves line as it is.
func scrubLine(line []byte, list *Suppression) (kept []byte, n int) {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil, 0
	}
	var l errorLine
	if err := json.Unmarshal(line, &l); err != nil {
		if textSuppressed(line, list) {
			return nil, 1
		}
		return nil, 0
	}
	rawData, odd1 := stringField(l.RawData)
	imageText, odd2 := stringField(l.NewImageText)
	if (odd1 || odd2) && textSuppressed(line, list) {
		return nil, 1 // not a record as the lake writes them: read as text too
	}
	switch {
	case rawData != nil:
		raw, err := base64.StdEncoding.DecodeString(*rawData)
		if err != nil {
			if textSuppressed(line, list) {
				return nil, 1
			}
			return nil, 0
		}
		data, n := scrubEvents(raw, list)
		if n == 0 {
			return nil, 0
		}
		if len(data) == 0 {
			return nil, n
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(line, &fields); err != nil {
			return nil, n
		}
		// The rawData read is the last key that matches it without regard
		// to case: the others, which no reader sees, go with the events
		// they may hold.
		for k := range fields {
			if strings.EqualFold(k, "rawData") {
				delete(fields, k)
			}
		}
		fields["rawData"], _ = json.Marshal(data)
		out, err := json.Marshal(fields)
		if err != nil {
			return nil, n
		}
		return out, n
	case len(l.NewImage) > 0 && string(l.NewImage) != "null":
		if imageSuppressed(l.NewImage, list) {
			return nil, 1
		}
		return nil, 0
	case imageText != nil:
		if textSuppressed([]byte(*imageText), list) {
			return nil, 1
		}
		return nil, 0
	}
	user, _ := l.UserID.(string)
	anon, _ := l.AnonymousID.(string)
	if list.Suppressed(user, anon) {
		return nil, 1
	}
	return nil, 0
}

// scrubEvents returns data, one or more event objects (a Firehose record:
// the relay packs several, separated by newlines), without those of
// forgotten actors, and how many it removed. Data that is not a sequence of
// JSON objects goes whole when an event read before the first that does not
// decode, or its text, names a forgotten actor.
func scrubEvents(data []byte, list *Suppression) ([]byte, int) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var spans [][2]int64
	var drop []bool
	n := 0
	for {
		var ev struct {
			UserID      any `json:"user_id"`
			AnonymousID any `json:"anonymous_id"`
		}
		before := dec.InputOffset()
		err := dec.Decode(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// Not a sequence of JSON objects: all of it goes when an
			// event read before the error was a forgotten actor's (its
			// keys may be spelled in a case the text rule does not read)
			// or when the text names one.
			if n > 0 || textSuppressed(data, list) {
				return nil, max(n, 1)
			}
			return data, 0
		}
		user, _ := ev.UserID.(string)
		anon, _ := ev.AnonymousID.(string)
		s := list.Suppressed(user, anon)
		if s {
			n++
		}
		spans = append(spans, [2]int64{before, dec.InputOffset()})
		drop = append(drop, s)
	}
	if n == 0 {
		return data, 0
	}
	var out []byte
	for i, sp := range spans {
		if !drop[i] {
			out = append(out, bytes.TrimSpace(data[sp[0]:sp[1]])...)
			out = append(out, '\n')
		}
	}
	if len(out) > 0 && !bytes.HasSuffix(data, []byte("\n")) {
		out = out[:len(out)-1]
	}
	return out, n
}

// imageSuppressed reports whether a DynamoDB JSON image belongs to a
// forgotten actor.
func imageSuppressed(img json.RawMessage, list *Suppression) bool {
	type str struct {
		S string `json:"S"`
	}
	var v struct {
		UserID      str `json:"user_id"`
		AnonymousID str `json:"anonymous_id"`
		Actor       str `json:"actor"`
	}
	if err := json.Unmarshal(img, &v); err != nil {
		if textSuppressed(img, list) {
			return true
		}
		// JSON with a value of another type than DynamoDB JSON's
		// somewhere: the IDs that are strings still name the actor.
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return false
		}
	}
	return actorSuppressed(list, []string{v.UserID.S}, []string{v.AnonymousID.S}, []string{v.Actor.S})
}

// quotedIDRE finds the ID fields of an event or image in text that is not
// JSON: "user_id": "x" and DynamoDB JSON's "user_id": {"S": "x"}.
var quotedIDRE = regexp.MustCompile(`"(` + tracker.FieldUserID + `|` + tracker.FieldAnonymousID + `|` + tracker.AttrActor +
	`)"\s*:\s*(?:\{\s*"S"\s*:\s*)?"((?:[^"\\]|\\.)*)"`)

// textSuppressed reports whether text that is not JSON names a forgotten
// actor in its ID fields.
func textSuppressed(text []byte, list *Suppression) bool {
	var users, anons, actors []string
	for _, m := range quotedIDRE.FindAllSubmatch(text, -1) {
		var v string
		if json.Unmarshal(append(append([]byte{'"'}, m[2]...), '"'), &v) != nil {
			v = string(m[2])
		}
		switch string(m[1]) {
		case tracker.FieldUserID:
			users = append(users, v)
		case tracker.FieldAnonymousID:
			anons = append(anons, v)
		default:
			actors = append(actors, v)
		}
	}
	return actorSuppressed(list, users, anons, actors)
}

// actorSuppressed applies Suppression.Suppressed to what a record names: a
// user named is the actor; without one, an anonymous ID; without either,
// the actor key.
func actorSuppressed(list *Suppression, users, anons, actors []string) bool {
	users = slices.DeleteFunc(users, func(s string) bool { return s == "" })
	anons = slices.DeleteFunc(anons, func(s string) bool { return s == "" })
	if len(users) == 0 && len(anons) == 0 {
		for _, a := range actors {
			if u, ok := strings.CutPrefix(a, userPrefix); ok {
				users = append(users, u)
			} else if v, ok := strings.CutPrefix(a, anonymousPrefix); ok {
				anons = append(anons, v)
			}
		}
	}
	for _, u := range users {
		if list.Suppressed(u, "") {
			return true
		}
	}
	if len(users) == 0 {
		for _, a := range anons {
			if list.Suppressed("", a) {
				return true
			}
		}
	}
	return false
}

// ErrorsScrub is what an erasure removed from the lake's error output.
type ErrorsScrub struct {
	// Objects counts the objects under ErrorsPrefix read; Rewritten those
	// written again without the actors' records, Deleted those left empty
	// and deleted.
	Objects   int `json:"objects"`
	Rewritten int `json:"rewritten"`
	Deleted   int `json:"deleted"`
	// Events counts the events removed (a Firehose record can hold
	// several); VersionsPurged the noncurrent versions of the changed
	// objects removed for good.
	Events         int `json:"events"`
	VersionsPurged int `json:"versions_purged"`
}

// scrubErrors removes the events of the actors on list from every object
// under ErrorsPrefix (see ScrubLines), writing each changed object again
// (compressed as it was, conditional on the ETag read, read again when a
// writer came first) or deleting it when nothing is left, and purges the
// noncurrent versions of the objects it changed. With dryRun it counts
// and changes nothing.
func (l *Lake) scrubErrors(ctx context.Context, list *Suppression, dryRun bool) (ErrorsScrub, error) {
	var res ErrorsScrub
	objs, err := l.store.List(ctx, ErrorsPrefix)
	if err != nil {
		return res, fmt.Errorf("scrub %s: %w", ErrorsPrefix, err)
	}
	var errs []error
	for _, o := range objs {
		res.Objects++
		for attempt := 0; ; attempt++ {
			n, err := l.scrubObject(ctx, o.Key, list, dryRun, &res)
			if errors.Is(err, ErrPrecondition) && attempt < 5 {
				continue // the object changed since it was read: read it again
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("scrub %s: %w", l.store.URI(o.Key), err))
			}
			res.Events += n
			break
		}
	}
	return res, errors.Join(errs...)
}

// scrubObject scrubs one object; it returns the events removed.
func (l *Lake) scrubObject(ctx context.Context, key string, list *Suppression, dryRun bool, res *ErrorsScrub) (int, error) {
	rc, obj, err := l.store.Open(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return 0, nil // expired or deleted since the listing
	}
	if err != nil {
		return 0, err
	}
	body, gz, err := readMaybeGzip(rc)
	rc.Close()
	if err != nil {
		return 0, err
	}
	out, n := ScrubLines(body, list)
	if n == 0 || dryRun {
		return n, nil
	}
	if len(bytes.TrimSpace(out)) == 0 {
		// Objects under errors/ are written once (a retried relay
		// invocation writes the same content again): delete.
		if err := l.store.Delete(ctx, []string{key}); err != nil {
			return 0, err
		}
		res.Deleted++
	} else {
		if gz {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			if _, err := zw.Write(out); err != nil {
				return 0, err
			}
			if err := zw.Close(); err != nil {
				return 0, err
			}
			out = buf.Bytes()
		}
		if _, err := l.store.Put(ctx, key, out, Condition{IfMatch: obj.ETag}); err != nil {
			return 0, err
		}
		res.Rewritten++
	}
	purged, err := l.purgeKey(ctx, key)
	res.VersionsPurged += purged
	return n, err
}

// purgeKey removes every noncurrent version and delete marker of key for
// good; the current object stays.
func (l *Lake) purgeKey(ctx context.Context, key string) (int, error) {
	if !l.store.Versioned() {
		return 0, nil
	}
	vs, err := l.store.Versions(ctx, key)
	if err != nil {
		return 0, err
	}
	vs = slices.DeleteFunc(vs, func(v Version) bool { return v.Key != key || v.IsLatest && !v.DeleteMarker })
	if len(vs) == 0 {
		return 0, nil
	}
	if err := l.store.DeleteVersions(ctx, vs); err != nil {
		return 0, fmt.Errorf("purge the noncurrent versions of %s: %w", key, err)
	}
	return len(vs), nil
}

// readMaybeGzip reads r, decompressing it when it is gzip, and reports
// whether it was.
func readMaybeGzip(r io.Reader) ([]byte, bool, error) {
	br := bufio.NewReader(r)
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, true, err
		}
		defer zr.Close()
		b, err := io.ReadAll(zr)
		return b, true, err
	}
	b, err := io.ReadAll(br)
	return b, false, err
}
