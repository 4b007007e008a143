// Package ecsmeta reads the ECS task metadata endpoint (v4), so a node can register the task ARN
// that the alarm handler stops when it has to fence the node.
package ecsmeta

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// EnvURI is the variable ECS sets in every container of a task.
const EnvURI = "ECS_CONTAINER_METADATA_URI_V4"

// Task is the part of the task metadata a node registers.
type Task struct {
	TaskARN          string `json:"TaskARN"`
	Cluster          string `json:"Cluster"`
	Family           string `json:"Family"`
	Revision         string `json:"Revision"`
	AvailabilityZone string `json:"AvailabilityZone"`
}

// Fetch reads $ECS_CONTAINER_METADATA_URI_V4/task. uri empty means "not on ECS": ok is false.
func Fetch(ctx context.Context, uri string) (t Task, ok bool, err error) {
	if uri == "" {
		return Task{}, false, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(uri, "/")+"/task", nil)
	if err != nil {
		return Task{}, false, fmt.Errorf("ecs metadata: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Task{}, false, fmt.Errorf("ecs metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Task{}, false, fmt.Errorf("ecs metadata: %s", resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&t); err != nil {
		return Task{}, false, fmt.Errorf("ecs metadata: decode: %w", err)
	}
	if t.TaskARN == "" {
		return Task{}, false, fmt.Errorf("ecs metadata: no TaskARN in answer")
	}
	return t, true, nil
}
