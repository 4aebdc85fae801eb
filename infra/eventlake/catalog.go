package eventlake

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsathena"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/eventlake/eventlake/athena"
	"github.com/eventlake/eventlake/tracker"
)

// CatalogProps configures NewCatalog.
type CatalogProps struct {
	// Name names the Glue database and the Athena workgroup.
	Name string
	// Bucket and Key are the lake (events under EventsPrefix) and its key,
	// which also encrypts query results.
	Bucket awss3.IBucket
	Key    awskms.IKey
	// AccessLogs receives the results bucket's server access logs.
	AccessLogs awss3.IBucket
	// Format selects the table's SerDe.
	Format Format
	// ProjectionStart is the first projected dt partition (YYYY-MM-DD).
	ProjectionStart string
	// BytesScannedCutoff is the workgroup's per-query limit in bytes.
	BytesScannedCutoff int64
	// ResultsExpirationDays expires query results.
	ResultsExpirationDays int
	// Queries become named queries of the workgroup.
	Queries []athena.Query
}

// Catalog is what Athena needs to query the lake: the Glue database, the
// events table with partition projection (so new days need no crawler or
// MSCK REPAIR), the identity_links table of the materialized identity links,
// the deduplicating and identities views the queries read (identities in
// its full-scan form: the lake's maintenance replaces it, see docs/lake.md),
// a workgroup that enforces its result location, encryption and
// bytes-scanned cutoff, the bucket for its results, and the project's named
// queries.
type Catalog struct {
	constructs.Construct
	Database awsglue.Database
	// Table is athena.TableName, the events as Firehose writes them.
	Table awsglue.S3Table
	// Links is athena.LinksTable, the identity links the lake's
	// maintenance materializes under athena.LinksPrefix (Parquet,
	// partitioned by run with injected projection: a query names its run,
	// as the identities view does once the maintenance replaced it).
	Links awsglue.S3Table
	// DedupView is athena.ViewName (one row per delivered event), declared
	// as a Glue VIRTUAL_VIEW from athena.Views.
	DedupView awsglue.CfnTable
	// Views are every view of athena.Views (events_dedup, identities), in
	// creation order, each a Glue VIRTUAL_VIEW.
	Views        []awsglue.CfnTable
	Results      awss3.Bucket
	WorkGroup    awsathena.CfnWorkGroup
	NamedQueries []awsathena.CfnNamedQuery
}

// NewCatalog defines the catalog. It returns an error when a column type of
// tracker.EventFields() has no Glue or Trino equivalent.
func NewCatalog(scope constructs.Construct, id string, props *CatalogProps) (*Catalog, error) {
	columns, err := glueColumns(tracker.EventFields())
	if err != nil {
		return nil, err
	}
	views, err := athena.Views(props.Name)
	if err != nil {
		return nil, fmt.Errorf("describe views: %w", err)
	}
	viewTexts := make([]string, len(views))
	for i, v := range views {
		if viewTexts[i], err = v.PrestoViewOriginalText("awsdatacatalog"); err != nil {
			return nil, err
		}
	}
	c := constructs.NewConstruct(scope, jsii.String(id))
	db := awsglue.NewDatabase(c, jsii.String("Database"), &awsglue.DatabaseProps{
		DatabaseName: jsii.String(props.Name),
		Description:  jsii.String("eventlake: user activity events landed by Firehose"),
	})

	// The table parameters and SerDe parameters match athena/ddl.
	format, compressed := awsglue.DataFormat_PARQUET(), false
	params := map[string]*string{"parquet.compression": jsii.String("GZIP")}
	if props.Format == FormatJSON {
		format, compressed = awsglue.DataFormat_JSON(), true
		params = map[string]*string{}
	}
	params["storage.location.template"] = awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("s3://"), props.Bucket.BucketName(),
		jsii.String("/" + EventsPrefix + tracker.PartitionColumn + "=${" + tracker.PartitionColumn + "}/"),
	})
	table := awsglue.NewS3Table(c, jsii.String("Table"), &awsglue.S3TableProps{
		Database:    db,
		TableName:   jsii.String(athena.TableName),
		Description: jsii.String(fmt.Sprintf("eventlake events (%s), one partition per UTC day of event_at", props.Format)),
		Columns:     &columns,
		PartitionKeys: &[]*awsglue.Column{{
			Name:    jsii.String(tracker.PartitionColumn),
			Type:    awsglue.Schema_STRING(),
			Comment: jsii.String("UTC date of event_at, YYYY-MM-DD (Firehose dynamic partitioning)"),
		}},
		PartitionProjection: &map[string]awsglue.PartitionProjectionConfiguration{
			tracker.PartitionColumn: awsglue.PartitionProjectionConfiguration_Date(&awsglue.DatePartitionProjectionConfigurationProps{
				Format: jsii.String("yyyy-MM-dd"),
				Min:    jsii.String(props.ProjectionStart),
				Max:    jsii.String("NOW"),
				Step:   &awsglue.DateProjectionStep{Interval: jsii.Number(1), IntervalUnit: awsglue.DateIntervalUnit_DAYS},
			}),
		},
		Parameters: &params,
		DataFormat: format,
		Compressed: jsii.Bool(compressed),
		// The lake is SSE-KMS, which S3 decrypts transparently; the flag is
		// for client-side encryption only.
		HasEncryptedData: jsii.Bool(false),
		Storage:          awsglue.S3TableStorage_FromBucket(props.Bucket),
		S3Prefix:         jsii.String(EventsPrefix),
	})

	if props.Format == FormatJSON {
		// Attribute keys keep their case, as in create_table_json.sql.
		table.Node().DefaultChild().(awsglue.CfnTable).AddPropertyOverride(
			jsii.String("TableInput.StorageDescriptor.SerdeInfo.Parameters"),
			map[string]*string{"case.insensitive": jsii.String("false")})
	}

	// The materialized identity links: written by the lake's maintenance
	// (lake.MaterializeIdentities), read through the identities view once
	// the maintenance has replaced it (athena/ddl/create_table_identity_links.sql).
	linkColumns := make([]*awsglue.Column, 0, len(athena.LinksColumns()))
	for _, col := range athena.LinksColumns() {
		t, err := glueType(col.HiveType)
		if err != nil {
			return nil, fmt.Errorf("glue column %s: %w", col.Name, err)
		}
		linkColumns = append(linkColumns, &awsglue.Column{Name: jsii.String(col.Name), Type: t})
	}
	links := awsglue.NewS3Table(c, jsii.String("IdentityLinks"), &awsglue.S3TableProps{
		Database:    db,
		TableName:   jsii.String(athena.LinksTable),
		Description: jsii.String("eventlake identity links: the first link of every anonymous_id before a watermark, one folder per materialization run"),
		Columns:     &linkColumns,
		PartitionKeys: &[]*awsglue.Column{{
			Name:    jsii.String(athena.LinksPartition),
			Type:    awsglue.Schema_STRING(),
			Comment: jsii.String("the materialization's run; the identities view names the current one"),
		}},
		PartitionProjection: &map[string]awsglue.PartitionProjectionConfiguration{
			athena.LinksPartition: awsglue.PartitionProjectionConfiguration_Injected(),
		},
		Parameters: &map[string]*string{
			"parquet.compression": jsii.String("GZIP"),
			"storage.location.template": awscdk.Fn_Join(jsii.String(""), &[]*string{
				jsii.String("s3://"), props.Bucket.BucketName(),
				jsii.String("/" + athena.LinksPrefix + athena.LinksPartition + "=${" + athena.LinksPartition + "}/"),
			}),
		},
		DataFormat:       awsglue.DataFormat_PARQUET(),
		HasEncryptedData: jsii.Bool(false),
		Storage:          awsglue.S3TableStorage_FromBucket(props.Bucket),
		S3Prefix:         jsii.String(athena.LinksPrefix),
	})

	// Logical IDs: events_dedup keeps "DedupView", which deployed stacks
	// have; other views are named after theirs.
	viewIDs := map[string]string{athena.ViewName: "DedupView", athena.IdentitiesView: "IdentitiesView"}
	var glueViews []awsglue.CfnTable
	for i, view := range views {
		viewColumns := make([]interface{}, len(view.Columns))
		for j, col := range view.Columns {
			viewColumns[j] = &awsglue.CfnTable_ColumnProperty{Name: jsii.String(col.Name), Type: jsii.String(col.HiveType)}
		}
		id, ok := viewIDs[view.Name]
		if !ok {
			return nil, fmt.Errorf("view %s has no logical ID", view.Name)
		}
		gv := awsglue.NewCfnTable(c, jsii.String(id), &awsglue.CfnTableProps{
			CatalogId:    awscdk.Stack_Of(c).Account(),
			DatabaseName: db.DatabaseName(),
			TableInput: &awsglue.CfnTable_TableInputProperty{
				Name:        jsii.String(view.Name),
				Description: jsii.String("eventlake view " + view.Name + " (athena/ddl/create_view_" + view.Name + ".sql)"),
				TableType:   jsii.String("VIRTUAL_VIEW"),
				Parameters: map[string]*string{
					"presto_view": jsii.String("true"),
					"comment":     jsii.String("Presto View"),
				},
				ViewOriginalText: jsii.String(viewTexts[i]),
				ViewExpandedText: jsii.String("/* Presto View */"),
				StorageDescriptor: &awsglue.CfnTable_StorageDescriptorProperty{
					Columns:   viewColumns,
					SerdeInfo: &awsglue.CfnTable_SerdeInfoProperty{},
				},
			},
		})
		gv.Node().AddDependency(table, links)
		glueViews = append(glueViews, gv)
	}
	dedup := glueViews[0]

	results := awss3.NewBucket(c, jsii.String("Results"), &awss3.BucketProps{
		Encryption:             awss3.BucketEncryption_KMS,
		EncryptionKey:          props.Key,
		BucketKeyEnabled:       jsii.Bool(true),
		BlockPublicAccess:      awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:             jsii.Bool(true),
		MinimumTLSVersion:      jsii.Number(1.2),
		ObjectOwnership:        awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		ServerAccessLogsBucket: props.AccessLogs,
		ServerAccessLogsPrefix: jsii.String("athena-results/"),
		RemovalPolicy:          awscdk.RemovalPolicy_RETAIN,
		LifecycleRules: &[]*awss3.LifecycleRule{{
			Id:                                  jsii.String("expire-results"),
			Expiration:                          days(props.ResultsExpirationDays),
			AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
		}},
	})

	wg := awsathena.NewCfnWorkGroup(c, jsii.String("WorkGroup"), &awsathena.CfnWorkGroupProps{
		Name:                  jsii.String(props.Name),
		Description:           jsii.String("eventlake queries: results encrypted, bytes scanned per query capped"),
		State:                 jsii.String("ENABLED"),
		RecursiveDeleteOption: jsii.Bool(true),
		WorkGroupConfiguration: &awsathena.CfnWorkGroup_WorkGroupConfigurationProperty{
			EnforceWorkGroupConfiguration:   jsii.Bool(true),
			PublishCloudWatchMetricsEnabled: jsii.Bool(true),
			BytesScannedCutoffPerQuery:      jsii.Number(float64(props.BytesScannedCutoff)),
			EngineVersion: &awsathena.CfnWorkGroup_EngineVersionProperty{
				SelectedEngineVersion: jsii.String("Athena engine version 3"),
			},
			ResultConfiguration: &awsathena.CfnWorkGroup_ResultConfigurationProperty{
				OutputLocation: results.S3UrlForObject(jsii.String("results/")),
				EncryptionConfiguration: &awsathena.CfnWorkGroup_EncryptionConfigurationProperty{
					EncryptionOption: jsii.String("SSE_KMS"),
					KmsKey:           props.Key.KeyArn(),
				},
				ExpectedBucketOwner: awscdk.Stack_Of(c).Account(),
			},
		},
	})

	queries := make([]awsathena.CfnNamedQuery, 0, len(props.Queries))
	for _, q := range props.Queries {
		nq := awsathena.NewCfnNamedQuery(c, jsii.String("Query-"+q.Name), &awsathena.CfnNamedQueryProps{
			Name:        jsii.String(q.Name),
			Description: jsii.String(truncate(q.Description, 1024)),
			Database:    db.DatabaseName(),
			QueryString: jsii.String(q.SQL),
			WorkGroup:   wg.Ref(),
		})
		queries = append(queries, nq)
	}

	return &Catalog{
		Construct:    c,
		Database:     db,
		Table:        table,
		Links:        links,
		DedupView:    dedup,
		Views:        glueViews,
		Results:      results,
		WorkGroup:    wg,
		NamedQueries: queries,
	}, nil
}

// CfnTable is the table's CloudFormation resource, which Firehose reads the
// Parquet schema from.
func (c *Catalog) CfnTable() awsglue.CfnTable {
	return c.Table.Node().DefaultChild().(awsglue.CfnTable)
}

// glueColumns turns the event schema into Glue columns, in order, with each
// field's Doc as the comment.
func glueColumns(fields []tracker.Field) ([]*awsglue.Column, error) {
	cols := make([]*awsglue.Column, 0, len(fields))
	for _, f := range fields {
		t, err := glueType(f.AthenaType)
		if err != nil {
			return nil, fmt.Errorf("glue column %s: %w", f.Name, err)
		}
		cols = append(cols, &awsglue.Column{Name: jsii.String(f.Name), Type: t, Comment: jsii.String(truncate(f.Doc, 255))})
	}
	return cols, nil
}

// glueType maps a Hive DDL type as tracker.Field.AthenaType spells it
// ("string", "bigint", "map<string,string>", "array<int>", ...) to the Glue
// type; it rejects types it does not know.
func glueType(t string) (awsglue.Type, error) {
	t = strings.TrimSpace(t)
	switch t {
	case "string":
		return awsglue.Schema_STRING(), nil
	case "bigint":
		return awsglue.Schema_BIG_INT(), nil
	case "int", "integer":
		return awsglue.Schema_INTEGER(), nil
	case "smallint":
		return awsglue.Schema_SMALL_INT(), nil
	case "tinyint":
		return awsglue.Schema_TINY_INT(), nil
	case "double":
		return awsglue.Schema_DOUBLE(), nil
	case "float":
		return awsglue.Schema_FLOAT(), nil
	case "boolean":
		return awsglue.Schema_BOOLEAN(), nil
	case "timestamp":
		return awsglue.Schema_TIMESTAMP(), nil
	case "date":
		return awsglue.Schema_DATE(), nil
	case "binary":
		return awsglue.Schema_BINARY(), nil
	}
	if inner, ok := cutWrapped(t, "array<"); ok {
		it, err := glueType(inner)
		if err != nil {
			return nil, err
		}
		return awsglue.Schema_Array(it), nil
	}
	if inner, ok := cutWrapped(t, "map<"); ok {
		k, v, ok := splitTopLevel(inner)
		if !ok {
			return nil, fmt.Errorf("type %q: map needs a key and a value type", t)
		}
		kt, err := glueType(k)
		if err != nil {
			return nil, err
		}
		vt, err := glueType(v)
		if err != nil {
			return nil, err
		}
		return awsglue.Schema_Map(kt, vt), nil
	}
	return nil, fmt.Errorf("type %q has no Glue mapping", t)
}

// cutWrapped returns the text between prefix and the final ">".
func cutWrapped(t, prefix string) (string, bool) {
	if !strings.HasPrefix(t, prefix) || !strings.HasSuffix(t, ">") {
		return "", false
	}
	return t[len(prefix) : len(t)-1], true
}

// splitTopLevel splits "k,v" at the comma that is not inside <...>.
func splitTopLevel(s string) (string, string, bool) {
	depth := 0
	for i, r := range s {
		switch r {
		case '<':
			depth++
		case '>':
			depth--
		case ',':
			if depth == 0 {
				return s[:i], s[i+1:], true
			}
		}
	}
	return "", "", false
}

// truncate shortens s to at most n bytes without splitting a UTF-8 sequence.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}
