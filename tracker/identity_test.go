package tracker_test

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/tracker"
)

// TestAnonymousAndIdentifiedNeverCollide stores events of a visitor and of a
// user whose IDs are the same text, by every writer, and reads each back on
// its own: the partitions are apart, and each event keeps its IDs.
func TestAnonymousAndIdentifiedNeverCollide(t *testing.T) {
	f := newReadFixture(t)
	ctx := testCtx(t, time.Minute)
	at := readNow.Add(-time.Hour)
	const id = "same-text"
	visitor := tracker.Event{AnonymousID: id, Type: "page_view", At: at, ID: "e1", Attributes: map[string]string{tracker.AttrURL: "https://example.com/"}}
	user := tracker.Event{UserID: id, Type: "page_view", At: at, ID: "e1"}
	linked := tracker.Event{UserID: id, AnonymousID: "cookie-9", Type: tracker.TypeIdentify, At: at.Add(time.Second), ID: "e2"}
	if err := f.tr.Put(ctx, visitor); err != nil {
		t.Fatal(err)
	}
	// The same key text under the user: no ErrDuplicateEvent, no overwrite.
	if err := f.tr.Put(ctx, user); err != nil {
		t.Fatalf("user event with the visitor's key text: %v", err)
	}
	w, err := f.tr.NewAsyncWriter(tracker.AsyncConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Put(ctx, linked); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(ctx); err != nil {
		t.Fatal(err)
	}

	vp, err := f.tr.RecentAnonymous(ctx, id, tracker.RecentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vp.Events) != 1 || vp.Events[0].UserID != "" || vp.Events[0].AnonymousID != id || vp.Events[0].Attributes[tracker.AttrURL] == "" {
		t.Fatalf("visitor's page = %+v, want the one anonymous page view", vp.Events)
	}
	up, err := f.tr.Recent(ctx, id, tracker.RecentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Events) != 2 {
		t.Fatalf("user's page has %d events, want 2 (the page view and the identify)", len(up.Events))
	}
	if up.Events[0].Type != tracker.TypeIdentify || up.Events[0].AnonymousID != "cookie-9" || up.Events[0].UserID != id {
		t.Errorf("newest user event = %+v, want the identify with both IDs", up.Events[0].Event)
	}
	if up.Events[1].AnonymousID != "" || up.Events[1].UserID != id {
		t.Errorf("user's page view = %+v", up.Events[1].Event)
	}
	// The identify's anonymous ID has no events of its own: they are the user's.
	cp, err := f.tr.RecentAnonymous(ctx, "cookie-9", tracker.RecentOptions{})
	if err != nil || len(cp.Events) != 0 {
		t.Errorf("RecentAnonymous(cookie-9) = %d events, %v; want none: events with a user ID are the user's", len(cp.Events), err)
	}
}

// TestStoredClientFields checks that the classification is stored with the
// item and read back, and that an item written before classification was
// stored reads as if it had been.
func TestStoredClientFields(t *testing.T) {
	f := newReadFixture(t)
	ctx := testCtx(t, time.Minute)
	bot := "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
	if err := f.tr.Put(ctx, tracker.Event{UserID: "crawler", Type: "page_view", At: readNow.Add(-time.Minute), UserAgent: bot}); err != nil {
		t.Fatal(err)
	}
	// An old item: the tracker's keys, no device_type, browser, os, is_bot.
	old := map[string]types.AttributeValue{
		tracker.AttrActor:      &types.AttributeValueMemberS{Value: "u#crawler"},
		tracker.AttrEventKey:   &types.AttributeValueMemberS{Value: readNow.Add(-2*time.Minute).Format(tracker.TimeLayout) + "#old"},
		tracker.FieldUserID:    &types.AttributeValueMemberS{Value: "crawler"},
		tracker.FieldEventType: &types.AttributeValueMemberS{Value: "page_view"},
		tracker.FieldUserAgent: &types.AttributeValueMemberS{Value: uaIPhone},
	}
	if _, err := f.env.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.env.EventsTable), Item: old}); err != nil {
		t.Fatal(err)
	}
	p, err := f.tr.Recent(ctx, "crawler", tracker.RecentOptions{})
	if err != nil || len(p.Events) != 2 {
		t.Fatalf("Recent = %d events, %v", len(p.Events), err)
	}
	if c := p.Events[0].Client; c != (tracker.Client{DeviceType: tracker.DeviceBot, Browser: "Googlebot", Bot: true}) {
		t.Errorf("stored client = %+v", c)
	}
	if c := p.Events[1].Client; c != (tracker.Client{DeviceType: tracker.DeviceMobile, Browser: "Safari", OS: "iPhone OS"}) {
		t.Errorf("client of an item without stored fields = %+v, want Classify's", c)
	}
}

// TestForeignItemsAreSkipped puts an item whose sort key the tracker would
// never write into a user's partition: pages skip and count it instead of
// failing.
func TestForeignItemsAreSkipped(t *testing.T) {
	f := newReadFixture(t)
	ctx := testCtx(t, time.Minute)
	if err := f.tr.Put(ctx, tracker.Event{UserID: "u", Type: "login", At: readNow.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"profile", "9999-99-99T99:99:99.999Z#x"} {
		item := map[string]types.AttributeValue{
			tracker.AttrActor:    &types.AttributeValueMemberS{Value: "u#u"},
			tracker.AttrEventKey: &types.AttributeValueMemberS{Value: key},
		}
		if _, err := f.env.Client.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(f.env.EventsTable), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	p, err := f.tr.Recent(ctx, "u", tracker.RecentOptions{})
	if err != nil {
		t.Fatalf("Recent with foreign items: %v", err)
	}
	if len(p.Events) != 1 || p.Skipped != 2 {
		t.Errorf("Recent = %d events, %d skipped; want 1 and 2", len(p.Events), p.Skipped)
	}
}

func TestValidationErrorIsBounded(t *testing.T) {
	tr, err := tracker.New(fakeDB{}, tracker.Config{EventsTable: "t", Now: func() time.Time { return validationNow }})
	if err != nil {
		t.Fatal(err)
	}
	attrs := make(map[string]string, 200_000)
	for i := range 200_000 {
		attrs["1bad-"+strings.Repeat("k", i%50)+string(rune('a'+i%26))+strings.Repeat("z", i/1300)] = "v"
	}
	_, err = tr.Validate(tracker.Event{UserID: "u", Type: "login", Attributes: attrs})
	var ve *tracker.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("err = %v", err)
	}
	if len(ve.Fields) != tracker.MaxFieldErrors || ve.More == 0 {
		t.Errorf("%d problems listed, %d more; want %d and a count", len(ve.Fields), ve.More, tracker.MaxFieldErrors)
	}
	if n := len(err.Error()); n > 8<<10 {
		t.Errorf("error message is %d bytes, want a bounded one", n)
	}
	if !strings.Contains(err.Error(), "more problem") {
		t.Errorf("error %q does not say how many more problems there were", err.Error()[:200])
	}
}

func TestRequiredTableName(t *testing.T) {
	if _, err := tracker.New(fakeDB{}, tracker.Config{}); err == nil || !strings.Contains(err.Error(), "EventsTable") {
		t.Errorf("New without EventsTable: %v, want an error naming it", err)
	}
	tr, err := tracker.New(fakeDB{}, tracker.Config{EventsTable: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Summary(context.Background(), "u"); !errors.Is(err, tracker.ErrNoSummaryTable) {
		t.Errorf("Summary without SummaryTable: %v, want ErrNoSummaryTable", err)
	}
}

func TestExportedDefaultsAreCopies(t *testing.T) {
	types := tracker.DefaultEventTypes()
	types[0] = "not a type!"
	if tracker.DefaultEventTypes()[0] == "not a type!" {
		t.Error("DefaultEventTypes returned the allowlist itself")
	}
	if _, err := tracker.New(fakeDB{}, tracker.Config{EventsTable: "t"}); err != nil {
		t.Errorf("New after changing a copy of the defaults: %v", err)
	}
	f := tracker.EventFields()
	f[0].Name = "x"
	if tracker.EventFields()[0].Name != tracker.FieldUserID {
		t.Error("EventFields returned the schema itself")
	}
}

func TestAnonymizeIPEmbeddedIPv4(t *testing.T) {
	cases := []struct{ in, want string }{
		{"198.51.100.77", "198.51.100.0"},
		{"::ffff:198.51.100.77", "198.51.100.0"},
		{"2001:db8:85a3:8d3:1319:8a2e:370:7348", "2001:db8:85a3::"},
		// 6to4: 2002:c633:644d::/48 embeds 198.51.100.77 in bits 16-47.
		{"2002:c633:644d:1:2:3:4:5", "2002:c633:6400::"},
		// Teredo: the client's address, inverted, in the last 32 bits.
		{"2001:0:4136:e378:8000:63bf:39cc:9bb2", "2001:0:4136::"},
		// NAT64, well-known and local-use prefixes.
		{"64:ff9b::c633:644d", "64:ff9b::"},
		{"64:ff9b:1::c633:644d", "64:ff9b:1::"},
		// IPv4-compatible (deprecated) ::198.51.100.77.
		{"::c633:644d", "::"},
	}
	for _, tc := range cases {
		got := tracker.AnonymizeIP(netip.MustParseAddr(tc.in))
		if got.String() != tc.want {
			t.Errorf("AnonymizeIP(%s) = %s, want %s", tc.in, got, tc.want)
		}
		// No byte of the embedded IPv4 address's first three octets beyond
		// what IPv4 anonymization keeps, and never its last octet.
		if got.Is6() {
			b := got.As16()
			for _, oct := range []byte{0x4d, 0xb2} {
				if b[15] == oct || b[5] == oct {
					t.Errorf("AnonymizeIP(%s) = %s keeps the embedded last octet", tc.in, got)
				}
			}
		}
	}
}

// fakeDB is a DynamoDB that is never called: for tests of construction and
// validation.
type fakeDB struct{ tracker.DynamoDB }
