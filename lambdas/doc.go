// Package lambdas is the serverless half of streamha: three AWS Lambda functions that watch a
// cluster from outside and act when its nodes cannot help themselves.
//
//   - healthmirror (scheduled) reads the cluster database and publishes the cluster's health as
//     CloudWatch Embedded Metric Format lines, and records every failover in the DynamoDB ledger.
//   - alarmhandler (CloudWatch alarm state changes) fences a split brain and stops hung tasks.
//   - restarter (ECS task state changes) records every node stop and makes the pair whole again.
//
// The logic lives in small packages beside this file; lambdas/cmd/* only wires them.
package lambdas
