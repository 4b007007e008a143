// Command healthmirror is the scheduled health mirror Lambda (runtime provided.al2023, binary
// bootstrap, built with -tags lambda.norpc). It only wires lambdas/healthmirror to the environment.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/streamha/streamha/lambdas/clusterdb"
	"github.com/streamha/streamha/lambdas/emf"
	"github.com/streamha/streamha/lambdas/healthmirror"
	"github.com/streamha/streamha/lambdas/lambdaenv"
	"github.com/streamha/streamha/lambdas/ledger"
)

func main() {
	log := lambdaenv.Logger("healthmirror")
	env := &lambdaenv.Env{}
	cfg := healthmirror.ConfigFromEnv(env)
	if env.Err != nil {
		log.Error("bad configuration", "error", env.Err.Error())
		os.Exit(1)
	}
	ctx := context.Background()
	h := &healthmirror.Handler{Config: cfg, Metrics: emf.NewWriter(cfg.Namespace, os.Stdout), Log: log}
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
		awsCfg, err := config.LoadDefaultConfig(ctx)
		if err != nil {
			log.Error("aws configuration", "error", err.Error())
			os.Exit(1)
		}
		h.Ledger = ledger.New(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable)
	}
	lambda.Start(h.Handle)
}
