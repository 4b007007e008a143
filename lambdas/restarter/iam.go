package restarter

// IAMActions are the AWS API actions the restarter calls; the template's policy must grant
// exactly these.
var IAMActions = []string{
	"ecs:DescribeServices", "ecs:UpdateService",
	"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query",
}
