// Package function is the logic of the analytics Lambda (lambdas/analytics):
// the analytics API (package athena/api) and the dashboard (package
// athena/dashboard) on Amazon Athena (athena/remote, with Athena's query
// result reuse for the API's maximum age), served behind an API Gateway
// HTTP API through lambdas/collector/apigw.
//
// The function does no authentication of its own: its routes must be
// protected by API Gateway (IAM authorization or a JWT authorizer), a
// separate concern from the collector's write keys. docs/dashboard.md
// lists the routes, the environment and the permissions.
package function
