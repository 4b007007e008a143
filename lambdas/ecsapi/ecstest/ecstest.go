// Package ecstest is an in-process stand-in for the Amazon ECS API: an httptest server speaking
// the JSON 1.1 protocol (X-Amz-Target: AmazonEC2ContainerServiceV20141113.<Op>) so the real SDK
// serialises, signs and retries against it. It keeps tasks and services in memory and records
// every call for assertions.
package ecstest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
)

const targetPrefix = "AmazonEC2ContainerServiceV20141113."

// Call is one recorded request.
type Call struct {
	Op   string         // e.g. StopTask
	Body map[string]any // the decoded JSON request
}

// Task is a task the fake knows.
type Task struct {
	ARN, LastStatus, Group, StoppedReason string
}

// Service is a service the fake knows; UpdateService with forceNewDeployment bumps Deployments.
type Service struct {
	Name, Status                string
	Desired, Running, Pending   int
	RolloutState, RolloutReason string
	ForcedDeployments           int
}

// Server is the fake ECS endpoint.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	calls    []Call
	tasks    map[string]*Task
	services map[string]*Service
	failOps  map[string]int // op -> number of next calls answered with a 500
}

// Start runs a fake ECS server until the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	s := &Server{tasks: map[string]*Task{}, services: map[string]*Service{}, failOps: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	tb.Cleanup(s.Close)
	return s
}

// Client returns an SDK client bound to the fake, with retries as configured by default.
func (s *Server) Client() *ecs.Client {
	return ecs.New(ecs.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(s.URL),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDECSTEST", "ecs-test-secret", ""),
	})
}

// Env points a Lambda process at the fake through the SDK's standard configuration.
func (s *Server) Env() []string { return []string{"AWS_ENDPOINT_URL_ECS=" + s.URL} }

// PutTask adds or replaces a task.
func (s *Server) PutTask(t Task) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := t
	s.tasks[t.ARN] = &cp
}

// PutService adds or replaces a service.
func (s *Server) PutService(svc Service) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := svc
	if cp.Status == "" {
		cp.Status = "ACTIVE"
	}
	s.services[svc.Name] = &cp
}

// FailNext answers the next n calls of op with an HTTP 500 (a retryable server error).
func (s *Server) FailNext(op string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failOps[op] = n
}

// Calls returns the recorded calls, optionally only those of the given operations.
func (s *Server) Calls(ops ...string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if len(ops) == 0 || contains(ops, c.Op) {
			out = append(out, c)
		}
	}
	return out
}

// StoppedTasks lists the task ARNs of the StopTask calls, in order.
func (s *Server) StoppedTasks() []string {
	var out []string
	for _, c := range s.Calls("StopTask") {
		out = append(out, fmt.Sprint(c.Body["task"]))
	}
	return out
}

// Task returns a task's current state.
func (s *Server) Task(arn string) (Task, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tasks[arn]
	if !ok {
		return Task{}, false
	}
	return *t, true
}

// Service returns a service's current state.
func (s *Server) Service(name string) (Service, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.services[name]
	if !ok {
		return Service{}, false
	}
	return *v, true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), targetPrefix)
	if !ok || r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-amz-json-1.1") ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") {
		writeErr(w, http.StatusBadRequest, "InvalidParameterException", "not a signed ECS JSON 1.1 request")
		return
	}
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		writeErr(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, Call{Op: op, Body: body})
	if s.failOps[op] > 0 {
		s.failOps[op]--
		writeErr(w, http.StatusInternalServerError, "ServerException", "injected failure")
		return
	}
	var resp any
	switch op {
	case "StopTask":
		resp = s.stopTask(body)
	case "DescribeTasks":
		resp = s.describeTasks(body)
	case "DescribeServices":
		resp = s.describeServices(body)
	case "UpdateService":
		resp = s.updateService(body)
	case "TagResource":
		resp = map[string]any{}
	default:
		writeErr(w, http.StatusBadRequest, "InvalidParameterException", "operation not supported by ecstest: "+op)
		return
	}
	if resp == nil {
		writeErr(w, http.StatusBadRequest, "InvalidParameterException", "unknown task or service")
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(resp)
}

func writeErr(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

func taskJSON(t *Task) map[string]any {
	return map[string]any{"taskArn": t.ARN, "lastStatus": t.LastStatus, "desiredStatus": t.LastStatus,
		"group": t.Group, "stoppedReason": t.StoppedReason}
}

func (s *Server) stopTask(body map[string]any) any {
	arn := fmt.Sprint(body["task"])
	t, ok := s.tasks[arn]
	if !ok {
		return nil
	}
	t.LastStatus = "STOPPED"
	t.StoppedReason = fmt.Sprint(body["reason"])
	return map[string]any{"task": taskJSON(t)}
}

func (s *Server) describeTasks(body map[string]any) any {
	tasks, failures := []any{}, []any{}
	list, _ := body["tasks"].([]any)
	for _, a := range list {
		arn := fmt.Sprint(a)
		if t, ok := s.tasks[arn]; ok {
			tasks = append(tasks, taskJSON(t))
		} else {
			failures = append(failures, map[string]any{"arn": arn, "reason": "MISSING"})
		}
	}
	return map[string]any{"tasks": tasks, "failures": failures}
}

func serviceJSON(v *Service) map[string]any {
	return map[string]any{"serviceName": v.Name, "status": v.Status, "desiredCount": v.Desired,
		"runningCount": v.Running, "pendingCount": v.Pending,
		"deployments": []any{map[string]any{"id": fmt.Sprintf("ecs-svc/%d", v.ForcedDeployments), "status": "PRIMARY",
			"desiredCount": v.Desired, "runningCount": v.Running, "pendingCount": v.Pending,
			"rolloutState": v.RolloutState, "rolloutStateReason": v.RolloutReason}}}
}

func (s *Server) describeServices(body map[string]any) any {
	services, failures := []any{}, []any{}
	list, _ := body["services"].([]any)
	for _, a := range list {
		name := fmt.Sprint(a)
		if v, ok := s.services[name]; ok {
			services = append(services, serviceJSON(v))
		} else {
			failures = append(failures, map[string]any{"arn": name, "reason": "MISSING"})
		}
	}
	return map[string]any{"services": services, "failures": failures}
}

func (s *Server) updateService(body map[string]any) any {
	v, ok := s.services[fmt.Sprint(body["service"])]
	if !ok {
		return nil
	}
	if force, _ := body["forceNewDeployment"].(bool); force {
		v.ForcedDeployments++
		v.RolloutState, v.RolloutReason = "IN_PROGRESS", ""
	}
	return map[string]any{"service": serviceJSON(v)}
}
