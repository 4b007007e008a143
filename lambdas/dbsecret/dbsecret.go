// Package dbsecret gives the Lambdas the cluster database URL from Secrets Manager at cold start
// (GetSecretValue on the secret CLUSTER_DB_URL_SECRET_ARN names), so the password never sits in
// a function's plain environment. The URL is read once per execution environment and kept for
// its warm invocations; a changed secret reaches the functions with their next cold start.
package dbsecret

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// API is the one Secrets Manager call used; *secretsmanager.Client implements it.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// IAMActions is what Resolve calls; the template grants it on the URL secret only.
var IAMActions = []string{"secretsmanager:GetSecretValue"}

// ErrNoURL means neither a URL nor a secret ARN was configured.
var ErrNoURL = errors.New("no cluster database URL: set CLUSTER_DB_URL_SECRET_ARN (or CLUSTER_DB_URL for local runs)")

// Resolve returns plain when set (local runs, tests), else the value of the secret arn, which
// must be a whole postgres:// URL. api is called only when the secret is needed.
func Resolve(ctx context.Context, plain, arn string, api func() API) (string, error) {
	if plain != "" {
		return plain, nil
	}
	if arn == "" {
		return "", ErrNoURL
	}
	if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":secretsmanager:") {
		return "", fmt.Errorf("CLUSTER_DB_URL_SECRET_ARN %q is not a Secrets Manager secret ARN", arn)
	}
	out, err := api().GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("read the cluster database URL from secret %s: %w", arn, err)
	}
	v := strings.TrimSpace(aws.ToString(out.SecretString))
	if v == "" {
		return "", fmt.Errorf("secret %s has no SecretString (a binary secret?): want the postgres:// URL", arn)
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
		// Never echo the value: it holds the password.
		return "", fmt.Errorf("secret %s is not a postgres:// URL with a host", arn)
	}
	return v, nil
}
