package ecsmeta

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// EnvAgentURI is the variable the ECS agent sets in every container of a task (Fargate platform
// 1.4 and later): the base of the agent API, whose task-protection endpoint needs no credentials
// of its own (the agent calls ecs:UpdateTaskProtection with the task role).
const EnvAgentURI = "ECS_AGENT_URI"

// ProtectionPath is the agent's task scale-in protection endpoint under ECS_AGENT_URI.
const ProtectionPath = "/task-protection/v1/state"

// MaxProtection is the longest expiry the agent accepts (48 h).
const MaxProtection = 2880 * time.Minute

// Protector sets ECS task scale-in protection on the node's own task. A protected task is not
// stopped by a service deployment or a scale-in; StopTask and a dying container still stop it.
type Protector struct {
	URI     string        // $ECS_AGENT_URI
	Expires time.Duration // protection lapses after this unless renewed (1 min .. 48 h)
	Client  *http.Client  // nil: a client with a 5 s timeout
}

type protectionRequest struct {
	ProtectionEnabled bool `json:"ProtectionEnabled"`
	ExpiresInMinutes  *int `json:"ExpiresInMinutes,omitempty"`
}

// The agent answers {"protection": {...}} or, for a rejected request, {"failure": {...}} or
// {"error": {...}} (the latter also with HTTP 200 on some agent versions).
type protectionResponse struct {
	Protection *struct {
		ProtectionEnabled bool   `json:"ProtectionEnabled"`
		ExpirationDate    string `json:"ExpirationDate"`
		TaskArn           string `json:"TaskArn"`
	} `json:"protection"`
	Failure *struct {
		Arn, Reason, Detail string
	} `json:"failure"`
	Error *struct {
		Arn, Code, Message string
	} `json:"error"`
}

// Set enables (with Expires) or clears the task's protection.
func (p *Protector) Set(ctx context.Context, enabled bool) error {
	body := protectionRequest{ProtectionEnabled: enabled}
	if enabled {
		m := int((p.Expires + time.Minute - 1) / time.Minute)
		m = max(1, min(m, int(MaxProtection/time.Minute)))
		body.ExpiresInMinutes = &m
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, strings.TrimRight(p.URI, "/")+ProtectionPath, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("task protection: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	c := p.Client
	if c == nil {
		c = &http.Client{Timeout: 5 * time.Second}
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("task protection: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var out protectionResponse
	_ = json.Unmarshal(raw, &out)
	switch {
	case out.Error != nil:
		return fmt.Errorf("task protection: %s: %s (%s)", resp.Status, out.Error.Code, out.Error.Message)
	case out.Failure != nil:
		return fmt.Errorf("task protection: %s: %s %s", resp.Status, out.Failure.Reason, out.Failure.Detail)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("task protection: %s: %s", resp.Status, bytes.TrimSpace(raw))
	case out.Protection == nil:
		return fmt.Errorf("task protection: answer has no protection state: %s", bytes.TrimSpace(raw))
	case out.Protection.ProtectionEnabled != enabled:
		return fmt.Errorf("task protection: asked %v, the agent reports %v", enabled, out.Protection.ProtectionEnabled)
	}
	return nil
}

// Guard keeps the task's protection equal to Want: it applies every change, renews an enabled
// protection before it lapses, and retries a failed call at the next check.
type Guard struct {
	P     *Protector
	Want  func() bool   // whether the task should be protected now
	Check time.Duration // how often Want is evaluated without a Kick (default 5 s)
	Renew time.Duration // how often an enabled protection is re-sent (default Expires/2)
	Log   *slog.Logger

	once sync.Once
	kick chan struct{}
	mu   sync.Mutex
	set  bool // what the agent last accepted
}

func (g *Guard) init() {
	g.once.Do(func() {
		g.kick = make(chan struct{}, 1)
		if g.Check <= 0 {
			g.Check = 5 * time.Second
		}
		if g.Renew <= 0 {
			g.Renew = max(g.P.Expires/2, time.Minute/2)
		}
		if g.Log == nil {
			g.Log = slog.Default()
		}
	})
}

// Kick makes Run evaluate Want now (a role change); it never blocks.
func (g *Guard) Kick() {
	g.init()
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// Protected reports what the agent last accepted.
func (g *Guard) Protected() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.set
}

// Run applies Want until ctx ends, then clears a protection it had set (bounded by 5 s).
func (g *Guard) Run(ctx context.Context) {
	g.init()
	t := time.NewTicker(g.Check)
	defer t.Stop()
	var sentAt time.Time
	failing := false
	for {
		want := g.Want()
		have := g.Protected()
		if want != have || (want && time.Since(sentAt) >= g.Renew) || failing {
			if err := g.apply(ctx, want); err != nil {
				if ctx.Err() != nil {
					break
				}
				if !failing {
					g.Log.Warn("cannot set ECS task protection; retrying", "protect", want, "err", err)
				}
				failing = true
			} else {
				if failing || want != have {
					g.Log.Info("ECS task protection set", "protected", want)
				}
				failing, sentAt = false, time.Now()
			}
		}
		select {
		case <-ctx.Done():
		case <-g.kick:
			continue
		case <-t.C:
			continue
		}
		break
	}
	if g.Protected() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := g.apply(cctx, false); err != nil {
			g.Log.Warn("cannot clear ECS task protection on exit; it lapses by itself", "err", err)
		}
	}
}

func (g *Guard) apply(ctx context.Context, enabled bool) error {
	if err := g.P.Set(ctx, enabled); err != nil {
		return err
	}
	g.mu.Lock()
	g.set = enabled
	g.mu.Unlock()
	return nil
}

// PropTaskDefinition is the node property holding the task's family:revision.
const PropTaskDefinition = "task_definition"

// DeploySuccessor reports whether peer is the replacement a deployment (or a rollback) started
// for this node's pair: it runs another task definition and started after self. The active
// then drops its protection, so the deployment may stop it (SIGTERM: one planned switchover).
// started is RFC 3339 (the started_at property); a missing value never qualifies.
func DeploySuccessor(selfTaskDef, selfStarted, peerTaskDef, peerStarted string) bool {
	if selfTaskDef == "" || peerTaskDef == "" || selfTaskDef == peerTaskDef {
		return false
	}
	s, err1 := time.Parse(time.RFC3339Nano, selfStarted)
	p, err2 := time.Parse(time.RFC3339Nano, peerStarted)
	return err1 == nil && err2 == nil && p.After(s)
}
