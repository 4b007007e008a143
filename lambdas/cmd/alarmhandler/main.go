// Command alarmhandler is the Lambda behind the stack's CloudWatch alarm state changes (runtime
// provided.al2023, binary bootstrap, built with -tags lambda.norpc). It only wires
// lambdas/alarmhandler to the environment.
package main

import (
	"context"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/streamha/streamha/lambdas/alarmhandler"
	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/dbsecret"
	"github.com/streamha/streamha/lambdas/idempotency"
	"github.com/streamha/streamha/lambdas/lambdaenv"
	"github.com/streamha/streamha/lambdas/ledger"
)

func main() {
	log := lambdaenv.Logger("alarmhandler")
	env := &lambdaenv.Env{}
	cfg := alarmhandler.ConfigFromEnv(env)
	if env.Err != nil {
		lambdaenv.Exit(log, "bad configuration", env.Err)
	}
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		lambdaenv.Exit(log, "aws configuration", err)
	}
	if arn := env.String(lambdaenv.ClusterDBURLSecretARN, ""); cfg.DBURL == "" && arn != "" {
		if cfg.DBURL, err = dbsecret.Resolve(ctx, "", arn, func() dbsecret.API { return secretsmanager.NewFromConfig(awsCfg) }); err != nil {
			lambdaenv.Exit(log, "cluster database URL", err)
		}
	}
	h := &alarmhandler.Handler{Config: cfg, ECS: ecs.NewFromConfig(awsCfg), Log: log}
	if cfg.DBURL != "" {
		r, err := clusterdb.Open(ctx, cfg.DBURL, clusterdb.Options{})
		if err != nil {
			log.Error("cluster database URL unusable", "error", err.Error())
			h.Reader = clusterdb.Unusable{Err: err}
		} else {
			h.Reader = r
		}
	}
	if cfg.LedgerTable != "" {
		ddb := dynamodb.NewFromConfig(awsCfg)
		h.Ledger = ledger.New(ddb, cfg.LedgerTable)
		h.Once = &idempotency.Store{DB: ddb, Table: cfg.LedgerTable, Function: lambdaenv.FunctionName("alarmhandler"), Expiry: cfg.IdemTTL}
	} else {
		log.Warn("LEDGER_TABLE not set: no ledger, no duplicate suppression")
	}
	lambda.Start(h.Handle)
}
