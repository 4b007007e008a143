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
	Attachments   []struct {
		Type    string `json:"type"` // "eni" for the task's network interface
		Status  string `json:"status"`
		Details []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"details"`
	} `json:"attachments"`
	Overrides struct {
		ContainerOverrides []struct {
			Name        string `json:"name"`
			Environment []struct {
				Name  string `json:"name"`
				Value string `json:"value"`
			} `json:"environment"`
		} `json:"containerOverrides"`
	} `json:"overrides"`
}

// Container is one container of the task.
type Container struct {
	Name              string `json:"name"`
	ExitCode          *int   `json:"exitCode"`
	LastStatus        string `json:"lastStatus"`
	Reason            string `json:"reason"`
	NetworkInterfaces []struct {
		PrivateIPv4Address string `json:"privateIpv4Address"`
	} `json:"networkInterfaces"`
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

// Env returns the first of the names set in the task's container overrides, "" when none is.
func (d TaskDetail) Env(names ...string) string {
	for _, name := range names {
		for _, o := range d.Overrides.ContainerOverrides {
			for _, e := range o.Environment {
				if e.Name == name && e.Value != "" {
					return e.Value
				}
			}
		}
	}
	return ""
}

// PrivateIPv4 is the task's private IPv4 address (awsvpc): the privateIPv4Address detail of its
// ENI attachment, else a container's network interface; "" when the event carries neither.
func (d TaskDetail) PrivateIPv4() string {
	for _, a := range d.Attachments {
		for _, kv := range a.Details {
			if kv.Name == "privateIPv4Address" && kv.Value != "" {
				return kv.Value
			}
		}
	}
	for _, c := range d.Containers {
		for _, n := range c.NetworkInterfaces {
			if n.PrivateIPv4Address != "" {
				return n.PrivateIPv4Address
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
