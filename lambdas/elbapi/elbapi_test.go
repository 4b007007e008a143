package elbapi_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/streamha/streamha/lambdas/elbapi"
	"github.com/streamha/streamha/lambdas/elbapi/elbtest"
)

const (
	httpTG = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/streamha-http/0123456789abcdef"
	tcpTG  = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/streamha-tcp/fedcba9876543210"
)

func TestParseTargetGroups(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []elbapi.TargetGroup
		bad  bool
	}{
		{"", nil, false},
		{" , ", nil, false},
		{httpTG + "=9090, " + tcpTG + "=9894", []elbapi.TargetGroup{{httpTG, 9090}, {tcpTG, 9894}}, false},
		{httpTG + " = 9090,", []elbapi.TargetGroup{{httpTG, 9090}}, false},
		{httpTG, nil, true},
		{httpTG + "=0", nil, true},
		{httpTG + "=70000", nil, true},
		{httpTG + "=http", nil, true},
		{"streamha-http=9090", nil, true},
		{"arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/net/x/1=9090", nil, true},
		{httpTG + "=9090," + httpTG + "=9091", nil, true},
	} {
		got, err := elbapi.ParseTargetGroups(tc.in)
		if (err != nil) != tc.bad || !slices.Equal(got, tc.want) {
			t.Errorf("%q: got %v, %v", tc.in, got, err)
		}
		if err != nil && !errors.Is(err, elbapi.ErrTargetGroups) {
			t.Errorf("%q: error %v does not wrap ErrTargetGroups", tc.in, err)
		}
	}
	if s := (elbapi.TargetGroup{httpTG, 9090}).String(); s != httpTG+"=9090" {
		t.Errorf("String %q", s)
	}
}

func TestRegisterAndDeregisterAgainstFake(t *testing.T) {
	srv := elbtest.Start(t, httpTG, tcpTG)
	c := srv.Client()
	ctx := context.Background()
	groups := []elbapi.TargetGroup{{httpTG, 9090}, {tcpTG, 9894}}
	srv.FailNext("RegisterTargets", 1) // the SDK retries a 500
	for i := 0; i < 2; i++ {           // registering twice changes nothing
		if err := elbapi.Register(ctx, c, groups, "10.0.1.23"); err != nil {
			t.Fatal(err)
		}
	}
	if err := elbapi.Register(ctx, c, groups, "10.0.2.45"); err != nil {
		t.Fatal(err)
	}
	if got := srv.Targets(httpTG); !slices.Equal(got, []string{"10.0.1.23:9090", "10.0.2.45:9090"}) {
		t.Fatalf("http targets %v", got)
	}
	if got := srv.Targets(tcpTG); !slices.Equal(got, []string{"10.0.1.23:9894", "10.0.2.45:9894"}) {
		t.Fatalf("tcp targets %v", got)
	}
	if err := elbapi.Deregister(ctx, c, groups, "10.0.1.23"); err != nil {
		t.Fatal(err)
	}
	if err := elbapi.Deregister(ctx, c, groups, "10.0.1.23"); err != nil { // already gone
		t.Fatal(err)
	}
	if got := srv.Targets(tcpTG); !slices.Equal(got, []string{"10.0.2.45:9894"}) {
		t.Fatalf("tcp targets after deregister %v", got)
	}
	if n := len(srv.Calls("RegisterTargets")); n != 7 { // 1 retried + 3 × 2 groups
		t.Fatalf("%d RegisterTargets calls", n)
	}
}

func TestErrors(t *testing.T) {
	srv := elbtest.Start(t, httpTG)
	c := srv.Client()
	ctx := context.Background()
	groups := []elbapi.TargetGroup{{tcpTG, 9894}, {httpTG, 9090}} // tcpTG unknown to the fake
	err := elbapi.Register(ctx, c, groups, "10.0.1.23")
	var nf *types.TargetGroupNotFoundException
	if !errors.As(err, &nf) {
		t.Fatalf("error %v, want TargetGroupNotFound", err)
	}
	if got := srv.Targets(httpTG); !slices.Equal(got, []string{"10.0.1.23:9090"}) {
		t.Fatalf("one failed group stopped the others: %v", got)
	}
	for _, ip := range []string{"", "fd00::1", "ip-10-0-1-23"} {
		if err := elbapi.Register(ctx, c, groups, ip); err == nil {
			t.Errorf("%q accepted", ip)
		}
	}
	if n := len(srv.Calls()); n != 2 {
		t.Fatalf("%d calls; bad addresses must not reach the API", n)
	}
}
