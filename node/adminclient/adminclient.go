// Package adminclient is the Go client of a node's HTTP admin API: planned switchover and
// persist (bearer auth_token) and status. The CLI, the demo, the benchmarks, the chaos suite
// and the test harness all go through it, so the requests are written out once.
package adminclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/streamha/streamha/node/ha"
)

// Paths of the admin API.
const (
	SwitchoverPath = "/ha/switchover"
	PersistPath    = "/ha/persist"
	StatusPath     = "/ha/status"
)

// Errors a call can be matched against with errors.Is (the *Error carries the details).
var (
	ErrUnauthorized = errors.New("missing or wrong bearer token")
	ErrNotActive    = errors.New("node is not active")
	ErrConflict     = errors.New("refused now") // e.g. no passive in sync, a switchover under way
)

// Error is an answer other than 200.
type Error struct {
	Op         string // switchover, persist, status
	URL        string
	StatusCode int
	Message    string // the node's "error" field, or the body
	Active     string // REST URL of the active, when a non-active node named it
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s at %s: HTTP %d: %s", e.Op, e.URL, e.StatusCode, e.Message)
	if e.Active != "" {
		s += " (active: " + e.Active + ")"
	}
	return s
}

// Is maps the status code to the package's sentinel errors.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrNotActive:
		return e.StatusCode == http.StatusServiceUnavailable
	case ErrConflict:
		return e.StatusCode == http.StatusConflict
	}
	return false
}

// Client talks to one node. URL is its REST base URL (status); AdminURL, when set, is where
// switchover and persist are served (a separate admin listener), else URL. Token is the group's
// auth_token. HTTP defaults to http.DefaultClient: bound calls with the context.
type Client struct {
	URL      string
	AdminURL string
	Token    string
	HTTP     *http.Client
}

// New returns a client of the node at url (REST and admin on the same base URL).
func New(url, token string) *Client { return &Client{URL: url, Token: token} }

// SwitchoverResult is the answer of a successful switchover.
type SwitchoverResult struct {
	SwitchedOver bool `json:"switched_over"`
	// TookMS runs from the old active refusing input until it saw the new active serve (its
	// /ha/active); HandoverMS is the old active's own part. NewActiveConfirmed is false when
	// the new active was not seen serving within 10 s: TookMS is then the handover alone.
	TookMS             int64 `json:"took_ms"`
	HandoverMS         int64 `json:"handover_ms"`
	NewActiveConfirmed bool  `json:"new_active_confirmed"`
}

// Switchover asks the node, which must be the active, to hand over to its passive; it returns
// once the lease is released (the passive then takes it).
func (c *Client) Switchover(ctx context.Context) (SwitchoverResult, error) {
	var res SwitchoverResult
	err := c.do(ctx, "switchover", http.MethodPost, c.admin()+SwitchoverPath, true, &res)
	return res, err
}

// Persist asks the active to snapshot every app now.
func (c *Client) Persist(ctx context.Context) error {
	return c.do(ctx, "persist", http.MethodPost, c.admin()+PersistPath, true, nil)
}

// Status reads the node's /ha/status.
func (c *Client) Status(ctx context.Context) (ha.Status, error) {
	var st ha.Status
	err := c.do(ctx, "status", http.MethodGet, c.base()+StatusPath, false, &st)
	return st, err
}

// StatusMap reads /ha/status as generic JSON, for callers that look at fields loosely.
func (c *Client) StatusMap(ctx context.Context) (map[string]any, error) {
	var st map[string]any
	err := c.do(ctx, "status", http.MethodGet, c.base()+StatusPath, false, &st)
	return st, err
}

func (c *Client) base() string { return strings.TrimRight(c.URL, "/") }

func (c *Client) admin() string {
	if c.AdminURL != "" {
		return strings.TrimRight(c.AdminURL, "/")
	}
	return c.base()
}

func (c *Client) do(ctx context.Context, op, method, url string, auth bool, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s at %s: %w", op, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("%s at %s: read answer: %w", op, url, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Op: op, URL: url, StatusCode: resp.StatusCode, Message: strings.TrimSpace(string(bytes.ToValidUTF8(body, nil)))}
		var m struct {
			Error  string `json:"error"`
			Active string `json:"active"`
		}
		if json.Unmarshal(body, &m) == nil && m.Error != "" {
			e.Message, e.Active = m.Error, m.Active
		}
		if e.Active == "" {
			e.Active = resp.Header.Get("X-HA-Active")
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("%s at %s: decode answer: %w", op, url, err)
	}
	return nil
}
