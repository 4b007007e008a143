// Package elbapi puts a node task's IP address into the load balancer's target groups and takes
// it out again, through the Elastic Load Balancing v2 API (RegisterTargets, DeregisterTargets).
// Both calls are idempotent on AWS's side: registering a registered target or deregistering an
// absent one changes nothing.
package elbapi

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
)

// API is the part of the ELBv2 client used here; *elasticloadbalancingv2.Client implements it.
type API interface {
	RegisterTargets(ctx context.Context, in *elbv2.RegisterTargetsInput, opts ...func(*elbv2.Options)) (*elbv2.RegisterTargetsOutput, error)
	DeregisterTargets(ctx context.Context, in *elbv2.DeregisterTargetsInput, opts ...func(*elbv2.Options)) (*elbv2.DeregisterTargetsOutput, error)
}

// TargetGroup is an `ip` target group and the port its targets receive traffic on.
type TargetGroup struct {
	ARN  string
	Port int32
}

// String is the TARGET_GROUPS form, arn=port.
func (g TargetGroup) String() string { return g.ARN + "=" + strconv.Itoa(int(g.Port)) }

// ErrTargetGroups is wrapped by every error of ParseTargetGroups.
var ErrTargetGroups = errors.New("want a comma list of target-group-arn=port")

// ParseTargetGroups reads "arn=port,arn=port" (spaces and empty items ignored); "" gives none.
func ParseTargetGroups(s string) ([]TargetGroup, error) {
	var out []TargetGroup
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		i := strings.LastIndexByte(item, '=')
		if i < 0 {
			return nil, fmt.Errorf("%q has no port: %w", item, ErrTargetGroups)
		}
		arn, port := strings.TrimSpace(item[:i]), strings.TrimSpace(item[i+1:])
		if !strings.HasPrefix(arn, "arn:") || !strings.Contains(arn, ":targetgroup/") {
			return nil, fmt.Errorf("%q is not a target group ARN: %w", arn, ErrTargetGroups)
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("%q: port %q: %w", arn, port, ErrTargetGroups)
		}
		for _, g := range out {
			if g.ARN == arn {
				return nil, fmt.Errorf("%q given twice: %w", arn, ErrTargetGroups)
			}
		}
		out = append(out, TargetGroup{ARN: arn, Port: int32(p)})
	}
	return out, nil
}

// CheckIP accepts only an IPv4 address, the kind of target an awsvpc task gives an `ip` group.
func CheckIP(ip string) error {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is4() {
		return fmt.Errorf("target %q is not an IPv4 address", ip)
	}
	return nil
}

// Register puts ip, on each group's port, into every group. It tries all groups and returns
// the joined errors of those that failed.
func Register(ctx context.Context, api API, groups []TargetGroup, ip string) error {
	if err := CheckIP(ip); err != nil {
		return err
	}
	var errs []error
	for _, g := range groups {
		_, err := api.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{
			TargetGroupArn: aws.String(g.ARN),
			Targets:        []types.TargetDescription{{Id: aws.String(ip), Port: aws.Int32(g.Port)}},
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("register %s:%d in %s: %w", ip, g.Port, g.ARN, err))
		}
	}
	return errors.Join(errs...)
}

// Deregister takes ip (on each group's port) out of every group. A target the group reports
// invalid (not registered, not in its VPC) counts as gone. Errors are joined as in Register.
func Deregister(ctx context.Context, api API, groups []TargetGroup, ip string) error {
	if err := CheckIP(ip); err != nil {
		return err
	}
	var errs []error
	for _, g := range groups {
		_, err := api.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{
			TargetGroupArn: aws.String(g.ARN),
			Targets:        []types.TargetDescription{{Id: aws.String(ip), Port: aws.Int32(g.Port)}},
		})
		var invalid *types.InvalidTargetException
		if err != nil && !errors.As(err, &invalid) {
			errs = append(errs, fmt.Errorf("deregister %s:%d from %s: %w", ip, g.Port, g.ARN, err))
		}
	}
	return errors.Join(errs...)
}

// ReconcileAPI adds the read the reconciliation needs; *elasticloadbalancingv2.Client
// implements it.
type ReconcileAPI interface {
	API
	DescribeTargetHealth(ctx context.Context, in *elbv2.DescribeTargetHealthInput, opts ...func(*elbv2.Options)) (*elbv2.DescribeTargetHealthOutput, error)
}

// Change is one target the reconciliation registered or deregistered.
type Change struct {
	Action      string // "register" or "deregister"
	TargetGroup string
	IP          string
	Port        int32
}

// Reconcile makes every group's targets exactly want (IPv4 addresses, each on the group's
// port): it registers the missing ones and deregisters the others. Targets already draining
// count as gone. Run twice with the same want, the second run changes nothing. dryRun only
// reports the changes.
func Reconcile(ctx context.Context, api ReconcileAPI, groups []TargetGroup, want []string, dryRun bool) ([]Change, error) {
	for _, ip := range want {
		if err := CheckIP(ip); err != nil {
			return nil, err
		}
	}
	var changes []Change
	var errs []error
	for _, g := range groups {
		out, err := api.DescribeTargetHealth(ctx, &elbv2.DescribeTargetHealthInput{TargetGroupArn: aws.String(g.ARN)})
		if err != nil {
			errs = append(errs, fmt.Errorf("describe targets of %s: %w", g.ARN, err))
			continue
		}
		have := map[string]bool{}
		for _, d := range out.TargetHealthDescriptions {
			if d.Target == nil {
				continue
			}
			id, port := aws.ToString(d.Target.Id), aws.ToInt32(d.Target.Port)
			if d.TargetHealth != nil && d.TargetHealth.State == types.TargetHealthStateEnumDraining {
				continue
			}
			if port == g.Port && slicesContains(want, id) {
				have[id] = true
				continue
			}
			changes = append(changes, Change{Action: "deregister", TargetGroup: g.ARN, IP: id, Port: port})
			if dryRun {
				continue
			}
			_, err := api.DeregisterTargets(ctx, &elbv2.DeregisterTargetsInput{TargetGroupArn: aws.String(g.ARN),
				Targets: []types.TargetDescription{{Id: aws.String(id), Port: aws.Int32(port)}}})
			var invalid *types.InvalidTargetException
			if err != nil && !errors.As(err, &invalid) {
				errs = append(errs, fmt.Errorf("deregister %s:%d from %s: %w", id, port, g.ARN, err))
			}
		}
		for _, ip := range want {
			if have[ip] {
				continue
			}
			changes = append(changes, Change{Action: "register", TargetGroup: g.ARN, IP: ip, Port: g.Port})
			if dryRun {
				continue
			}
			if _, err := api.RegisterTargets(ctx, &elbv2.RegisterTargetsInput{TargetGroupArn: aws.String(g.ARN),
				Targets: []types.TargetDescription{{Id: aws.String(ip), Port: aws.Int32(g.Port)}}}); err != nil {
				errs = append(errs, fmt.Errorf("register %s:%d in %s: %w", ip, g.Port, g.ARN, err))
			}
		}
	}
	return changes, errors.Join(errs...)
}

func slicesContains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
