package alarmhandler

// IAMActions are the AWS API actions the alarm handler calls; the template's policy must grant
// exactly these (ECS on the cluster's tasks, DynamoDB on the ledger table).
var IAMActions = []string{
	"ecs:StopTask", "ecs:DescribeTasks",
	"secretsmanager:GetSecretValue",
	"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
}
