package eventlake

import (
	"path/filepath"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// GoFunctionProps configures NewGoFunction.
type GoFunctionProps struct {
	// Name is the Lambda's directory under lambdas/ and under LambdasDir,
	// which holds its arm64 bootstrap binary (as `make lambdas` builds it).
	Name       string
	LambdasDir string
	// Description says what the function does.
	Description string
	// Environment is the function's environment.
	Environment map[string]*string
	// MemoryMiB and Timeout size the function.
	MemoryMiB int
	Timeout   time.Duration
	// LogRetention keeps the function's logs; LogKey encrypts them.
	LogRetention awslogs.RetentionDays
	LogKey       awskms.IKey
}

// GoFunction is one of eventlake's Go Lambdas: arm64 on provided.al2023,
// code from LambdasDir/Name, its own log group (retention set, encrypted),
// and a role of its own that may, to begin with, only write that log group;
// the caller grants the rest with Grant* calls on Role. Every Lambda of the
// pipeline is built this way, so adding one is a construct of its own that
// calls NewGoFunction and grants what the function needs.
type GoFunction struct {
	Function awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
}

// NewGoFunction defines the function ("Function"), its role ("Role") and its
// log group ("Logs") in scope, which should be the construct of the concern
// the function serves (one function per scope).
func NewGoFunction(scope constructs.Construct, props *GoFunctionProps) *GoFunction {
	c := scope
	logGroup := newLogGroup(c, "Logs", props.LogRetention, props.LogKey)
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("eventlake " + props.Name + ": " + props.Description),
	})
	logGroup.GrantWrite(role)
	fn := awslambda.NewFunction(c, jsii.String("Function"), &awslambda.FunctionProps{
		Description:  jsii.String("eventlake: " + props.Description),
		Runtime:      awslambda.Runtime_PROVIDED_AL2023(),
		Architecture: awslambda.Architecture_ARM_64(),
		Handler:      jsii.String("bootstrap"),
		Code:         awslambda.Code_FromAsset(jsii.String(filepath.Join(props.LambdasDir, props.Name)), nil),
		MemorySize:   jsii.Number(float64(props.MemoryMiB)),
		Timeout:      awscdk.Duration_Seconds(jsii.Number(props.Timeout.Seconds())),
		Role:         role,
		LogGroup:     logGroup,
		Environment:  &props.Environment,
	})
	// The L2 makes the function depend on its whole role. The function names
	// the role's ARN already, so only the policy needs an explicit DependsOn
	// (cfn-lint W3005 flags the redundant one).
	fn.Node().DefaultChild().(awscdk.CfnResource).AddOverride(jsii.String("DependsOn"),
		[]*string{awscdk.Stack_Of(c).GetLogicalId(defaultPolicy(role).(awscdk.CfnElement))})
	return &GoFunction{Function: fn, Role: role, LogGroup: logGroup}
}

// newLogGroup is a log group encrypted with key, deleted with the stack.
func newLogGroup(scope constructs.Construct, id string, retention awslogs.RetentionDays, key awskms.IKey) awslogs.LogGroup {
	return awslogs.NewLogGroup(scope, jsii.String(id), &awslogs.LogGroupProps{
		Retention:     retention,
		EncryptionKey: key,
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
}
