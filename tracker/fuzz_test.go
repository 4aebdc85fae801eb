package tracker_test

import (
	"errors"
	"maps"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/tracker"
)

// FuzzValidate feeds arbitrary events to Validate. It must never panic; a
// refused event gets a *ValidationError naming at least one field; an
// accepted event is normalized for good (validating it again changes
// nothing) and can really be written to DynamoDB Local and read back.
// `go test` runs the seed corpus; `go test -fuzz FuzzValidate ./tracker/`
// explores further.
func FuzzValidate(f *testing.F) {
	env := newWriteEnv(f)
	now := time.Date(2026, 11, 22, 10, 4, 5, 0, time.UTC)
	tr := newWriteTracker(f, env, nil, tracker.Config{Now: func() time.Time { return now }, Retention: 30 * 24 * time.Hour})

	// user, type, offset from now in ms (0 = now), id, user agent, IP, one attribute.
	f.Add("u-1", "login", int64(-60_000), "", "Mozilla/5.0 (X11; Linux x86_64)", "198.51.100.7", "url", "https://example.com/")
	f.Add("42", "page_view", int64(0), "0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "", "::ffff:10.0.0.1", "utm_source", "")
	f.Add("ユーザー", "signup", int64(-86_400_000), "order_17", "curl/8\xff", "2001:db8::1", "campaign", "black-friday")
	f.Add("", "", int64(0), "#", "", "not-an-ip", "1bad", "\xc3\x28")
	f.Add(" padded ", "teleport", int64(3_600_000), strings.Repeat("x", 65), strings.Repeat("é", 1100), "fe80::1%eth0", "", "")
	f.Add("u\x00nul", "click", int64(-1), "a-b_C", "\t", "0.0.0.0", "a.b-c_d", "\x00")
	f.Add("u-2", "impression", int64(-1_800_000_000_000), "", "", "255.255.255.255", "k", strings.Repeat("v", 2048))
	f.Add("u-4", "7", int64(-5), "", "Opera/9.80", "2001:db8:85a3::8a2e:370:7334", "fingerprint", "fp_9c1d")
	f.Add("u-3", "logout", int64(-9_223_372_036_854), "Z", "", "::", "x", "y")
	f.Add("u-5", "login", int64(-2), "", "", "198.51.100.7:1234", "", "")
	f.Add("u-6", "login", int64(-3), "", "", "[::ffff:198.51.100.7]:80", "", "")
	f.Add("u-7", "login", int64(-4), "", "", "[fe80::1%eth0]:443", "", "")

	f.Fuzz(func(t *testing.T, user, typ string, offsetMs int64, id, ua, ip, key, val string) {
		if n, err := strconv.Atoi(typ); err == nil && n >= 0 {
			// Reach the allowlist more often than random strings would.
			typ = tracker.DefaultEventTypes()[n%len(tracker.DefaultEventTypes())]
		}
		e := tracker.Event{UserID: user, Type: typ, ID: id, UserAgent: ua, IP: ip}
		if offsetMs != 0 {
			e.At = now.Add(time.Duration(offsetMs) * time.Millisecond)
		}
		if key != "" || val != "" {
			e.Attributes = map[string]string{key: val}
		}
		v, err := tr.Validate(e)
		if err != nil {
			var verr *tracker.ValidationError
			if !errors.As(err, &verr) || !errors.Is(err, tracker.ErrInvalidEvent) || len(verr.Fields) == 0 {
				t.Fatalf("Validate(%+v) = %v: want a *ValidationError naming a field", e, err)
			}
			for _, fe := range verr.Fields {
				if fe.Field == "" || fe.Problem == "" {
					t.Fatalf("field error %+v lacks the field or the problem", fe)
				}
			}
			return
		}
		again, err := tr.Validate(v)
		if err != nil {
			t.Fatalf("Validate of a normalized event %+v: %v", v, err)
		}
		if again.UserID != v.UserID || again.Type != v.Type || !again.At.Equal(v.At) || again.ID != v.ID ||
			again.UserAgent != v.UserAgent || again.IP != v.IP || !maps.Equal(again.Attributes, v.Attributes) {
			t.Fatalf("normalization is not stable: %+v then %+v", v, again)
		}
		ctx := testCtx(t, time.Minute)
		if err := tr.Put(ctx, v); err != nil && !errors.Is(err, tracker.ErrDuplicateEvent) {
			// A fuzzed caller ID may repeat a key an earlier input wrote
			// with other content; anything else must be written.
			t.Fatalf("Put of the accepted event %+v: %v", v, err)
		}
		out, err := env.Client.GetItem(ctx, &dynamodb.GetItemInput{
			TableName: aws.String(env.EventsTable),
			Key: map[string]types.AttributeValue{
				tracker.AttrActor:    &types.AttributeValueMemberS{Value: tracker.ActorKey(v.UserID, v.AnonymousID)},
				tracker.AttrEventKey: &types.AttributeValueMemberS{Value: tracker.EventKey(v.At, v.ID)},
			},
			ConsistentRead: aws.Bool(true),
		})
		if err != nil {
			t.Fatalf("read back %+v: %v", v, err)
		}
		if out.Item == nil {
			t.Fatalf("accepted event %+v not stored", v)
		}
		if got := stringAt(out.Item, tracker.FieldEventAt); got != v.At.Format(tracker.TimeLayout) {
			t.Fatalf("stored event_at %q, want %q", got, v.At.Format(tracker.TimeLayout))
		}
	})
}
