// Package e2e holds the end-to-end tests of the three Lambda functions: the real bootstrap
// binaries under aws-lambda-rie, a throwaway PostgreSQL seeded through node/store, DynamoDB on
// dynalite, and ECS answered by the ecstest JSON 1.1 server. It has no non-test code.
package e2e
