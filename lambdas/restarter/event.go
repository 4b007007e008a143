package restarter

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// TaskDetail is the detail of an EventBridge "ECS Task State Change" event. Only the fields we
// read are declared; unknown ones are ignored.
type TaskDetail struct {
	TaskARN       string      `json:"taskArn"`
	ClusterARN    string      `json:"clusterArn"`
	Group         string      `json:"group"` // "service:<name>" for service tasks
	LastStatus    string      `json:"lastStatus"`
	DesiredStatus string      `json:"desiredStatus"`
	StopCode      string      `json:"stopCode"`
	StoppedReason string      `json:"stoppedReason"`
	StoppedAt     string      `json:"stoppedAt"`
	StartedBy     string      `json:"startedBy"`
	Containers    []Container `json:"containers"`
	Overrides     struct {
		ContainerOverrides []struct {
			Name        string `json:"name"`
			Environment []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"environment"`
		} `json:"containerOverrides"`
	} `json:"overrides"`
}

// Container is one container of the stopped task.
type Container struct {
	Name       string `json:"name"`
	ExitCode   *int   `json:"exitCode"`
	LastStatus string `json:"lastStatus"`
	Reason     string `json:"reason"`
}

// ParseDetail decodes the detail leniently.
func ParseDetail(raw json.RawMessage) (TaskDetail, error) {
	var d TaskDetail
	if err := json.Unmarshal(raw, &d); err != nil {
		return d, fmt.Errorf("decode task state change detail: %w", err)
	}
	return d, nil
}

// Service is the ECS service that owns the task, "" when a human or a tool ran it.
func (d TaskDetail) Service() string {
	name, ok := strings.CutPrefix(d.Group, "service:")
	if !ok {
		return ""
	}
	return name
}

// ExitCodes lists the containers' exit codes (containers that never ran have none).
func (d TaskDetail) ExitCodes() []int {
	var out []int
	for _, c := range d.Containers {
		if c.ExitCode != nil {
			out = append(out, *c.ExitCode)
		}
	}
	return out
}

// Env returns an environment variable of the task's container overrides.
func (d TaskDetail) Env(name string) string {
	for _, o := range d.Overrides.ContainerOverrides {
		for _, e := range o.Environment {
			if e.Name == name {
				return e.Value
			}
		}
	}
	return ""
}

// StoppedTime is stoppedAt, or fallback when absent or malformed.
func (d TaskDetail) StoppedTime(fallback time.Time) time.Time {
	if t, err := time.Parse(time.RFC3339Nano, d.StoppedAt); err == nil {
		return t
	}
	return fallback
}
