package eventlake

import (
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	firehose "github.com/aws/aws-cdk-go/awscdk/v2/awskinesisfirehose"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/tracker"
)

// DeliveryProps configures NewDelivery.
type DeliveryProps struct {
	// Bucket and Key are the lake and the key that encrypts both the objects
	// Firehose writes and the stream's own buffer.
	Bucket awss3.IBucket
	Key    awskms.IKey
	// Format is the object format; FormatParquet reads its schema from Table.
	Format Format
	Table  awsglue.CfnTable
	// BufferingInterval and BufferingSizeMiB are the buffering hints (at
	// least MinBufferingInterval and MinBufferingSizeMiB).
	BufferingInterval time.Duration
	BufferingSizeMiB  int
	// LogRetention keeps Firehose's error log; LogKey encrypts it.
	LogRetention awslogs.RetentionDays
	LogKey       awskms.IKey
}

// Delivery is the Firehose delivery stream (Direct PUT, server-side
// encrypted) that writes the lake. It splits each record of the relay
// (newline-delimited events, at most MaxEventsPerRecord) into its events
// (multi-record deaggregation), reads each event's day with PartitionQuery
// (dynamic partitioning) and writes it under FirehosePrefix, so an event
// lands in the partition of the day it happened however late it arrives,
// and every copy of a duplicate lands in the same one. What Firehose cannot
// partition, convert or deliver goes under FirehoseErrorPrefix. With
// FormatParquet it converts the events (OpenX JSON SerDe) to GZIP-compressed
// Parquet with the Glue table's latest schema; with FormatJSON it writes
// them one per line, GZIP-compressed.
type Delivery struct {
	constructs.Construct
	Stream firehose.DeliveryStream
	// Role is the role Firehose writes the lake with: it may list the
	// bucket and put (never delete) objects under events/ and errors/, use
	// the lake key, write LogGroup and, for Parquet, read the Glue table.
	Role awsiam.Role
	// LogGroup receives Firehose's delivery, partitioning and conversion
	// errors.
	LogGroup awslogs.LogGroup
}

// NewDelivery defines the delivery stream, the role it writes with and its
// error log group.
func NewDelivery(scope constructs.Construct, id string, props *DeliveryProps) *Delivery {
	c := constructs.NewConstruct(scope, jsii.String(id))
	logGroup := newLogGroup(c, "Logs", props.LogRetention, props.LogKey)

	// The role is written here rather than left to the S3 destination, whose
	// bucket grant is read-write (s3:DeleteObject* included): Firehose only
	// ever adds objects, and versioning keeps whatever was there.
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("firehose.amazonaws.com"), nil),
		Description: jsii.String("eventlake Firehose: put objects under events/ and errors/ of the lake (no deletes), read the Glue schema, log errors"),
	})
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("LakeBucket"),
		Actions:   jsii.Strings("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"),
		Resources: &[]*string{props.Bucket.BucketArn()},
	}))
	role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:     jsii.String("LakeObjects"),
		Actions: jsii.Strings("s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"),
		Resources: &[]*string{
			props.Bucket.ArnForObjects(jsii.String(EventsPrefix + "*")),
			props.Bucket.ArnForObjects(jsii.String(ErrorsPrefix + "*")),
		},
	}))
	props.Key.Grant(role, jsii.String("kms:Decrypt"), jsii.String("kms:GenerateDataKey"))
	logGroup.GrantWrite(role)

	// Every grant of the L2 stream and destination is dropped: the role above
	// is complete.
	immutableRole := role.WithoutPolicyUpdates(nil)
	dest := &firehose.S3BucketProps{
		Role:              immutableRole,
		DataOutputPrefix:  jsii.String(FirehosePrefix),
		ErrorOutputPrefix: jsii.String(FirehoseErrorPrefix),
		BufferingInterval: awscdk.Duration_Seconds(jsii.Number(props.BufferingInterval.Seconds())),
		BufferingSize:     awscdk.Size_Mebibytes(jsii.Number(float64(props.BufferingSizeMiB))),
		EncryptionKey:     props.Key,
		LoggingConfig:     firehose.NewEnableLogging(logGroup),
		DynamicPartitioning: &firehose.DynamicPartitioningProps{
			Enabled: jsii.Bool(true),
		},
		// Deaggregation runs first, then the partition key query, then (for
		// JSON) the delimiter, then format conversion.
		Processors: &[]firehose.IDataProcessor{
			firehose.RecordDeAggregationProcessor_Json(),
			firehose.MetadataExtractionProcessor_Jq16(&map[string]*string{
				tracker.PartitionColumn: jsii.String(PartitionQuery),
			}),
		},
	}
	switch props.Format {
	case FormatParquet:
		glueTable := props.Table
		st := awscdk.Stack_Of(c)
		glueArn := func(resource string, name *string) *string {
			return st.FormatArn(&awscdk.ArnComponents{Service: jsii.String("glue"), Resource: jsii.String(resource), ResourceName: name})
		}
		// The actions AWS documents for data format conversion, on the one
		// table; glue:GetSchemaVersion (which the L2 grants on "*") is for
		// schemas in the Glue Schema Registry, which this stream does not use.
		role.AddToPrincipalPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:     jsii.String("GlueSchema"),
			Actions: jsii.Strings("glue:GetTable", "glue:GetTableVersion", "glue:GetTableVersions"),
			Resources: &[]*string{
				glueArn("catalog", nil),
				glueArn("database", glueTable.DatabaseName()),
				glueArn("table", awscdk.Fn_Join(jsii.String("/"), &[]*string{glueTable.DatabaseName(), glueTable.Ref()})),
			},
		}))
		// No S3-level compression: Parquet compresses its pages. GZIP rather
		// than Firehose's usual SNAPPY: objects here are small (hundreds to
		// thousands of events) and the random event_id column dominates; GZIP
		// pages made Athena read 28% fewer bytes (docs/athena.md).
		dest.FileExtension = jsii.String(".parquet")
		dest.DataFormatConversion = &firehose.DataFormatConversionProps{
			SchemaConfiguration: firehose.SchemaConfiguration_FromCfnTable(glueTable, &firehose.SchemaConfigurationFromCfnTableProps{
				VersionId: jsii.String("LATEST"),
			}),
			InputFormat: firehose.NewOpenXJsonInputFormat(&firehose.OpenXJsonInputFormatProps{
				// Column names are the schema's (lower-case already); keys are
				// matched exactly, never rewritten.
				LowercaseColumnNames:               jsii.Bool(false),
				ConvertDotsInJsonKeysToUnderscores: jsii.Bool(false),
			}),
			OutputFormat: firehose.NewParquetOutputFormat(&firehose.ParquetOutputFormatProps{
				Compression:   firehose.ParquetCompression_GZIP(),
				WriterVersion: firehose.ParquetWriterVersion_V1,
			}),
		}
	default:
		// Deaggregated events have no line ends of their own.
		procs := append(*dest.Processors, firehose.NewAppendDelimiterToRecordProcessor())
		dest.Processors = &procs
		dest.Compression = firehose.Compression_GZIP()
		dest.FileExtension = jsii.String(".gz")
	}
	// Firehose enables dynamic partitioning only on a new stream, so this
	// construct ID differs from the one of the arrival-day stream it
	// replaces: an upgraded deployment gets a new stream, not a failed update.
	// The stream's own role is the same role: for Direct PUT, Firehose does
	// not assume it (the stream's server-side encryption uses a KMS grant
	// CloudFormation creates), so the L2's separate "Service Role" with its
	// key grant would only be an unused role that may use the key.
	stream := firehose.NewDeliveryStream(c, jsii.String("PartitionedStream"), &firehose.DeliveryStreamProps{
		Destination: firehose.NewS3Bucket(props.Bucket, dest),
		Encryption:  firehose.StreamEncryption_CustomerManagedKey(props.Key),
		Role:        immutableRole,
	})
	// The immutable role hides the policy from the L2, which would otherwise
	// make the stream wait for it; Firehose checks its access on creation.
	// (The role itself is a dependency already: the stream names its ARN.)
	stream.Node().AddDependency(defaultPolicy(role))
	return &Delivery{Construct: c, Stream: stream, Role: role, LogGroup: logGroup}
}
