package dbsecret_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/streamha/streamha/lambdas/dbsecret"
)

// fakeSecrets is Secrets Manager at the protocol level (there is no local Secrets Manager): the
// JSON 1.1 protocol with X-Amz-Target secretsmanager.GetSecretValue, SigV4-signed, so the real
// SDK serialises, signs and decodes against it.
type fakeSecrets struct {
	*httptest.Server
	mu      sync.Mutex
	secrets map[string]string
	calls   []string
	fail    int // next calls answered with a 500
}

func startFake(t *testing.T, secrets map[string]string) *fakeSecrets {
	f := &fakeSecrets{secrets: secrets}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" ||
			!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") {
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(map[string]string{"__type": "InvalidRequestException", "message": "not a signed GetSecretValue"})
			return
		}
		var in struct{ SecretId string }
		json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.calls = append(f.calls, in.SecretId)
		if f.fail > 0 {
			f.fail--
			w.WriteHeader(500)
			json.NewEncoder(w).Encode(map[string]string{"__type": "InternalServiceError", "message": "injected"})
			return
		}
		v, ok := f.secrets[in.SecretId]
		if !ok {
			w.WriteHeader(400)
			json.NewEncoder(w).Encode(map[string]string{"__type": "ResourceNotFoundException", "message": "Secrets Manager can't find the specified secret."})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"ARN": in.SecretId, "Name": "db-url", "SecretString": v, "VersionId": "v1", "VersionStages": []string{"AWSCURRENT"}})
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeSecrets) client() dbsecret.API {
	return secretsmanager.New(secretsmanager.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(f.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
	})
}

func (f *fakeSecrets) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

const arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:streamha-db-url-AbCdEf"

func TestResolveReadsTheSecretOnce(t *testing.T) {
	want := "postgres://streamha:pw@db.cluster-x.us-east-1.rds.amazonaws.com:5432/streamha?sslmode=verify-full"
	f := startFake(t, map[string]string{arn: want})
	f.fail = 1 // the SDK retries a 500
	got, err := dbsecret.Resolve(context.Background(), "", arn, f.client)
	if err != nil || got != want {
		t.Fatalf("Resolve = %q, %v", got, err)
	}
	if c := f.Calls(); len(c) != 2 || c[0] != arn {
		t.Fatalf("calls %v, want GetSecretValue(%s) retried once", c, arn)
	}
	// A plain URL wins and costs no call (local runs).
	if got, err := dbsecret.Resolve(context.Background(), "postgres://x@h/db", arn, f.client); err != nil || got != "postgres://x@h/db" {
		t.Fatalf("plain: %q %v", got, err)
	}
	if len(f.Calls()) != 2 {
		t.Fatal("a plain URL still read the secret")
	}
}

func TestResolveErrorsNameTheSecretNotItsValue(t *testing.T) {
	f := startFake(t, map[string]string{arn: "mysql://root:hunter2@h/db"})
	_, err := dbsecret.Resolve(context.Background(), "", arn, f.client)
	if err == nil || !strings.Contains(err.Error(), arn) || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("non-postgres value: %v", err)
	}
	other := strings.Replace(arn, "AbCdEf", "XyZ123", 1)
	if _, err := dbsecret.Resolve(context.Background(), "", other, f.client); err == nil || !strings.Contains(err.Error(), "ResourceNotFoundException") {
		t.Fatalf("missing secret: %v", err)
	}
	if _, err := dbsecret.Resolve(context.Background(), "", "", f.client); err != dbsecret.ErrNoURL {
		t.Fatalf("nothing configured: %v", err)
	}
	if _, err := dbsecret.Resolve(context.Background(), "", "streamha-db-url", f.client); err == nil {
		t.Fatal("a name, not an ARN, was accepted")
	}
}
