package faultdb_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/eventlake/eventlake/local/dynamolocal"
	"github.com/eventlake/eventlake/local/faultdb"
	"github.com/eventlake/eventlake/tracker"
)

var _ tracker.DynamoDB = (*faultdb.DB)(nil)

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func item(user, key string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		tracker.AttrActor:    &types.AttributeValueMemberS{Value: tracker.ActorKey(user, "")},
		tracker.AttrEventKey: &types.AttributeValueMemberS{Value: key},
	}
}

func batch(env *dynamolocal.Env, user string, n int) *dynamodb.BatchWriteItemInput {
	reqs := make([]types.WriteRequest, n)
	for i := range reqs {
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: item(user, strconv.Itoa(i))}}
	}
	return &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{env.EventsTable: reqs}}
}

func count(t *testing.T, env *dynamolocal.Env, user string) int {
	t.Helper()
	out, err := env.Client.Query(ctxFor(t), &dynamodb.QueryInput{
		TableName:                 aws.String(env.EventsTable),
		KeyConditionExpression:    aws.String("#u = :u"),
		ExpressionAttributeNames:  map[string]string{"#u": tracker.AttrActor},
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": &types.AttributeValueMemberS{Value: tracker.ActorKey(user, "")}},
		Select:                    types.SelectCount,
		ConsistentRead:            aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	return int(out.Count)
}

func TestFaults(t *testing.T) {
	env := dynamolocal.NewEnv(t)
	put := func(db *faultdb.DB, user string) error {
		_, err := db.PutItem(ctxFor(t), &dynamodb.PutItemInput{TableName: aws.String(env.EventsTable), Item: item(user, "k")})
		return err
	}

	t.Run("throttle", func(t *testing.T) {
		db, err := faultdb.New(env.Client, faultdb.Config{ThrottleRate: 1})
		if err != nil {
			t.Fatal(err)
		}
		err = put(db, "throttled")
		var pte *types.ProvisionedThroughputExceededException
		var re *awshttp.ResponseError
		if !errors.As(err, &pte) || !errors.As(err, &re) || re.HTTPStatusCode() != 400 || !faultdb.IsInjected(err) {
			t.Errorf("err = %v, want an injected ProvisionedThroughputExceededException with status 400", err)
		}
		if n := count(t, env, "throttled"); n != 0 {
			t.Errorf("throttled call wrote %d items", n)
		}
		db, _ = faultdb.New(env.Client, faultdb.Config{ThrottleRate: 1, ThrottleError: func() error {
			return &types.ThrottlingException{Message: aws.String("slow down")}
		}})
		var te *types.ThrottlingException
		if err := put(db, "throttled"); !errors.As(err, &te) {
			t.Errorf("err = %v, want ThrottlingException", err)
		}
	})

	t.Run("server error", func(t *testing.T) {
		db, _ := faultdb.New(env.Client, faultdb.Config{ServerErrorRate: 1})
		err := put(db, "server")
		var ise *types.InternalServerError
		var re *awshttp.ResponseError
		if !errors.As(err, &ise) || !errors.As(err, &re) || re.HTTPStatusCode() != 500 {
			t.Errorf("err = %v, want InternalServerError with status 500", err)
		}
		if n := count(t, env, "server"); n != 0 {
			t.Errorf("failed call wrote %d items", n)
		}
	})

	for _, c := range []struct {
		name    string
		cfg     faultdb.Config
		reached bool
	}{
		{"timeout before", faultdb.Config{TimeoutBeforeRate: 1}, false},
		{"timeout after", faultdb.Config{TimeoutAfterRate: 1}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			db, _ := faultdb.New(env.Client, c.cfg)
			user := "timeout-" + strconv.FormatBool(c.reached)
			err := put(db, user)
			var ne net.Error
			var te *faultdb.TimeoutError
			if !errors.As(err, &ne) || !ne.Timeout() || !errors.As(err, &te) || te.Reached != c.reached || !faultdb.IsInjected(err) {
				t.Errorf("err = %v, want an injected net timeout with Reached=%v", err, c.reached)
			}
			want := map[bool]int{false: 0, true: 1}[c.reached]
			if n := count(t, env, user); n != want {
				t.Errorf("%d items written, want %d", n, want)
			}
		})
	}

	t.Run("timeout delay honours the context", func(t *testing.T) {
		db, _ := faultdb.New(env.Client, faultdb.Config{TimeoutBeforeRate: 1, TimeoutDelay: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(env.EventsTable), Item: item("hang", "k")})
		var rc *aws.RequestCanceledError
		if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &rc) {
			t.Errorf("err = %v, want a canceled request wrapping context.DeadlineExceeded", err)
		}
	})

	t.Run("unprocessed share", func(t *testing.T) {
		db, _ := faultdb.New(env.Client, faultdb.Config{UnprocessedShare: 0.3, Seed: 1})
		out, err := db.BatchWriteItem(ctxFor(t), batch(env, "unprocessed", 25))
		if err != nil {
			t.Fatal(err)
		}
		held := out.UnprocessedItems[env.EventsTable]
		if len(held) != 7 { // floor(0.3 * 25)
			t.Fatalf("%d unprocessed items, want 7", len(held))
		}
		if n := count(t, env, "unprocessed"); n != 18 {
			t.Errorf("%d items written, want the 18 processed", n)
		}
		// Resending the unprocessed items converges: 7 -> 2 -> 0.
		for round := 0; len(held) > 0; round++ {
			if round > 20 {
				t.Fatal("resending unprocessed items does not converge")
			}
			out, err = db.BatchWriteItem(ctxFor(t), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{env.EventsTable: held}})
			if err != nil {
				t.Fatal(err)
			}
			held = out.UnprocessedItems[env.EventsTable]
		}
		if n := count(t, env, "unprocessed"); n != 25 {
			t.Errorf("%d items written after resending, want 25", n)
		}
		if s := db.Stats(); s.Unprocessed < 7 {
			t.Errorf("stats %+v", s)
		}
	})

	t.Run("stall and resume", func(t *testing.T) {
		db, _ := faultdb.New(env.Client, faultdb.Config{})
		db.Stall()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(env.EventsTable), Item: item("stalled", "k")})
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("stalled call = %v, want context.DeadlineExceeded", err)
		}
		done := make(chan error)
		go func() { done <- put(db, "stalled") }()
		db.Resume()
		if err := <-done; err != nil {
			t.Errorf("call released by Resume = %v", err)
		}
		if n := count(t, env, "stalled"); n != 1 {
			t.Errorf("%d items, want 1", n)
		}
		if s := db.Stats(); s.Stalled != 2 && s.Stalled != 1 {
			t.Errorf("stats %+v, want the stalled calls counted", s)
		}
	})

	t.Run("reads pass through", func(t *testing.T) {
		db, _ := faultdb.New(env.Client, faultdb.Config{ThrottleRate: 1})
		if _, err := db.GetItem(ctxFor(t), &dynamodb.GetItemInput{TableName: aws.String(env.EventsTable), Key: item("x", "k")}); err != nil {
			t.Errorf("GetItem = %v, want no fault on reads", err)
		}
	})
}

// TestDeterministic checks that one seed gives one sequence of faults.
func TestDeterministic(t *testing.T) {
	env := dynamolocal.NewEnv(t)
	run := func(seed uint64) []string {
		db, err := faultdb.New(env.Client, faultdb.Config{Seed: seed, ThrottleRate: 0.3, TimeoutBeforeRate: 0.2, UnprocessedShare: 0.5})
		if err != nil {
			t.Fatal(err)
		}
		var fates []string
		for i := range 20 {
			out, err := db.BatchWriteItem(ctxFor(t), batch(env, "det-"+strconv.Itoa(i), 4))
			switch {
			case err != nil:
				var te *faultdb.TimeoutError
				fates = append(fates, map[bool]string{true: "timeout", false: "throttle"}[errors.As(err, &te)])
			default:
				var keys string
				for _, r := range out.UnprocessedItems[env.EventsTable] {
					keys += r.PutRequest.Item[tracker.AttrEventKey].(*types.AttributeValueMemberS).Value
				}
				fates = append(fates, "ok:"+keys)
			}
		}
		return fates
	}
	a, b, c := run(1), run(1), run(2)
	if joinFates(a) != joinFates(b) {
		t.Errorf("seed 1 gave\n%v\nthen\n%v", a, b)
	}
	if joinFates(a) == joinFates(c) {
		t.Errorf("seeds 1 and 2 gave the same faults %v", a)
	}
}

func joinFates(f []string) string { return strings.Join(f, ",") }

func TestNewRejectsBadConfig(t *testing.T) {
	env := dynamolocal.NewEnv(t)
	for _, cfg := range []faultdb.Config{
		{ThrottleRate: -0.1},
		{TimeoutAfterRate: 1.5},
		{ThrottleRate: 0.6, TimeoutBeforeRate: 0.6},
		{UnprocessedShare: 1},
		{TimeoutDelay: -time.Second},
	} {
		if _, err := faultdb.New(env.Client, cfg); err == nil {
			t.Errorf("New(%+v) succeeded", cfg)
		}
	}
	if _, err := faultdb.New(nil, faultdb.Config{}); err == nil {
		t.Error("New(nil) succeeded")
	}
}
