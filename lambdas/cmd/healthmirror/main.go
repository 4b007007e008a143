// Command healthmirror is the scheduled health mirror Lambda (runtime provided.al2023, binary
// bootstrap, built with -tags lambda.norpc). It only wires lambdas/healthmirror to the environment.
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
	"github.com/streamha/streamha/lambdas/healthmirror"
	"github.com/streamha/streamha/lambdas/lambdaenv"
	"github.com/streamha/streamha/lambdas/ledger"
)

func main() {
	log := lambdaenv.Logger("healthmirror")
	env := &lambdaenv.Env{}
	cfg := healthmirror.ConfigFromEnv(env)
	arn := env.String(lambdaenv.ClusterDBURLSecretARN, "")
	if env.Err != nil {
		lambdaenv.Exit(log, "bad configuration", env.Err)
	}
	ctx := context.Background()
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		lambdaenv.Exit(log, "aws configuration", err)
	}
	h := &healthmirror.Handler{Config: cfg, Metrics: emf.NewWriter(cfg.Namespace, os.Stdout), Log: log}
	if cfg.DBURL == "" && arn != "" {
		// Read once per execution environment; a failure here reports the database unreachable
		// for this environment's life (the alarms fire) rather than crash-looping.
		url, err := dbsecret.Resolve(ctx, "", arn, func() dbsecret.API { return secretsmanager.NewFromConfig(awsCfg) })
		if err != nil {
			log.Error("cannot read the cluster database URL; reporting it unreachable", "error", err.Error())
			h.Reader = clusterdb.Unusable{Err: err}
		}
		cfg.DBURL = url
	}
	if cfg.DBURL != "" {
		r, err := clusterdb.Open(ctx, cfg.DBURL, clusterdb.Options{ConnectTimeout: cfg.ConnectTimeout, QueryTimeout: cfg.QueryTimeout})
		if err != nil {
			log.Error("cluster database URL unusable; reporting it unreachable", "error", err.Error())
			h.Reader = clusterdb.Unusable{Err: err}
		} else {
			h.Reader = r
		}
	}
	if cfg.LedgerTable != "" {
		h.Ledger = ledger.New(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable)
	}
	if len(cfg.TargetGroups) > 0 || cfg.TagTasks {
		u := &healthmirror.Upkeep{Group: cfg.Groups[0], TargetGroups: cfg.TargetGroups, DryRun: cfg.DryRun}
		if len(cfg.TargetGroups) > 0 {
			u.ELB = elbv2.NewFromConfig(awsCfg)
		}
		if cfg.TagTasks {
			u.ECS = ecs.NewFromConfig(awsCfg)
		}
		h.Upkeep = u
	}
	lambda.Start(h.Handle)
}
