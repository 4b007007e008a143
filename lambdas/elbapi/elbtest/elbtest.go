// Package elbtest is an in-process stand-in for the Elastic Load Balancing v2 API: an httptest
// server speaking the AWS Query protocol (form-encoded POST, Action=…&Version=2015-12-01, XML
// answers) so the real SDK serialises, signs, retries and decodes against it. It keeps the
// registered targets of known target groups and records every call.
package elbtest

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
)

// APIVersion is the Version every ELBv2 request carries.
const APIVersion = "2015-12-01"

const xmlns = "http://elasticloadbalancing.amazonaws.com/doc/" + APIVersion + "/"

// EndpointEnv is the SDK's service-specific endpoint variable for ELBv2 (from its service id
// "Elastic Load Balancing v2").
const EndpointEnv = "AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2"

// Target is a registered (or requested) target.
type Target struct {
	ID   string
	Port int32
}

// String is id:port.
func (t Target) String() string { return t.ID + ":" + strconv.Itoa(int(t.Port)) }

// Call is one recorded request.
type Call struct {
	Action         string // RegisterTargets, DeregisterTargets, DescribeTargetHealth
	TargetGroupARN string
	Targets        []Target
}

// Server is the fake ELBv2 endpoint.
type Server struct {
	*httptest.Server
	mu      sync.Mutex
	calls   []Call
	groups  map[string]map[Target]bool // target group ARN -> registered targets
	failOps map[string]int
}

// Start runs a fake ELBv2 server, knowing the given target groups, until the test ends.
func Start(tb testing.TB, targetGroupARNs ...string) *Server {
	tb.Helper()
	s := &Server{groups: map[string]map[Target]bool{}, failOps: map[string]int{}}
	for _, arn := range targetGroupARNs {
		s.groups[arn] = map[Target]bool{}
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

// Client returns an SDK client bound to the fake.
func (s *Server) Client() *elbv2.Client {
	return elbv2.New(elbv2.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDELBTEST", "elb-test-secret", ""),
	})
}

// Env points a Lambda process at the fake through the SDK's standard configuration.
func (s *Server) Env() []string { return []string{EndpointEnv + "=" + s.URL} }

// FailNext answers the next n calls of action with an HTTP 500 (a retryable server error).
func (s *Server) FailNext(action string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failOps[action] = n
}

// Calls returns the recorded calls, optionally only those of the given actions.
func (s *Server) Calls(actions ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(actions) == 0 || slices.Contains(actions, c.Action) {
			out = append(out, c)
		}
	}
	return out
}

// Targets lists a target group's registered targets as id:port, sorted.
func (s *Server) Targets(arn string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for t := range s.groups[arn] {
		out = append(out, t.String())
	}
	slices.Sort(out)
	return out
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
		writeErr(w, http.StatusBadRequest, "InvalidAction", "not a signed AWS Query request")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeErr(w, http.StatusBadRequest, "MalformedQueryString", err.Error())
		return
	}
	f := r.PostForm
	action := f.Get("Action")
	if f.Get("Version") != APIVersion {
		writeErr(w, http.StatusBadRequest, "InvalidAction", "Version must be "+APIVersion)
		return
	}
	call := Call{Action: action, TargetGroupARN: f.Get("TargetGroupArn")}
	for i := 1; f.Has(fmt.Sprintf("Targets.member.%d.Id", i)); i++ {
		t := Target{ID: f.Get(fmt.Sprintf("Targets.member.%d.Id", i))}
		if p := f.Get(fmt.Sprintf("Targets.member.%d.Port", i)); p != "" {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil {
				writeErr(w, http.StatusBadRequest, "ValidationError", "bad port "+p)
				return
			}
			t.Port = int32(n)
		}
		call.Targets = append(call.Targets, t)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
	if s.failOps[action] > 0 {
		s.failOps[action]--
		writeErr(w, http.StatusInternalServerError, "InternalFailure", "injected failure")
		return
	}
	switch action {
	case "RegisterTargets", "DeregisterTargets":
	case "DescribeTargetHealth":
		group, ok := s.groups[call.TargetGroupARN]
		if !ok {
			writeErr(w, http.StatusBadRequest, "TargetGroupNotFound", "One or more target groups not found")
			return
		}
		var members strings.Builder
		for _, t := range sortedTargets(group) {
			fmt.Fprintf(&members, `<member><Target><Id>%s</Id><Port>%d</Port></Target><HealthCheckPort>%d</HealthCheckPort><TargetHealth><State>healthy</State></TargetHealth></member>`,
				t.ID, t.Port, t.Port)
		}
		w.Header().Set("Content-Type", "text/xml")
		fmt.Fprintf(w, `<DescribeTargetHealthResponse xmlns=%q><DescribeTargetHealthResult><TargetHealthDescriptions>%s</TargetHealthDescriptions></DescribeTargetHealthResult><ResponseMetadata><RequestId>elbtest-%d</RequestId></ResponseMetadata></DescribeTargetHealthResponse>`,
			xmlns, members.String(), len(s.calls))
		return
	default:
		writeErr(w, http.StatusBadRequest, "InvalidAction", "action not supported by elbtest: "+action)
		return
	}
	group, ok := s.groups[call.TargetGroupARN]
	switch {
	case !ok:
		writeErr(w, http.StatusBadRequest, "TargetGroupNotFound", "One or more target groups not found")
		return
	case len(call.Targets) == 0:
		writeErr(w, http.StatusBadRequest, "ValidationError", "Targets is required")
		return
	}
	for _, t := range call.Targets {
		if action == "RegisterTargets" {
			group[t] = true
		} else {
			delete(group, t)
		}
	}
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", fmt.Sprintf("elbtest-%d", len(s.calls)))
	fmt.Fprintf(w, `<%[1]sResponse xmlns=%[2]q><%[1]sResult/><ResponseMetadata><RequestId>elbtest-%[3]d</RequestId></ResponseMetadata></%[1]sResponse>`,
		action, xmlns, len(s.calls))
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-Requestid", "elbtest-error")
	w.WriteHeader(status)
	var esc strings.Builder
	_ = xml.EscapeText(&esc, []byte(msg))
	typ := "Sender"
	if status >= 500 {
		typ = "Receiver"
	}
	fmt.Fprintf(w, `<ErrorResponse xmlns=%q><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>elbtest-error</RequestId></ErrorResponse>`,
		xmlns, typ, code, esc.String())
}

func sortedTargets(group map[Target]bool) []Target {
	out := make([]Target, 0, len(group))
	for t := range group {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b Target) int { return strings.Compare(a.String(), b.String()) })
	return out
}
