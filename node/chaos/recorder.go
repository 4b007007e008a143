package chaos

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/streamha/streamha/internal/hatest"
)

// Grant is one lease term as read from ha_lease: AcquiredAt is the database's clock, which is
// this host's clock in the suite (PostgreSQL runs on loopback).
type Grant struct {
	Term       int64     `json:"term"`
	Holder     string    `json:"holder"`
	AcquiredAt time.Time `json:"acquired_at"`
	SeenAt     time.Time `json:"seen_at"`
}

// LeaseObs is one poll of ha_lease, kept when it differs from the previous one.
type LeaseObs struct {
	At     time.Time `json:"at"`
	Term   int64     `json:"term"`
	Holder string    `json:"holder"` // "" when released
}

// ActiveObs is one poll of every node's /ha/active: who served, under which term.
type ActiveObs struct {
	Sent    time.Time        `json:"sent"`
	At      time.Time        `json:"at"`
	Serving map[string]int64 `json:"serving"` // node id → term, for nodes answering 200
}

// Recorder polls the lease table and the nodes while the suite runs.
type Recorder struct {
	dbURL string
	group string
	nodes []*hatest.Proc
	every time.Duration
	http  *http.Client

	mu     sync.Mutex
	lease  []LeaseObs
	grants []Grant
	active []ActiveObs
	errs   int
}

// NewRecorder polls dbURL (directly, not through a proxy) and the nodes every interval.
func NewRecorder(dbURL, group string, nodes []*hatest.Proc, every time.Duration) *Recorder {
	return &Recorder{dbURL: dbURL, group: group, nodes: nodes, every: every,
		http: &http.Client{Timeout: 250 * time.Millisecond}}
}

// Run polls until ctx ends.
func (r *Recorder) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.pollLease(ctx) }()
	go func() { defer wg.Done(); r.pollActive(ctx) }()
	wg.Wait()
}

func (r *Recorder) pollLease(ctx context.Context) {
	var conn *pgx.Conn
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if conn == nil {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			c, err := pgx.Connect(cctx, r.dbURL)
			cancel()
			if err != nil {
				r.note()
				continue
			}
			conn = c
		}
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		var holder string
		var term int64
		var acquired time.Time
		err := conn.QueryRow(qctx, `SELECT COALESCE(holder, ''), term, acquired_at FROM ha_lease WHERE group_id = $1`, r.group).
			Scan(&holder, &term, &acquired)
		cancel()
		if err == pgx.ErrNoRows {
			continue
		}
		if err != nil {
			r.note()
			conn.Close(context.Background())
			conn = nil
			continue
		}
		r.addLease(time.Now(), holder, term, acquired)
	}
}

func (r *Recorder) note() {
	r.mu.Lock()
	r.errs++
	r.mu.Unlock()
}

func (r *Recorder) addLease(at time.Time, holder string, term int64, acquired time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.lease); n == 0 || r.lease[n-1].Term != term || r.lease[n-1].Holder != holder {
		r.lease = append(r.lease, LeaseObs{At: at, Term: term, Holder: holder})
	}
	if holder == "" {
		return
	}
	if n := len(r.grants); n == 0 || r.grants[n-1].Term != term || r.grants[n-1].Holder != holder {
		r.grants = append(r.grants, Grant{Term: term, Holder: holder, AcquiredAt: acquired, SeenAt: at})
	}
}

func (r *Recorder) pollActive(ctx context.Context) {
	t := time.NewTicker(r.every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		obs := ActiveObs{Sent: time.Now(), Serving: map[string]int64{}}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, p := range r.nodes {
			if !p.Running() {
				continue
			}
			wg.Add(1)
			go func(p *hatest.Proc) {
				defer wg.Done()
				if term, ok := r.serving(ctx, p); ok {
					mu.Lock()
					obs.Serving[p.ID] = term
					mu.Unlock()
				}
			}(p)
		}
		wg.Wait()
		obs.At = time.Now()
		r.mu.Lock()
		r.active = append(r.active, obs)
		r.mu.Unlock()
	}
}

func (r *Recorder) serving(ctx context.Context, p *hatest.Proc) (int64, bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/ha/active", nil)
	if err != nil {
		return 0, false
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, false
	}
	var body struct {
		Term int64 `json:"term"`
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		return 0, false
	}
	return body.Term, true
}

// Data returns copies of what was recorded.
func (r *Recorder) Data() (lease []LeaseObs, grants []Grant, active []ActiveObs) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]LeaseObs(nil), r.lease...), append([]Grant(nil), r.grants...), append([]ActiveObs(nil), r.active...)
}
