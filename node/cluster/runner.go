package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Config wires a Runner to its store and the rest of the node.
type Config struct {
	Node   NodeInfo
	Timing Timing
	Store  Store
	Logger *slog.Logger
	// Now is the local clock; only differences between its readings are used (monotonic), so a
	// skewed wall clock does no harm. Default time.Now. Set Now or Clock, not both.
	Now func() time.Time
	// Clock, when set, replaces Now and the Runner's timers and call deadlines, so tests can
	// drive slow or lost store answers on an injected clock. Default: the system clock.
	Clock Clock
	// Promote is run when the node takes the lease: restore state, replay, open ports. The node
	// becomes Active when it returns nil; on error the lease is released. ctx ends on demotion.
	// Nil means promotion is instant.
	Promote func(ctx context.Context, term int64) error
	// Status fills the node's part of the heartbeat status (queue, apps, DataError…); role,
	// term and LastError are set by the Runner. May be nil.
	Status func(*Status)
	// Metrics records role changes; may be nil.
	Metrics *Metrics
	// Ready is asked, once a restore-failure backoff has passed, whether promoting could now
	// succeed (see ErrNotRestorable); the node contends for the lease again only when it returns
	// nil. Nil means always ready.
	Ready func(ctx context.Context) error
	// Detector, when set, lets a passive take the lease before it expires once the active's
	// liveness lock is free (its process or database session died). Default: the Store itself
	// when it implements CrashDetector. DisableCrashDetection turns it off.
	Detector              CrashDetector
	DisableCrashDetection bool
	// Holds reports whether the node holds acknowledged inputs or state the store may not
	// have (a passive's non-empty queue or hot runtime). Nil: it never does, and it never
	// defers (see deferToHolder).
	Holds func() bool
	// DeferFor bounds how long a node holding nothing leaves the lease to a live node that
	// holds inputs, per episode; default 3 leases. Negative: never defer.
	DeferFor time.Duration
	// RestoreBackoff is the first wait after a promotion failed with ErrNotRestorable; it doubles
	// on every further failure up to RestoreBackoffMax. Defaults 1 s and 1 min.
	RestoreBackoff, RestoreBackoffMax time.Duration
}

// View is the group as the runner last read it.
type View struct {
	Lease Lease
	Nodes []NodeRecord
}

// Runner drives an Elector against a Store: heartbeats, acquisition, renewal, promotion,
// demotion and release on shutdown. Other parts of the node subscribe to its transitions.
type Runner struct {
	cfg   Config
	clock Clock
	log   *slog.Logger
	kick  chan struct{}

	mu          sync.Mutex
	el          *Elector
	pending     []Transition
	subs        []func(Transition)
	view        View
	lastErr     string
	cancelPromo context.CancelFunc
	failovers   int64
	// restoreWait is the current backoff after promotions failed with ErrNotRestorable (0: no
	// failure); until restoreAt the node does not contend, and then only once Ready passes.
	restoreWait time.Duration
	restoreAt   time.Time
	otherTerm   int64 // newest term seen held by another node
	ownTerm     int64 // newest term this process became active at
	// deferSince is when this node, holding nothing, first left the lease to deferTo in the
	// current episode (reset when it holds inputs or leads).
	deferSince time.Time
	deferTo    string

	dispatchMu sync.Mutex

	// Crash detection (liveness.go); lock is nil without a CrashDetector.
	crash CrashDetector
	lock  LivenessLock
	// lockGen changes whenever the node stops leading or gives the lock up, so a watcher or a
	// claim that began before knows its result is stale. lockTerm is the term under which the
	// leader holds (and watches) the lock, lockRecorded the one it recorded in the lease row.
	lockGen      uint64
	lockTerm     int64
	lockRecorded int64
	unlockDue    bool
	holdLock     bool // abdicate keeps the lock until its release is written
	// suspectUntil: the passive was told the active may be gone; until then it checks the lock
	// every suspectRetry instead of every heartbeat.
	suspectUntil time.Time
}

// NewRunner validates cfg and returns a runner in the Starting role.
func NewRunner(cfg Config) (*Runner, error) {
	t := cfg.Timing
	switch {
	case cfg.Store == nil:
		return nil, errors.New("cluster: no store")
	case cfg.Node.Group == "" || cfg.Node.NodeID == "":
		return nil, errors.New("cluster: group and node id are required")
	case t.HeartbeatInterval <= 0 || t.Lease <= 0 || t.RenewDeadline <= 0:
		return nil, errors.New("cluster: heartbeat_interval, lease and renew_deadline must be positive")
	case t.RenewDeadline >= t.Lease:
		return nil, fmt.Errorf("cluster: renew_deadline (%s) must be shorter than lease (%s)", t.RenewDeadline, t.Lease)
	case t.HeartbeatInterval >= t.RenewDeadline:
		return nil, fmt.Errorf("cluster: heartbeat_interval (%s) must be shorter than renew_deadline (%s)", t.HeartbeatInterval, t.RenewDeadline)
	}
	clock := cfg.Clock
	switch {
	case clock != nil && cfg.Now != nil:
		return nil, errors.New("cluster: set Now or Clock, not both")
	case clock == nil && cfg.Now != nil:
		clock = systemClock{now: cfg.Now}
	case clock == nil:
		clock = systemClock{now: time.Now}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.RestoreBackoff <= 0 {
		cfg.RestoreBackoff = time.Second
	}
	if cfg.DeferFor == 0 {
		cfg.DeferFor = 3 * t.Lease
	}
	if cfg.RestoreBackoffMax < cfg.RestoreBackoff {
		cfg.RestoreBackoffMax = max(time.Minute, cfg.RestoreBackoff)
	}
	r := &Runner{cfg: cfg, clock: clock, el: NewElector(t), kick: make(chan struct{}, 1)}
	r.log = cfg.Logger.With("group", cfg.Node.Group, "node", cfg.Node.NodeID)
	if err := r.initCrashDetection(); err != nil {
		return nil, err
	}
	return r, nil
}

// OnTransition registers fn to be called, in order and synchronously, for every role change.
// fn must be quick: a Demoted callback must stop serving before it returns.
func (r *Runner) OnTransition(fn func(Transition)) {
	r.mu.Lock()
	r.subs = append(r.subs, fn)
	r.mu.Unlock()
}

// Role is the current role.
func (r *Runner) Role() Role {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.el.Role()
}

// Term is the term of the lease held or last held.
func (r *Runner) Term() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.el.Term()
}

// Leading reports whether the node holds a lease it may still act on, judged now against the
// renew deadline; the data path calls it before every acknowledgement and write.
func (r *Runner) Leading(term int64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.el.Term() == term && r.el.Leading(r.clock.Now())
}

// Serving reports whether the node is the active and may take input, with its term.
func (r *Runner) Serving() (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.el.Term(), r.el.Role() == Active && r.el.Leading(r.clock.Now())
}

// View returns the group as last read from the store.
func (r *Runner) View() View {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.view
}

// Failovers counts this process's takeovers from another node: promotions to active at a term
// after one it saw another node hold (that node died, was deposed or switched over). A group's
// first election, or winning the lease again with no other holder in between, is not one.
func (r *Runner) Failovers() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failovers
}

// Run registers the node (retrying with backoff while the database is unreachable) and then
// takes part in the election until ctx ends; then it releases the lease and deregisters.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.register(ctx); err != nil {
		return err
	}
	r.apply(r.el.Registered)
	r.flush()
	for {
		began := r.clock.Now()
		r.step(ctx)
		r.mu.Lock()
		wait := r.el.Wake(r.clock.Now())
		if r.el.Role() != Passive {
			// Keep a steady heartbeat: the step's own duration counts against the interval.
			wait = max(0, r.cfg.Timing.HeartbeatInterval-r.clock.Now().Sub(began))
		} else if r.clock.Now().Before(r.suspectUntil) {
			wait = min(wait, r.suspectRetry())
		}
		r.mu.Unlock()
		fired, stop := r.after(wait)
		select {
		case <-ctx.Done():
			stop()
			r.shutdown()
			return nil
		case <-fired:
		case <-r.kick:
			stop()
		}
	}
}

// after returns a channel that receives once d has passed on the runner's clock.
func (r *Runner) after(d time.Duration) (<-chan struct{}, func() bool) {
	fired := make(chan struct{}, 1)
	stop := r.clock.AfterFunc(d, func() { fired <- struct{}{} })
	return fired, stop
}

func (r *Runner) register(ctx context.Context) error {
	backoff := r.cfg.Timing.HeartbeatInterval
	for attempt := 1; ; attempt++ {
		cctx, cancel := r.clock.WithTimeout(ctx, 5*time.Second)
		err := r.cfg.Store.Register(cctx, r.cfg.Node)
		cancel()
		if err == nil {
			r.log.Info("registered", "properties", r.cfg.Node.Properties)
			return nil
		}
		r.log.Warn("cannot register yet; retrying", "attempt", attempt, "retry_in", backoff, "err", err)
		fired, stop := r.after(backoff)
		select {
		case <-ctx.Done():
			stop()
			return fmt.Errorf("register: %w", ctx.Err())
		case <-fired:
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// opContext bounds a store call: never past the renew deadline while leading. Only differences
// of the local clock are used, so a skewed wall clock cannot shorten or stretch it.
func (r *Runner) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	r.mu.Lock()
	dl := r.el.Deadline()
	r.mu.Unlock()
	d := r.cfg.Timing.RenewDeadline
	if !dl.IsZero() {
		d = min(d, dl.Sub(r.clock.Now()))
	}
	return r.clock.WithTimeout(ctx, d+time.Millisecond)
}

func (r *Runner) step(ctx context.Context) {
	began := r.clock.Now()
	defer func() {
		if d := r.clock.Now().Sub(began); d > r.cfg.Timing.RenewDeadline/2 && ctx.Err() == nil {
			r.log.Warn("slow coordination step: the database answers slowly", "took", d)
		}
	}()
	now := r.clock.Now()
	r.mu.Lock()
	r.applyLocked(r.el.Tick(now))
	op := r.el.Next(now)
	term := r.el.Term()
	r.mu.Unlock()
	r.flush()

	g, id := r.cfg.Node.Group, r.cfg.Node.NodeID
	if op == OpAcquire && (r.deferToHolder(ctx) || !r.readyToContend(ctx)) {
		op = OpNone
	}
	switch op {
	case OpAcquire:
		cctx, cancel := r.opContext(ctx)
		sent := r.clock.Now()
		lease, ok, err := r.cfg.Store.Acquire(cctx, g, id, r.cfg.Timing.Lease)
		cancel()
		if err == nil && !ok && lease.Held() && lease.Holder != id && r.lock != nil {
			if r.takeOverAfterCrash(ctx, lease) {
				break
			}
		}
		r.mu.Lock()
		if err != nil {
			r.lastErr = err.Error()
		} else {
			r.seeLeaseLocked(lease)
			if !ok {
				r.el.LeaseSeen(sent, lease.Remaining)
			}
			r.applyLocked(r.el.AcquireResult(sent, ok, lease.Term))
		}
		r.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			r.log.Warn("lease acquisition failed", "err", err)
		}
	case OpRenew:
		cctx, cancel := r.opContext(ctx)
		sent := r.clock.Now()
		lease, err := r.cfg.Store.Renew(cctx, g, id, term, r.cfg.Timing.Lease)
		cancel()
		r.mu.Lock()
		if err == nil {
			r.seeLeaseLocked(lease)
		} else {
			r.lastErr = err.Error()
		}
		r.applyLocked(r.el.RenewResult(sent, err == nil, errors.Is(err, ErrLeaseLost)))
		r.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			r.log.Warn("lease renewal failed", "term", term, "err", err)
		}
	}
	r.flush()
	r.claimLock(ctx)
	r.flush()
	hb := r.clock.Now()
	r.heartbeat(ctx)
	if d := r.clock.Now().Sub(hb); d > r.cfg.Timing.RenewDeadline/2 {
		r.log.Warn("slow heartbeat", "took", d)
	}
}

// deferToHolder is asked before each acquisition: it reports whether this node, holding
// nothing (Config.Holds), should leave the lease for now to another live node of the group that
// holds inputs, for at most Config.DeferFor per episode.
//
// Why: a crashed active that restarts restores from the store; the surviving passive may hold
// acknowledged inputs the store has not (its queue, its hot runtime: a hot switchover does not
// persist). If the restarted node won the lease first, the passive would rejoin under the new
// term, reset its queue, and those inputs would be lost. Crash detection usually lets the
// survivor win within milliseconds, but the window exists; this closes it.
//
// Safety: deferring only ever withholds an acquisition, so it cannot give two nodes the lease;
// the lease stays the only authority. The node deferred to must be registered in the group,
// not this node, not the lease holder (the holder is the node whose lease is being taken, e.g.
// a crashed active whose heartbeat is still fresh: a passive must never wait for it), with a
// heartbeat fresher than one lease by the database's clock, and report holds_inputs: such a
// node is alive, not leading, and contends itself (a node that holds inputs never defers), so
// it normally takes the lease within a heartbeat or two. Liveness: the deferral is bounded per
// episode (from the first deferral until the node holds inputs or leads), so a node whose peer
// cannot promote (restore failure, broken store access) still contends after DeferFor, and a
// lone node, or two nodes that both hold nothing, never defer. If the group cannot be read the
// node contends as before. Residual window: the peer's holds_inputs is as fresh as its last
// heartbeat, so inputs it received within one heartbeat interval before the crash may not yet
// be advertised.
func (r *Runner) deferToHolder(ctx context.Context) bool {
	if r.cfg.DeferFor < 0 || r.cfg.Holds == nil {
		return false
	}
	if r.cfg.Holds() {
		r.mu.Lock()
		r.deferSince, r.deferTo = time.Time{}, ""
		r.mu.Unlock()
		return false
	}
	g, id := r.cfg.Node.Group, r.cfg.Node.NodeID
	cctx, cancel := r.opContext(ctx)
	nodes, err := r.cfg.Store.Nodes(cctx, g)
	var lease Lease
	if err == nil {
		lease, err = r.cfg.Store.Leader(cctx, g)
	}
	cancel()
	if err != nil {
		return false // cannot tell: contend as before (the acquisition will tell)
	}
	to := ""
	for _, n := range nodes {
		if n.NodeID == id || n.NodeID == lease.Holder || n.HeartbeatAge > r.cfg.Timing.Lease {
			continue
		}
		var st struct {
			Holds bool `json:"holds_inputs"`
		}
		if json.Unmarshal(n.Status, &st) == nil && st.Holds {
			to = n.NodeID
			break
		}
	}
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if to == "" {
		r.deferTo = ""
		return false
	}
	if r.deferSince.IsZero() {
		r.deferSince = now
		r.log.Info("holding nothing; leaving the lease to a live node that holds inputs", "to", to, "for_at_most", r.cfg.DeferFor)
	}
	if now.Sub(r.deferSince) >= r.cfg.DeferFor {
		if r.deferTo != "" {
			r.log.Warn("the node holding inputs has not taken the lease; contending", "to", to, "waited", now.Sub(r.deferSince))
		}
		r.deferTo = ""
		return false
	}
	r.deferTo = to
	return true
}

// readyToContend is asked before each acquisition: after a promotion failed with
// ErrNotRestorable the node stays out until its backoff has passed and Ready says it could now
// restore; a failed check doubles the backoff. So a group whose state cannot be restored sees at
// most one term change per node and backoff period, instead of a promote/give-up loop.
func (r *Runner) readyToContend(ctx context.Context) bool {
	r.mu.Lock()
	wait := r.restoreWait
	r.mu.Unlock()
	if wait == 0 {
		return true
	}
	err := error(nil)
	if r.cfg.Ready != nil {
		cctx, cancel := r.clock.WithTimeout(ctx, r.cfg.RestoreBackoffMax)
		err = r.cfg.Ready(cctx)
		cancel()
	}
	if ctx.Err() != nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.restoreWait == 0 { // cleared meanwhile
		return true
	}
	if err == nil {
		r.restoreWait, r.restoreAt = 0, time.Time{}
		r.log.Info("state looks restorable again; contending for the lease")
		return true
	}
	r.restoreWait = min(r.restoreWait*2, r.cfg.RestoreBackoffMax)
	now := r.clock.Now()
	r.restoreAt = now.Add(r.restoreWait)
	r.el.HoldOff(r.restoreAt)
	r.lastErr = err.Error()
	r.log.Error("still cannot restore without loss; not contending for the lease", "retry_in", r.restoreWait, "err", err)
	return false
}

// RestoreBackoff reports whether the node stays out of the election because its state cannot be
// restored, and when it checks again (local clock).
func (r *Runner) RestoreBackoff() (failed bool, next time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restoreWait > 0, r.restoreAt
}

// ClearRestoreFailure ends a restore-failure backoff at once: another node serves, or an
// operator acted, so the old verdict no longer holds.
func (r *Runner) ClearRestoreFailure() {
	r.mu.Lock()
	was := r.restoreWait > 0
	r.restoreWait, r.restoreAt = 0, time.Time{}
	if was && r.el.Role() == Passive {
		r.el.ClearHoldOff()
	}
	r.mu.Unlock()
	if was {
		r.poke()
	}
}

func (r *Runner) heartbeat(ctx context.Context) {
	st := r.status()
	b, err := json.Marshal(st)
	if err != nil {
		r.log.Error("encode status", "err", err)
		return
	}
	cctx, cancel := r.opContext(ctx)
	defer cancel()
	g, id := r.cfg.Node.Group, r.cfg.Node.NodeID
	err = r.cfg.Store.Heartbeat(cctx, g, id, b)
	if errors.Is(err, ErrNotRegistered) {
		r.log.Warn("node row missing; registering again")
		err = r.cfg.Store.Register(cctx, r.cfg.Node)
	}
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("heartbeat failed", "err", err)
		}
		return
	}
	nodes, err := r.cfg.Store.Nodes(cctx, g)
	if err == nil {
		r.mu.Lock()
		r.view.Nodes = nodes
		r.mu.Unlock()
	}
	if st.Role == Passive.String() {
		if l, err := r.cfg.Store.Leader(cctx, g); err == nil {
			r.mu.Lock()
			r.seeLeaseLocked(l)
			r.mu.Unlock()
		}
	}
}

// seeLeaseLocked records the lease as read from the store, and remembers the newest term held by
// another node: what tells a takeover from a first election. r.mu is held.
func (r *Runner) seeLeaseLocked(l Lease) {
	r.view.Lease = l
	if l.Holder != "" && l.Holder != r.cfg.Node.NodeID && l.Term > r.otherTerm {
		r.otherTerm = l.Term
	}
}

func (r *Runner) status() Status {
	var st Status
	if r.cfg.Status != nil {
		r.cfg.Status(&st)
	}
	st.HoldsInputs = r.cfg.Holds != nil && r.cfg.Holds()
	r.mu.Lock()
	defer r.mu.Unlock()
	st.Role = r.el.Role().String()
	st.Term = r.el.Term()
	st.Serving = r.el.Role() == Active && r.el.Leading(r.clock.Now())
	st.Active = r.view.Lease.Holder
	if !r.view.Lease.Held() && !st.Serving {
		st.Active = ""
	}
	st.Version = r.cfg.Node.Properties[PropVersion]
	st.ReportedAtMS = time.Now().UnixMilli()
	st.Failovers = r.failovers
	st.LastError = r.lastErr
	st.DeferringTo = r.deferTo
	return st
}
