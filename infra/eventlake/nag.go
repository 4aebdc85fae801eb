package eventlake

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
	"github.com/eventlake/eventlake/lambdas/streamtofirehose/relay"
)

// addNagSuppressions records the cdk-nag AwsSolutions findings this design
// accepts, each on the one resource it concerns, limited with appliesTo to
// the exact actions and resources, and with the reason. Everything else must
// pass the checks: a new finding fails `make synth` and the tests. The
// suppressions are template metadata, harmless where cdk-nag does not run.
func (p *Pipeline) addNagSuppressions() {
	kmsGrant := func(key, why string) *cdknag.NagPackSuppression {
		return &cdknag.NagPackSuppression{
			Id: jsii.String("AwsSolutions-IAM5"),
			Reason: jsii.String("kms:GenerateDataKey* and kms:ReEncrypt* come from the CDK's standard encrypt/decrypt grant " +
				"and are limited to the one key " + key + " (" + why + ")."),
			AppliesTo: &[]interface{}{"Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*"},
		}
	}

	// The relay's role: sending to the KMS-encrypted on-failure queue needs the
	// queue key's data-key actions, and keeping records aside in the lake the
	// lake key's; the kept-aside objects have generated names under one prefix.
	bucket := "Resource::<" + logicalID(p.Lake.Bucket) + ".Arn>/"
	suppress(defaultPolicy(p.Relay.Role), &cdknag.NagPackSuppression{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("kms:GenerateDataKey* and kms:ReEncrypt* come from the CDK's standard grants and are limited to the " +
			"on-failure queue's key (" + logicalID(p.OpsKey) + ") and the lake's key (" + logicalID(p.Lake.Key) + "); the relay " +
			"puts kept-aside records, with generated names, under " + relay.KeepAsidePrefix + " of the lake bucket only (no read, no delete)."),
		AppliesTo: &[]interface{}{"Action::kms:GenerateDataKey*", "Action::kms:ReEncrypt*", bucket + relay.KeepAsidePrefix + "*"},
	})

	// Firehose's destination role (written by NewDelivery, no deletes): the
	// objects it writes have generated names under two prefixes.
	suppress(defaultPolicy(p.Delivery.Role), &cdknag.NagPackSuppression{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Firehose puts objects with generated names (event day, time, random suffix) under " +
			"events/ and errors/ of the lake bucket, so it needs those two prefixes of the object ARN with a wildcard; " +
			"it may put, read and abort uploads there, never delete."),
		AppliesTo: &[]interface{}{bucket + EventsPrefix + "*", bucket + ErrorsPrefix + "*"},
	})

	// The on-failure queues are the last stop of the event source mappings.
	onFailure := func(q constructs.IConstruct) {
		suppress(q.Node().DefaultChild(), &cdknag.NagPackSuppression{
			Id: jsii.String("AwsSolutions-SQS3"),
			Reason: jsii.String("This queue is itself the on-failure destination of the stream event source mapping; it holds " +
				"batch metadata for operators, nothing consumes it automatically, so a further dead-letter queue has nothing to catch."),
		})
	}
	onFailure(p.Relay.OnFailure)

	// The summary consumer's role and queue, like the relay's.
	if p.Summary != nil {
		suppress(defaultPolicy(p.Summary.Role), kmsGrant(logicalID(p.OpsKey), "the summary on-failure queue's key"))
		onFailure(p.Summary.OnFailure)
	}
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
func logicalID(c constructs.IConstruct) string {
	el, ok := c.(awscdk.CfnElement)
	if !ok {
		el = c.Node().DefaultChild().(awscdk.CfnElement)
	}
	return *awscdk.Stack_Of(c).GetLogicalId(el)
}
