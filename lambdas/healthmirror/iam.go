package healthmirror

// IAMActions are the AWS API actions the health mirror calls; the template's policy must grant
// exactly these: its ledger writes, the URL secret, the target reconciliation (on the two ingest
// target groups; DescribeTargetHealth has no resource-level permissions) and the task tags (on
// the cluster's tasks). Metrics need none: EMF lines go to CloudWatch Logs via stdout.
var IAMActions = []string{
	"dynamodb:GetItem", "dynamodb:PutItem",
	"secretsmanager:GetSecretValue",
	"elasticloadbalancing:DescribeTargetHealth", "elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
	"ecs:TagResource",
}
