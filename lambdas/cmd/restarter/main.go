// Command restarter is the Lambda behind ECS "Task State Change" events of the node tasks
// (runtime provided.al2023, binary bootstrap, built with -tags lambda.norpc). It only wires
// lambdas/restarter to the environment.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/dbsecret"
	"github.com/streamha/streamha/lambdas/emf"
	"github.com/streamha/streamha/lambdas/idempotency"
	"github.com/streamha/streamha/lambdas/lambdaenv"
	"github.com/streamha/streamha/lambdas/ledger"
	"github.com/streamha/streamha/lambdas/restarter"
)

func main() {
	log := lambdaenv.Logger("restarter")
	env := &lambdaenv.Env{}
	cfg := restarter.ConfigFromEnv(env)
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
	h := &restarter.Handler{Config: cfg, ECS: ecs.NewFromConfig(awsCfg), Metrics: emf.NewWriter(cfg.Namespace, os.Stdout), Log: log}
	if len(cfg.TargetGroups) > 0 {
		h.ELB = elbv2.NewFromConfig(awsCfg)
	} else {
		log.Warn("TARGET_GROUPS not set: node task IPs are not registered in the load balancer")
	}
	if cfg.DBURL != "" {
		r, err := clusterdb.Open(ctx, cfg.DBURL, clusterdb.Options{})
		if err != nil {
			log.Error("cluster database URL unusable; naming nodes from events", "error", err.Error())
		} else {
			h.Finder = r
		}
	}
	if cfg.LedgerTable != "" {
		ddb := dynamodb.NewFromConfig(awsCfg)
		h.Ledger = ledger.New(ddb, cfg.LedgerTable)
		h.Once = &idempotency.Store{DB: ddb, Table: cfg.LedgerTable, Function: lambdaenv.FunctionName("restarter"), Expiry: cfg.IdemTTL}
	} else {
		log.Warn("LEDGER_TABLE not set: no ledger, no backoff memory, no duplicate suppression")
	}
	lambda.Start(h.Handle)
}
