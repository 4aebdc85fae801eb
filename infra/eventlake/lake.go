package eventlake

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/tracker"
)

// Key prefixes of the lake bucket (the layout the project decided on).
const (
	// EventsPrefix holds the events, one folder per day:
	// events/dt=YYYY-MM-DD/<object>.
	EventsPrefix = "events/"
	// ErrorsPrefix holds what Firehose could not convert or deliver.
	ErrorsPrefix = "errors/"
	// FirehosePrefix is Firehose's prefix for the events: the partition key
	// dt that dynamic partitioning extracts from each event (PartitionQuery),
	// so an event lands under the UTC day it happened, however late it
	// arrives.
	FirehosePrefix = EventsPrefix + tracker.PartitionColumn + "=!{partitionKeyFromQuery:" + tracker.PartitionColumn + "}/"
	// FirehoseErrorPrefix is Firehose's error output prefix; there the day
	// is the arrival day (!{timestamp} is Firehose's clock, in UTC).
	FirehoseErrorPrefix = ErrorsPrefix + "!{firehose:error-output-type}/" + tracker.PartitionColumn + "=!{timestamp:yyyy-MM-dd}/"
)

// PartitionQuery is the JQ expression dynamic partitioning evaluates on every
// event for the dt partition key: the first 10 characters of event_at
// (tracker.TimeLayout), its UTC date YYYY-MM-DD (tracker.DateLayout).
const PartitionQuery = "." + tracker.FieldEventAt + "[0:10]"

// LakeProps configures NewLake; see PipelineProps for each field.
type LakeProps struct {
	InfrequentAccessAfterDays       int
	GlacierIRAfterDays              int
	EventsExpirationDays            int // 0: never
	ErrorOutputExpirationDays       int
	NoncurrentVersionExpirationDays int
}

// Lake is the S3 side of eventlake: the bucket Firehose writes events to, the
// KMS key that encrypts it, and the bucket that receives the server access
// logs of eventlake's buckets. Both buckets block public access, accept only
// TLS 1.2 or later, and are retained when the stack is deleted. The lake is
// versioned: an object overwritten or deleted (by a lifecycle rule, an
// operator or a bug) stays recoverable as a noncurrent version for
// NoncurrentVersionExpirationDays.
type Lake struct {
	constructs.Construct
	// Key encrypts the lake, the delivery stream and the Athena results.
	Key awskms.Key
	// Bucket holds events/ and errors/ (see EventsPrefix, ErrorsPrefix).
	Bucket awss3.Bucket
	// AccessLogs receives server access logs. S3 server access logging does
	// not support a target bucket whose default encryption is SSE-KMS, so it
	// uses SSE-S3 (Amazon S3 managed keys).
	AccessLogs awss3.Bucket
}

// NewLake defines the lake bucket, its key and its access-log bucket. Event
// objects move to Standard-IA and then to Glacier Instant Retrieval (both
// still read by Athena) and optionally expire; Firehose's error output
// expires; noncurrent versions expire, and so do the delete markers they
// leave; incomplete multipart uploads are aborted after 7 days.
func NewLake(scope constructs.Construct, id string, props *LakeProps) *Lake {
	c := constructs.NewConstruct(scope, jsii.String(id))
	key := awskms.NewKey(c, jsii.String("Key"), &awskms.KeyProps{
		Description:       jsii.String("eventlake lake bucket, delivery stream and Athena results"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	logs := awss3.NewBucket(c, jsii.String("AccessLogs"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("expire-access-logs"),
			Expiration:                          awscdk.Duration_Days(jsii.Number(365)),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7)),
		}},
	})

	eventsRule := &awss3.LifecycleRule{
		Id:     jsii.String("tier-events"),
		Prefix: jsii.String(EventsPrefix),
		Transitions: &[]*awss3.Transition{
			{StorageClass: awss3.StorageClass_INFREQUENT_ACCESS(), TransitionAfter: days(props.InfrequentAccessAfterDays)},
			{StorageClass: awss3.StorageClass_GLACIER_INSTANT_RETRIEVAL(), TransitionAfter: days(props.GlacierIRAfterDays)},
		},
	}
	if props.EventsExpirationDays > 0 {
		eventsRule.Expiration = days(props.EventsExpirationDays)
	}
	bucket := awss3.NewBucket(c, jsii.String("Bucket"), &awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_KMS,
		EncryptionKey:          key,
		BucketKeyEnabled:       jsii.Bool(true), // one KMS call per bucket key, not per object
		Versioned:              jsii.Bool(true),
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		MinimumTLSVersion:      jsii.Number(1.2),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		ServerAccessLogsBucket: logs,
		ServerAccessLogsPrefix: jsii.String("lake/"),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{
			eventsRule,
			{
				Id:         jsii.String("expire-errors"),
				Prefix:     jsii.String(ErrorsPrefix),
				Expiration: days(props.ErrorOutputExpirationDays),
			},
			{
				Id:                          jsii.String("expire-noncurrent-versions"),
				NoncurrentVersionExpiration: days(props.NoncurrentVersionExpirationDays),
				ExpiredObjectDeleteMarker:   jsii.Bool(true),
			},
			{
				Id:                                  jsii.String("abort-incomplete-uploads"),
				AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(7)),
			},
		},
	})
	return &Lake{Construct: c, Key: key, Bucket: bucket, AccessLogs: logs}
}

func days(n int) awscdk.Duration { return awscdk.Duration_Days(jsii.Number(float64(n))) }
