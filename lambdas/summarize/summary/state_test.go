package summary

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/eventlake/eventlake/tracker"
)

func ev(seq, user, anon, at, id string) record {
	return record{name: "INSERT", seq: seq, image: true, userID: user, anonymousID: anon, eventAt: at, eventID: id}
}

func encodedLen(t testing.TB, m map[string]string) int {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		t.Fatal(err)
	}
	return b.Len() - 1
}

func TestAggregate(t *testing.T) {
	a := newAggregate()
	for _, r := range []record{
		ev("100", "alice", "", "2026-03-01T09:00:00.000Z", "e1"),
		ev("101", "alice", "c1", "2026-03-01T09:05:00.000Z", "e2"),
		ev("102", "", "c1", "2026-03-01T08:00:00.000Z", "e3"),
		ev("103", "bob", "c1", "2026-03-01T08:30:00.000Z", "e4"),
		ev("104", "alice", "c2", "2026-03-01T08:59:59.999Z", "e5"), // late: last seen stays 09:05
		ev("105", "alice", "c1", "2026-03-01T07:00:00.000Z", "e6"), // the earliest link of c1
		ev("106", "", "c3", "2026-03-01T10:00:00.000Z", "e7"),
	} {
		if err := checkRecord(&r); err != nil {
			t.Fatalf("record %s: %v", r.seq, err)
		}
		a.add(&r)
	}
	want := map[string]string{
		"_v": "1", "_first": "100", "_n": "7",
		"u#alice": "4\t2026-03-01T09:05:00.000Z\tc1\tc2",
		"u#bob":   "1\t2026-03-01T08:30:00.000Z\tc1",
		"a#c1":    "1\t2026-03-01T08:00:00.000Z\talice\t2026-03-01T07:00:00.000Z#e6",
		"a#c2":    "0\t\talice\t2026-03-01T08:59:59.999Z#e5",
		"a#c3":    "1\t2026-03-01T10:00:00.000Z",
	}
	got := a.state()
	if !maps.Equal(got, want) {
		t.Fatalf("state\n got %q\nwant %q", got, want)
	}
	if n, exact := a.size(), encodedLen(t, got); n < exact || n > exact+8 {
		t.Errorf("size() = %d, the encoded state is %d bytes", n, exact)
	}
	back, err := decodeState(got)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(back.state(), want) || back.size() != a.size() {
		t.Errorf("round trip: %q (%d bytes), want %q (%d)", back.state(), back.size(), want, a.size())
	}
	d := delta("a#c1", back.actors["a#c1"], "tok")
	if d.AnonymousID != "c1" || d.LinkedUser != "alice" || d.Actions != 1 || d.Batch != "tok" ||
		d.LastSeen.Format(tracker.TimeLayout) != "2026-03-01T08:00:00.000Z" {
		t.Errorf("delta of c1 = %+v", d)
	}
	d = delta("a#c2", back.actors["a#c2"], "tok")
	if !d.LastSeen.IsZero() || d.Actions != 0 {
		t.Errorf("delta of c2 (linked only) = %+v", d)
	}
}

func TestAggregateBoundsAnonymousIDs(t *testing.T) {
	a := newAggregate()
	for i := range 30 {
		r := ev(fmt.Sprint(i), "u", fmt.Sprintf("c%02d", i), "2026-03-01T09:00:00.000Z", fmt.Sprint(i))
		a.add(&r)
	}
	if ids := a.actors["u#u"].ids; len(ids) != tracker.MaxLinkedAnonymousIDs || ids[0] != "c00" {
		t.Errorf("ids = %v, want the first %d", ids, tracker.MaxLinkedAnonymousIDs)
	}
}

func TestStateSizeWithEscapes(t *testing.T) {
	a := newAggregate()
	for i, id := range []string{`quote"back\slash`, "<html>&amp;", "ünï\u2028cødé", "plain"} {
		r := ev(fmt.Sprint(i), id, id+"-v", "2026-03-01T09:00:00.000Z", "e")
		if err := checkRecord(&r); err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		a.add(&r)
	}
	if n, exact := a.size(), encodedLen(t, a.state()); n < exact {
		t.Errorf("size() = %d is below the encoded %d bytes", n, exact)
	}
}

func TestCheckRecord(t *testing.T) {
	ok := ev("1", "u", "", "2026-03-01T09:00:00.000Z", "e")
	for _, c := range []struct {
		name   string
		change func(*record)
		reason string
	}{
		{"no image", func(r *record) { r.image = false }, "NewImage"},
		{"no event_id", func(r *record) { r.eventID = "" }, "event_id"},
		{"no event_at", func(r *record) { r.eventAt = "" }, "event_at"},
		{"bad event_at", func(r *record) { r.eventAt = "2026-03-01 09:00:00" }, "event_at"},
		{"no actor", func(r *record) { r.userID = "" }, "empty"},
		{"control character", func(r *record) { r.userID = "a\tb" }, "control"},
		{"tab in event_id", func(r *record) { r.eventID = "a\tb" }, "tab"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := ok
			c.change(&r)
			err := checkRecord(&r)
			var ne errNotEvent
			if !errors.As(err, &ne) || !strings.Contains(err.Error(), c.reason) {
				t.Errorf("checkRecord = %v, want a reason with %q", err, c.reason)
			}
		})
	}
	if err := checkRecord(&ok); err != nil {
		t.Errorf("valid record: %v", err)
	}
}

func TestDecodeStateRejectsWhatItDidNotWrite(t *testing.T) {
	base := map[string]string{"_v": "1", "_first": "1", "_n": "1", "u#a": "1\t2026-03-01T09:00:00.000Z"}
	if _, err := decodeState(base); err != nil {
		t.Fatalf("valid state: %v", err)
	}
	for name, change := range map[string]func(map[string]string){
		"other version":    func(m map[string]string) { m["_v"] = "2" },
		"no first":         func(m map[string]string) { delete(m, "_first") },
		"bad count":        func(m map[string]string) { m["_n"] = "x" },
		"not an actor":     func(m map[string]string) { m["x#a"] = "1\t2026-03-01T09:00:00.000Z" },
		"bare prefix":      func(m map[string]string) { m["u#"] = "1\t2026-03-01T09:00:00.000Z" },
		"one field":        func(m map[string]string) { m["u#a"] = "1" },
		"negative":         func(m map[string]string) { m["u#a"] = "-1\t2026-03-01T09:00:00.000Z" },
		"count, no time":   func(m map[string]string) { m["u#a"] = "1\t" },
		"bad time":         func(m map[string]string) { m["u#a"] = "1\tyesterday" },
		"empty ID":         func(m map[string]string) { m["u#a"] = "1\t2026-03-01T09:00:00.000Z\t" },
		"visitor, 1 field": func(m map[string]string) { m["a#v"] = "1\t2026-03-01T09:00:00.000Z\tbob" },
		"bad link":         func(m map[string]string) { m["a#v"] = "0\t\tbob\tlater" },
		"empty entry":      func(m map[string]string) { m["a#v"] = "0\t" },
		"too many IDs":     func(m map[string]string) { m["u#a"] = "1\t2026-03-01T09:00:00.000Z" + strings.Repeat("\tx", 21) },
	} {
		t.Run(name, func(t *testing.T) {
			m := maps.Clone(base)
			change(m)
			if _, err := decodeState(m); !errors.Is(err, errBadState) {
				t.Errorf("decodeState = %v, want errBadState", err)
			}
		})
	}
}

// FuzzDecodeState: any state either is rejected or decodes into an
// aggregate whose state decodes to itself.
func FuzzDecodeState(f *testing.F) {
	f.Add("1", "7", "u#a", "1\t2026-03-01T09:00:00.000Z\tc1", "a#c1", "0\t\ta\t2026-03-01T09:00:00.000Z#e")
	f.Add("1", "x", "u#", "", "a#", "\t\t\t")
	f.Fuzz(func(t *testing.T, v, n, k1, v1, k2, v2 string) {
		m := map[string]string{"_v": v, "_first": "1", "_n": n, k1: v1, k2: v2}
		a, err := decodeState(m)
		if err != nil {
			return
		}
		s := a.state()
		b, err := decodeState(s)
		if err != nil {
			t.Fatalf("a state it wrote does not decode: %v\n%q", err, s)
		}
		if !reflect.DeepEqual(b.state(), s) || b.size() != a.size() {
			t.Fatalf("round trip changed the state: %q -> %q", s, b.state())
		}
	})
}
