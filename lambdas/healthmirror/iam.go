package healthmirror

// IAMActions are the AWS API actions the health mirror calls (its ledger writes); the template's
// policy must grant exactly these. Metrics need none: EMF lines go to CloudWatch Logs via stdout.
var IAMActions = []string{"dynamodb:GetItem", "dynamodb:PutItem"}
