package restarter

// IAMActions are the AWS API actions the restarter calls; the template's policy must grant
// exactly these (ELB actions on the two ingest target groups only).
var IAMActions = []string{
	"ecs:DescribeServices", "ecs:UpdateService",
	"elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets",
	"secretsmanager:GetSecretValue",
	"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query",
}
