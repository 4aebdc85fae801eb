package stack

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// addNagSuppressions records the cdk-nag AwsSolutions findings this design
// accepts, each on the one resource it concerns, limited with appliesTo to
// the exact actions and resources, and with the reason. Everything else must
// pass the checks: a new finding fails `make synth` and the tests.
func (s *EventlakeStack) addNagSuppressions() {
	kmsGrant := func(key, why string) *cdknag.NagPackSuppression {
		return &cdknag.NagPackSuppression{
			Id: jsii.String("AwsSolutions-IAM5"),
			Reason: jsii.String("kms:GenerateDataKey* and kms:ReEncrypt* come from the CDK's standard encrypt/decrypt grant " +
				"and are limited to the one key " + key + " (" + why + ")."),
			AppliesTo: &[]interface{}{"Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"},
		}
	}

	// The relay's role: sending to the KMS-encrypted on-failure queue needs the
	// queue key's data-key actions.
	suppress(defaultPolicy(s.Relay.Role), kmsGrant(s.logicalID(s.OpsKey), "the on-failure queue's key"))

	// Firehose's service role encrypts the stream's buffer with the lake key.
	suppress(defaultPolicy(s.Delivery.Stream.Node().FindChild(jsii.String("Service Role"))),
		kmsGrant(s.logicalID(s.Lake.Key), "server-side encryption of the delivery stream"))

	// Firehose's destination role: the L2 S3 destination grants read-write on
	// the lake (bucket.grantReadWrite; the role is Firehose's own and is not
	// assumable by anyone else), and record format conversion adds
	// glue:GetSchemaVersion, which has no resource-level permissions.
	bucket := "Resource::<" + s.logicalID(s.Lake.Bucket) + ".Arn>/*"
	suppress(defaultPolicy(s.Delivery.Stream.Node().FindChild(jsii.String("S3 Destination Role"))),
		&cdknag.NagPackSuppression{
			Id: jsii.String("AwsSolutions-IAM5"),
			Reason: jsii.String("Firehose writes objects with generated names under events/ and errors/ of the lake bucket, " +
				"so it needs the bucket's object ARN with a wildcard; the S3 actions are the CDK's bucket read-write grant " +
				"that the Firehose S3 destination always adds."),
			AppliesTo: &[]interface{}{bucket, "Action::s3:Abort*", "Action::s3:DeleteObject*",
				"Action::s3:GetBucket*", "Action::s3:GetObject*", "Action::s3:List*"},
		},
		kmsGrant(s.logicalID(s.Lake.Key), "encryption of the objects Firehose writes"),
		&cdknag.NagPackSuppression{
			Id: jsii.String("AwsSolutions-IAM5"),
			Reason: jsii.String("glue:GetSchemaVersion (added by Firehose record format conversion) does not support " +
				"resource-level permissions; the table itself is granted by its ARN."),
			AppliesTo: &[]interface{}{"Resource::*"},
		},
	)

	// The on-failure queue is the last stop of the event source mapping.
	suppress(s.Relay.OnFailure.Node().DefaultChild(), &cdknag.NagPackSuppression{
		Id: jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is itself the on-failure destination of the stream event source mapping; it holds " +
			"batch metadata for operators, nothing consumes it automatically, so a further dead-letter queue has nothing to catch."),
	})
}

// suppress adds suppressions to the one CloudFormation resource c, not to its
// children.
func suppress(c constructs.IConstruct, sup ...*cdknag.NagPackSuppression) {
	cdknag.NagSuppressions_AddResourceSuppressions(c, &sup, jsii.Bool(false))
}

// defaultPolicy is the AWS::IAM::Policy resource of role's default policy,
// which holds what Grant* calls added to the role.
func defaultPolicy(role constructs.IConstruct) constructs.IConstruct {
	return role.Node().FindChild(jsii.String("DefaultPolicy")).Node().DefaultChild()
}

// logicalID is the CloudFormation logical ID of c, or of its default
// resource when c is an L2 construct, as cdk-nag prints it in appliesTo
// ("Resource::<ID.Arn>").
func (s *EventlakeStack) logicalID(c constructs.IConstruct) string {
	if el, ok := c.(awscdk.CfnElement); ok {
		return *s.Stack.GetLogicalId(el)
	}
	return *s.Stack.GetLogicalId(c.Node().DefaultChild().(awscdk.CfnElement))
}
