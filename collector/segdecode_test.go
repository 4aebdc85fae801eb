package collector

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// The reference: what encoding/json decodes from a message into the struct
// the hand-written decoder replaces.
type refMessage struct {
	Type              string          `json:"type"`
	MessageID         json.RawMessage `json:"messageId"`
	UserID            json.RawMessage `json:"userId"`
	AnonymousID       json.RawMessage `json:"anonymousId"`
	PreviousID        json.RawMessage `json:"previousId"`
	Event             string          `json:"event"`
	Name              string          `json:"name"`
	Category          string          `json:"category"`
	Timestamp         string          `json:"timestamp"`
	OriginalTimestamp string          `json:"originalTimestamp"`
	SentAt            string          `json:"sentAt"`
	Context           *refContext     `json:"context"`
	Properties        json.RawMessage `json:"properties"`
	Traits            json.RawMessage `json:"traits"`
	WriteKey          string          `json:"writeKey"`
}

type refContext struct {
	IP        string `json:"ip"`
	UserAgent string `json:"userAgent"`
	Page      *struct {
		URL      string `json:"url"`
		Path     string `json:"path"`
		Referrer string `json:"referrer"`
		Title    string `json:"title"`
	} `json:"page"`
	Campaign *struct {
		Source  string `json:"source"`
		Medium  string `json:"medium"`
		Name    string `json:"name"`
		Term    string `json:"term"`
		Content string `json:"content"`
	} `json:"campaign"`
}

func nullToNil(b []byte) []byte {
	if string(b) == "null" {
		return nil
	}
	return b
}

// sameAsEncodingJSON reports how decodeMessage and encoding/json differ on
// raw (valid JSON), or "".
func sameAsEncodingJSON(raw []byte) string {
	var ref refMessage
	refErr := json.Unmarshal(raw, &ref)
	var te *json.UnmarshalTypeError
	if refErr != nil && !errors.As(refErr, &te) {
		return "encoding/json: " + refErr.Error()
	}
	var m segMessage
	p := decodeMessage(raw, &m)
	switch {
	case (p == nil) != (te == nil):
		return "problem " + pstr(p) + " vs encoding/json " + errstr(refErr)
	case p != nil && !strings.EqualFold(p.Field, te.Field):
		return "problem field " + p.Field + " vs " + te.Field
	case p != nil:
		// The message is refused; only its writeKey is still used.
		if m.WriteKey != ref.WriteKey {
			return "writeKey differs"
		}
		return ""
	}
	if m.Type != ref.Type || m.Event != ref.Event || m.Name != ref.Name || m.Category != ref.Category || m.Timestamp != ref.Timestamp ||
		m.OriginalTimestamp != ref.OriginalTimestamp || m.SentAt != ref.SentAt || m.WriteKey != ref.WriteKey {
		return "strings differ"
	}
	for _, pair := range [][2][]byte{{m.MessageID, ref.MessageID}, {m.UserID, ref.UserID}, {m.AnonymousID, ref.AnonymousID},
		{m.PreviousID, ref.PreviousID}, {m.Properties, ref.Properties}, {m.Traits, ref.Traits}} {
		if !bytes.Equal(nullToNil(pair[0]), nullToNil(pair[1])) {
			return "raw values differ: " + string(pair[0]) + " vs " + string(pair[1])
		}
	}
	if m.HasContext != (ref.Context != nil) {
		return "context presence differs"
	}
	if c := ref.Context; c != nil {
		want := segContext{IP: c.IP, UserAgent: c.UserAgent}
		if c.Page != nil {
			want.URL, want.Path, want.Referrer, want.Title = c.Page.URL, c.Page.Path, c.Page.Referrer, c.Page.Title
		}
		if c.Campaign != nil {
			want.Source, want.Medium, want.CampaignName, want.Term, want.Content = c.Campaign.Source, c.Campaign.Medium, c.Campaign.Name, c.Campaign.Term, c.Campaign.Content
		}
		if m.Context != want {
			return "context differs"
		}
	}
	return ""
}

func pstr(p *Problem) string {
	if p == nil {
		return "none"
	}
	return p.Field + ": " + p.Reason
}

func errstr(err error) string {
	if err == nil {
		return "none"
	}
	return err.Error()
}

// FuzzDecodeMessage holds the hand-written Segment decoder to
// encoding/json's decoding of the same struct, for every valid JSON input.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"track","userId":"42","event":"Order Completed","messageId":"m","timestamp":"2026-11-22T10:00:00Z","properties":{"a":[1,{"b":null}]},"context":{"ip":"1.2.3.4","page":{"url":"u"},"campaign":{"name":"n"}}}`,
		`{"TYPE":"page","UserId":7,"anonymousId":null,"context":null,"Context":{"Page":null}}`,
		`{"type":5}`, `{"context":"x"}`, `{"context":{"page":[1]}}`, `{"context":{"campaign":{"source":true}}}`, `[]`, `"x"`,
		`{"\u0074ype":"identify","traits":{"x":"\"\\"},"writeKey":"k\u00e9"}`, `{"type":"a","type":"b"}`, `{"messageId":{"deep":[[[[[1]]]]]},"sentAt":null}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw := []byte(s)
		if !json.Valid(raw) {
			return
		}
		if diff := sameAsEncodingJSON(raw); diff != "" {
			t.Fatalf("%s: %s", s, diff)
		}
	})
}

func TestDecodeBatch(t *testing.T) {
	var b segBatch
	body := []byte(` { "sentAt" : "2026-11-22T10:00:00Z", "batch" : [ {"type":"track"} , {"type" : "page", "x": [1,[2]]}, 3 ], "context": {"ip":"::1"}, "writeKey":"k" } `)
	if p := decodeBatch(body, &b); p != nil {
		t.Fatal(pstr(p))
	}
	if !b.HasBatch || len(b.Batch) != 3 || string(b.Batch[1]) != `{"type" : "page", "x": [1,[2]]}` || string(b.Batch[2]) != "3" ||
		b.SentAt != "2026-11-22T10:00:00Z" || b.WriteKey != "k" || !b.HasContext || b.Context.IP != "::1" {
		t.Errorf("batch %+v", b)
	}
	for body, field := range map[string]string{`{"batch":{}}`: "batch", `{"batch":[],"sentAt":1}`: "sentAt", `{"context":{"ip":[]}}`: "context.ip"} {
		var b segBatch
		if p := decodeBatch([]byte(body), &b); p == nil || p.Field != field {
			t.Errorf("%s: problem %s, want field %s", body, pstr(p), field)
		}
	}
}
