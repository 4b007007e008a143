package hatest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"
)

// Client sends numbered OrderStream events to whichever node is active, in batches, retrying
// each batch with its Idempotency-Key until a node acknowledges it. It records what was
// acknowledged, for the checker.
type Client struct {
	c     *Cluster
	App   string
	http  *http.Client
	mu    sync.Mutex
	next  int64 // next event id
	batch int64
	cur   string // base URL believed active
	// avoid is the node whose request just failed without an answer (down, frozen, timed
	// out): with no node believed active, the next attempt goes to another node first.
	avoid string

	Sent, Acked, Retries, Dups int64
	AckedIDs                   map[int64]bool
	Alone                      int64
	AckLog                     []AckRecord
}

// AckRecord is when a batch was acknowledged, and by which node.
type AckRecord struct {
	At   time.Time
	Node string
	// Sent is when the request that got this acknowledgement was sent: the node decided within
	// [Sent, At].
	Sent      time.Time
	First, N  int64 // event ids First … First+N-1
	Key       string
	Attempts  int
	Duplicate bool
	FirstSeq  uint64
	LastSeq   uint64
}

// NewClient returns a client for the Orders demo app of c.
func NewClient(c *Cluster) *Client {
	return &Client{c: c, App: "Orders", http: &http.Client{Timeout: 12 * time.Second}, next: 1, AckedIDs: map[int64]bool{}}
}

type answer struct {
	Accepted  int    `json:"accepted"`
	FirstSeq  uint64 `json:"first_seq"`
	LastSeq   uint64 `json:"last_seq"`
	Alone     bool   `json:"alone"`
	Duplicate bool   `json:"duplicate"`
}

// SendBatch sends n new events and returns once they are acknowledged or ctx ends.
func (cl *Client) SendBatch(ctx context.Context, n int) error {
	cl.mu.Lock()
	first := cl.next
	cl.next += int64(n)
	cl.batch++
	key := "batch-" + strconv.FormatInt(cl.batch, 10)
	cl.Sent += int64(n)
	cl.mu.Unlock()
	var body bytes.Buffer
	body.WriteByte('[')
	for i := 0; i < n; i++ {
		if i > 0 {
			body.WriteByte(',')
		}
		id := first + int64(i)
		fmt.Fprintf(&body, `{"id":%d,"symbol":"S%d","qty":1,"price":1.5}`, id, id%7)
	}
	body.WriteByte(']')
	redirected := false
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			cl.mu.Lock()
			cl.Retries++
			cl.mu.Unlock()
			// Follow a redirect to another node at once; back off a little otherwise (the node
			// pointed at is still promoting, or none answers).
			pause := 20 * time.Millisecond
			if redirected {
				pause = 2 * time.Millisecond
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(pause):
			}
		}
		target := cl.target(attempt)
		sentAt := time.Now()
		ans, node, redirect, err := cl.post(ctx, target, key, body.Bytes())
		redirected = redirect != "" && redirect != target
		if os.Getenv("HATEST_TRACE") != "" && (err != nil || attempt > 0) {
			fmt.Fprintf(os.Stderr, "TRACE %s attempt %d to %s took %s redirect=%q err=%v\n", time.Now().Format("15:04:05.000"), attempt, target, time.Since(sentAt).Round(time.Millisecond), redirect, err)
		}
		switch {
		case redirect != "":
			cl.setTarget(redirect)
		case err != nil:
			// No answer (down, paused, timed out): forget it and try the other nodes first.
			cl.mu.Lock()
			cl.cur, cl.avoid = "", target
			cl.mu.Unlock()
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			continue
		}
		cl.mu.Lock()
		for id := first; id < first+int64(n); id++ {
			cl.AckedIDs[id] = true
		}
		cl.Acked += int64(n)
		if ans.Alone {
			cl.Alone++
		}
		if ans.Duplicate {
			cl.Dups++
		}
		cl.AckLog = append(cl.AckLog, AckRecord{At: time.Now(), Node: node, Sent: sentAt, First: first, N: int64(n),
			Key: key, Attempts: attempt + 1, Duplicate: ans.Duplicate, FirstSeq: ans.FirstSeq, LastSeq: ans.LastSeq})
		cl.cur = target
		cl.mu.Unlock()
		return nil
	}
}

// SetTimeout bounds each request, so a frozen node is given up on sooner (default 12 s).
func (cl *Client) SetTimeout(d time.Duration) {
	cl.mu.Lock()
	cl.http = &http.Client{Timeout: d}
	cl.mu.Unlock()
}

func (cl *Client) target(attempt int) string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.cur != "" {
		return cl.cur
	}
	n := len(cl.c.Nodes)
	for i := 0; i < n; i++ {
		if u := cl.c.Nodes[(attempt+i)%n].URL(); u != cl.avoid || i == n-1 {
			return u
		}
	}
	return cl.c.Nodes[attempt%n].URL()
}

func (cl *Client) setTarget(u string) {
	cl.mu.Lock()
	cl.cur = u
	cl.mu.Unlock()
}

func (cl *Client) post(ctx context.Context, base, key string, body []byte) (answer, string, string, error) {
	var ans answer
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/events/"+cl.App+"/OrderStream", bytes.NewReader(body))
	if err != nil {
		return ans, "", "", err
	}
	req.Header.Set("Idempotency-Key", key)
	req.Header.Set("Content-Type", "application/json")
	cl.mu.Lock()
	hc := cl.http
	cl.mu.Unlock()
	resp, err := hc.Do(req)
	if err != nil {
		return ans, "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return ans, "", resp.Header.Get("X-HA-Active"), fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return ans, "", "", err
	}
	node := base
	for _, p := range cl.c.Nodes {
		if p.URL() == base {
			node = p.ID
		}
	}
	return ans, node, "", nil
}

// Run sends batches of size n every interval until ctx ends; the batch in flight at the end is
// abandoned unacknowledged.
func (cl *Client) Run(ctx context.Context, n int, interval time.Duration) {
	for ctx.Err() == nil {
		if err := cl.SendBatch(ctx, n); err != nil {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// FirstAckAfter is the first acknowledgement after t by a node other than except ("" = any).
func (cl *Client) FirstAckAfter(t time.Time, except string) (AckRecord, bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, a := range cl.AckLog {
		if a.At.After(t) && a.Node != except {
			return a, true
		}
	}
	return AckRecord{}, false
}

// Acks returns a copy of the acknowledgement log.
func (cl *Client) Acks() []AckRecord {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return append([]AckRecord(nil), cl.AckLog...)
}

// Snapshot returns the counters under the lock.
func (cl *Client) Snapshot() (sent, acked, retries, alone int64, ids map[int64]bool) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	ids = make(map[int64]bool, len(cl.AckedIDs))
	for k := range cl.AckedIDs {
		ids[k] = true
	}
	return cl.Sent, cl.Acked, cl.Retries, cl.Alone, ids
}
