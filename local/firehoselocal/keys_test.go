package firehoselocal_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/firehose"
	"github.com/aws/aws-sdk-go-v2/service/firehose/types"

	"github.com/eventlake/eventlake/local/firehoselocal"
)

// TestFolderSinkChecksKeysByPath: a key is refused when, as a path, it is
// not exactly itself under the root (absolute, "..", ".", empty or doubled
// separators); dots inside a name are fine.
func TestFolderSinkChecksKeysByPath(t *testing.T) {
	root := t.TempDir()
	sink := firehoselocal.FolderSink{Root: root}
	for _, key := range []string{"events/a..b-1-x.gz", "..a/b", "events/dt=2026-11-22/...gz"} {
		if err := sink.Deliver(context.Background(), firehoselocal.Object{Key: key, Body: []byte("x")}); err != nil {
			t.Errorf("Deliver(%q): %v", key, err)
		}
		if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(key))); err != nil {
			t.Errorf("%q not written: %v", key, err)
		}
	}
	for _, key := range []string{"", "/etc/x", "../x", "events/../../x", "events/./x", "events//x", "events/x/", ".", "..", `events\..\..\x`} {
		err := sink.Deliver(context.Background(), firehoselocal.Object{Key: key, Body: []byte("x")})
		if err == nil || !strings.Contains(err.Error(), "unsafe key") {
			t.Errorf("Deliver(%q) = %v, want an unsafe key error", key, err)
		}
		if err := sink.CheckKey(key); err == nil {
			t.Errorf("CheckKey(%q) accepted it", key)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(root)); len(entries) != 1 {
		t.Errorf("something was written beside the root: %v", entries)
	}
}

// TestStreamNamesWithDotsDeliver: the service accepts any name of 1-64 of
// [a-zA-Z0-9_.-], dots included; its objects reach a folder.
func TestStreamNamesWithDotsDeliver(t *testing.T) {
	root := t.TempDir()
	srv := start(t, firehoselocal.Options{Streams: []string{"..", "a..b", "."}, Sink: firehoselocal.FolderSink{Root: root}, Logger: discardLogger()})
	for _, name := range []string{"..", "a..b", "."} {
		if _, err := client(srv).PutRecord(context.Background(), &firehose.PutRecordInput{DeliveryStreamName: aws.String(name), Record: &types.Record{Data: []byte(name + "\n")}}); err != nil {
			t.Fatalf("PutRecord to %q: %v", name, err)
		}
	}
	flush(t, srv)
	if st := srv.Stats(); st.ObjectsDelivered != 3 || st.DeliveryErrors != 0 {
		t.Errorf("stats %+v, want 3 objects delivered", st)
	}
	for _, bad := range []string{"a/b", strings.Repeat("x", 65), "", "a b"} {
		_, err := client(srv).CreateDeliveryStream(context.Background(), &firehose.CreateDeliveryStreamInput{DeliveryStreamName: aws.String(bad)})
		var iae *types.InvalidArgumentException
		if !errors.As(err, &iae) {
			t.Errorf("CreateDeliveryStream(%q) = %v, want InvalidArgumentException", bad, err)
		}
	}
}

// TestPrefixesThatEscapeAreRefusedAtCreation: a prefix under which the
// sink cannot store objects is refused when the stream is created, with the
// service's InvalidArgumentException, instead of its data being stuck.
func TestPrefixesThatEscapeAreRefusedAtCreation(t *testing.T) {
	root := t.TempDir()
	srv := start(t, firehoselocal.Options{Sink: firehoselocal.FolderSink{Root: root}, Logger: discardLogger()})
	for _, prefix := range []string{"../../x/", "/abs/", "a//b/", "events/!{timestamp:'..'}/", "./x/"} {
		_, err := client(srv).CreateDeliveryStream(context.Background(), &firehose.CreateDeliveryStreamInput{
			DeliveryStreamName: aws.String("s" + string(rune('a'+len(prefix)))),
			ExtendedS3DestinationConfiguration: &types.ExtendedS3DestinationConfiguration{
				BucketARN: aws.String("arn:aws:s3:::lake"), RoleARN: aws.String("arn:aws:iam::123456789012:role/r"), Prefix: aws.String(prefix),
			},
		})
		var iae *types.InvalidArgumentException
		if !errors.As(err, &iae) || !strings.Contains(err.Error(), "prefix") {
			t.Errorf("prefix %q: %v, want InvalidArgumentException about the prefix", prefix, err)
		}
		if srv, err := firehoselocal.New(firehoselocal.Options{Prefix: prefix, Sink: firehoselocal.FolderSink{Root: root}}); err == nil {
			srv.Close()
			t.Errorf("New accepted prefix %q for a folder", prefix)
		}
	}
	// A memory sink stores any key, as S3 does.
	mem, err := firehoselocal.New(firehoselocal.Options{Prefix: "../../x/"})
	if err != nil {
		t.Errorf("New with a memory sink: %v", err)
	} else {
		mem.Close()
	}
}
