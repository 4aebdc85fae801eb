package eventlake

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/tracker"
)

// TagKey tags every resource of the pipeline with its NamePrefix.
const TagKey = "eventlake"

// requiredFeatureFlags are set on the pipeline's construct, so an app
// without them (created before the CDK recommended them) gets the same
// pipeline.
var requiredFeatureFlags = map[string]interface{}{
	"@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": true,
}

// Pipeline is the whole eventlake pipeline as one construct: tables, lake,
// catalog, delivery stream, relay, monitoring, the summary consumer, the
// HTTP collector and the analytics API and dashboard. Its fields expose each
// concern's construct so an application can extend it (grant its roles
// access with GrantTracker and GrantQuery, subscribe to
// Monitoring.Topic, add alarms with Monitoring.AddAlarm, ...).
type Pipeline struct {
	constructs.Construct
	// Props are the props the pipeline was built with, defaults applied.
	Props      PipelineProps
	Tables     *Tables
	Lake       *Lake
	Catalog    *Catalog
	Delivery   *Delivery
	Relay      *Relay
	Monitoring *Monitoring
	// Summary is the summary consumer; nil with PipelineProps.DisableSummary.
	Summary *Summary
	// Collector is the HTTP collector; nil without PipelineProps.Collector.
	Collector *Collector
	// Analytics is the analytics API and dashboard; nil without
	// PipelineProps.Analytics.
	Analytics *Analytics
	// OpsKey encrypts the on-failure queues, the alarm topic (when the
	// pipeline creates it), the log groups and the collector's write keys;
	// it is deleted (after 7 days) with the stack, as they are.
	OpsKey awskms.Key
}

// NewPipeline defines the pipeline under scope, which must be inside a
// stack. It validates props first (a *PropsError names every bad field) and
// returns an error, before defining anything, if the props, an existing
// events table, the query library or the event schema's column types are
// unusable. Tables the pipeline creates need a concrete region in the
// stack's environment.
func NewPipeline(scope constructs.Construct, id string, props *PipelineProps) (*Pipeline, error) {
	if props == nil {
		props = &PipelineProps{}
	}
	if err := props.Validate(); err != nil {
		return nil, err
	}
	p := props.WithDefaults()
	queries, err := athena.Queries()
	if err != nil {
		return nil, fmt.Errorf("load athena queries: %w", err)
	}
	// The schema must map to Glue and Trino types; check before defining.
	if _, err := glueColumns(tracker.EventFields()); err != nil {
		return nil, err
	}
	if _, err := athena.Views(p.NamePrefix); err != nil {
		return nil, fmt.Errorf("describe views: %w", err)
	}
	if p.EventsTable != nil {
		if err := checkEventsStream(p.EventsTable); err != nil {
			return nil, err
		}
	}
	if err := checkRegion(scope, p.EventsTable == nil || p.SummaryTable == nil); err != nil {
		return nil, err
	}
	if err := checkCollectorCertificate(scope, p.Collector); err != nil {
		return nil, err
	}

	c := constructs.NewConstruct(scope, jsii.String(id))
	// Feature flags the pipeline depends on, whatever the app sets: the
	// access-log bucket is granted to S3 log delivery by bucket policy (the
	// old ACL is impossible with bucket-owner-enforced ownership).
	for flag, v := range requiredFeatureFlags {
		c.Node().SetContext(jsii.String(flag), v)
	}
	pl := &Pipeline{Construct: c, Props: p}
	// One tag on every resource, for cost allocation and for finding what a
	// deployment owns (and retains after `cdk destroy`).
	awscdk.Tags_Of(c).Add(jsii.String(TagKey), jsii.String(p.NamePrefix), nil)

	pl.Tables, err = NewTables(c, "Tables", &TablesProps{
		Events:     p.EventsTable,
		Summary:    p.SummaryTable,
		TableClass: p.TableClass,
		Billing:    p.Billing,
	})
	if err != nil {
		return nil, err
	}
	pl.Lake = NewLake(c, "Lake", &LakeProps{
		InfrequentAccessAfterDays:       p.InfrequentAccessAfterDays,
		GlacierIRAfterDays:              p.GlacierIRAfterDays,
		EventsExpirationDays:            p.EventsExpirationDays,
		ErrorOutputExpirationDays:       p.ErrorOutputExpirationDays,
		NoncurrentVersionExpirationDays: p.NoncurrentVersionExpirationDays,
	})
	pl.Catalog, err = NewCatalog(c, "Catalog", &CatalogProps{
		Name:                  p.NamePrefix,
		Bucket:                pl.Lake.Bucket,
		Key:                   pl.Lake.Key,
		AccessLogs:            pl.Lake.AccessLogs,
		Format:                p.Format,
		ProjectionStart:       p.PartitionProjectionStart,
		BytesScannedCutoff:    p.BytesScannedCutoff,
		ResultsExpirationDays: p.AthenaResultsExpirationDays,
		Queries:               queries,
	})
	if err != nil {
		return nil, err
	}
	pl.OpsKey = newOpsKey(c)
	retention := retentionDays[p.LogRetentionDays]
	pl.Delivery = NewDelivery(c, "Delivery", &DeliveryProps{
		Bucket:            pl.Lake.Bucket,
		Key:               pl.Lake.Key,
		Format:            p.Format,
		Table:             pl.Catalog.CfnTable(),
		BufferingInterval: p.BufferingInterval,
		BufferingSizeMiB:  p.BufferingSizeMiB,
		LogRetention:      retention,
		LogKey:            pl.OpsKey,
	})
	pl.Relay = NewRelay(c, "Relay", &RelayProps{
		Table:                 pl.Tables.Events,
		DeliveryStream:        pl.Delivery.Stream,
		KeepAsideBucket:       pl.Lake.Bucket,
		KeepAsideKey:          pl.Lake.Key,
		LambdasDir:            p.LambdasDir,
		QueueKey:              pl.OpsKey,
		LogKey:                pl.OpsKey,
		BatchSize:             p.BatchSize,
		BatchingWindow:        p.BatchingWindow,
		RetryAttempts:         p.RetryAttempts,
		MaxRecordAge:          p.MaxRecordAge,
		ParallelizationFactor: p.ParallelizationFactor,
		MemoryMiB:             p.LambdaMemoryMiB,
		Timeout:               p.LambdaTimeout,
		LogRetention:          retention,
	})
	pl.Monitoring = NewMonitoring(c, "Monitoring", &MonitoringProps{
		Namespace:      p.NamePrefix,
		Function:       pl.Relay.Function,
		LogGroup:       pl.Relay.LogGroup,
		OnFailure:      pl.Relay.OnFailure,
		DeliveryStream: pl.Delivery.Stream,
		Format:         p.Format,
		EventsTable:    pl.Tables.Events,
		SummaryTable:   pl.Tables.Summary,
		Topic:          p.AlarmTopic,
		TopicKey:       pl.OpsKey,
		AlarmEmail:     p.AlarmEmail,
		IteratorAge:    p.IteratorAgeAlarm,
		DataFreshness:  p.DataFreshnessAlarm,
	})
	if !p.DisableSummary {
		pl.Summary = NewSummary(c, "Summary", &SummaryProps{
			EventsTable:  pl.Tables.Events,
			SummaryTable: pl.Tables.Summary,
			LambdasDir:   p.LambdasDir,
			Window:       p.SummaryWindow,
			QueueKey:     pl.OpsKey,
			LogKey:       pl.OpsKey,
			LogRetention: retention,
			Namespace:    p.NamePrefix,
			Monitoring:   pl.Monitoring,
		})
	}
	if p.Collector != nil {
		pl.Collector = NewCollector(c, "Collector", &CollectorProps{
			CollectorOptions: *p.Collector,
			EventsTable:      pl.Tables.Events,
			DeliveryStream:   pl.Delivery.Stream,
			LambdasDir:       p.LambdasDir,
			Name:             p.NamePrefix,
			SecretKey:        pl.OpsKey,
			LogKey:           pl.OpsKey,
			LogRetention:     retention,
			Namespace:        p.NamePrefix,
			Monitoring:       pl.Monitoring,
		})
	}
	if p.Analytics != nil {
		pl.Analytics = NewAnalytics(c, "Analytics", &AnalyticsProps{
			AnalyticsOptions: *p.Analytics,
			Pipeline:         pl,
			LambdasDir:       p.LambdasDir,
			Name:             p.NamePrefix,
			LogKey:           pl.OpsKey,
			LogRetention:     retention,
			Namespace:        p.NamePrefix,
			Monitoring:       pl.Monitoring,
		})
	}
	pl.addNagSuppressions()
	return pl, nil
}

// newOpsKey is the key of what the pipeline keeps only while it runs: the
// on-failure queue, the alarm topic and the log groups. CloudWatch Logs may
// use it for log groups of this account and region only.
func newOpsKey(scope constructs.Construct) awskms.Key {
	key := awskms.NewKey(scope, jsii.String("OpsKey"), &awskms.KeyProps{
		Description:       jsii.String("eventlake on-failure queues, alarm topic, log groups and collector write keys"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
		PendingWindow:     awscdk.Duration_Days(jsii.Number(7)),
	})
	st := awscdk.Stack_Of(scope)
	// The statement AWS documents for encrypting log data with a key, its
	// encryption context limited to the log groups of this account and
	// region.
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid: jsii.String("AllowCloudWatchLogsToEncryptLogGroups"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(
			jsii.String("logs."+*st.Region()+"."+*st.UrlSuffix()), nil)},
		Actions:   jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
		Resources: jsii.Strings("*"),
		Conditions: &map[string]interface{}{
			"ArnLike": map[string]interface{}{
				"kms:EncryptionContext:aws:logs:arn": st.FormatArn(&awscdk.ArnComponents{
					Service:      jsii.String("logs"),
					Resource:     jsii.String("log-group"),
					ResourceName: jsii.String("*"),
					ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
				}),
			},
		},
	}), jsii.Bool(false))
	return key
}
