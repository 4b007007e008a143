package eventsync

import (
	"bufio"
	"context"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"
)

// ErrSessionClosed is returned to waiters when the session to the passive ends before their
// inputs were acknowledged: those inputs are held by the active alone.
var ErrSessionClosed = errors.New("sync session closed")

// ErrRefused wraps the passive's reason for refusing a session.
var ErrRefused = errors.New("refused by passive")

// Liveness: the active pings an idle passive every PingInterval and drops a passive that has
// not acknowledged anything for LivenessTimeout, so a silent partition turns into "alone" (and
// persist-backed acknowledgements) instead of stalling clients.
const (
	PingInterval    = 200 * time.Millisecond
	LivenessTimeout = time.Second
)

// maxPending bounds the bytes waiting to be written to a slow passive; past it the session is
// ended (and the passive must rejoin) rather than letting the active's memory grow.
const maxPending = 128 << 20

// DialConfig identifies the active to the passive.
type DialConfig struct {
	Group, NodeID string
	Token         string // the shared secret (auth_token); required
	Term          int64
	Logger        *slog.Logger
	// PingInterval and LivenessTimeout override the package defaults (0: the default). The
	// active pings an idle passive every PingInterval and ends a session silent for
	// LivenessTimeout; PingInterval must be well under LivenessTimeout.
	PingInterval, LivenessTimeout time.Duration
}

// Session is the active's link to one passive: inputs are appended without blocking and written
// in batches; acknowledgements advance per-app positions that request handlers wait on.
type Session struct {
	conn net.Conn
	log  *slog.Logger
	Peer string
	Term int64
	Max  int64 // the passive's queue bound

	wmu      sync.Mutex // held while taking pending and writing it: frames go out in order
	mu       sync.Mutex
	pending  []byte
	spare    []byte
	wake     chan struct{}
	progress chan struct{} // closed and replaced at each ack and at close
	closed   bool
	err      error
	acked    map[string]uint64
	sent     map[string]uint64
	// inflight holds, per app, the encoded size of each batch sent and not yet acknowledged
	// (its last seq and bytes), so LagBytes is exact; lagBytes is their sum.
	inflight  map[string][]sentBatch
	lagBytes  int64
	started   map[string]bool
	startSeq  map[string]uint64
	delivered map[string]uint64
	applied   map[string]uint64 // the passive's runtime position per app (version 3 acks)
	version   uint16
	qBytes    int64
	qEvents   int64
	lastAck   time.Time
	done      chan struct{}
	ping      time.Duration
	liveness  time.Duration
}

// Dial connects to a passive's sync address and performs the handshake. cfg.Token is required.
func Dial(ctx context.Context, addr, peerID string, cfg DialConfig) (*Session, error) {
	if err := checkToken(cfg.Token); err != nil {
		return nil, fmt.Errorf("eventsync: dial %s: %w", addr, err)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("eventsync: dial %s: %w", addr, err)
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.SetDeadline(dl)
	} else {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	}
	r := bufio.NewReaderSize(c, 64<<10)
	s, err := handshake(c, r, peerID, cfg, ProtocolVersion)
	if errors.Is(err, ErrPassiveTooOld) {
		// No fallback to an older version: the passive could not prove it holds the secret,
		// and ack mode would count acknowledgements from whoever answers at its address.
		log := cfg.Logger
		if log == nil {
			log = slog.Default()
		}
		log.Error("passive speaks a protocol older than mutual authentication; refusing it, running without a standby until it is upgraded",
			"passive", peerID, "addr", addr, "want_version", AuthProtocolVersion)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("eventsync: handshake with %s at %s: %w", peerID, addr, err)
	}
	_ = c.SetDeadline(time.Time{})
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	s.lastAck = time.Now()
	go s.writer()
	go s.reader(r)
	go s.watchdog()
	return s, nil
}

// ErrPassiveTooOld is a refusal of this protocol version by a passive that speaks one older than
// mutual authentication (AuthProtocolVersion): the active does not fall back to it.
var ErrPassiveTooOld = errors.New("passive speaks a protocol older than mutual authentication (upgrade it)")

// ErrPassiveUnauthenticated is a welcome whose MAC is missing or wrong: whatever answered at the
// passive's address does not hold the shared secret (or answered another connection's nonce).
var ErrPassiveUnauthenticated = errors.New("passive not authenticated")

func handshake(c net.Conn, r *bufio.Reader, peerID string, cfg DialConfig, version uint16) (*Session, error) {
	var buf []byte
	typ, p, err := readFrameMax(r, &buf, MaxHandshakeFrame)
	if err != nil {
		return nil, fmt.Errorf("read challenge: %w", err)
	}
	var ch challenge
	if typ != typeChallenge {
		return nil, fmt.Errorf("%w: expected challenge, got frame type %d", ErrMalformed, typ)
	}
	if err := ch.decode(p); err != nil {
		return nil, err
	}
	if ch.NodeID != peerID {
		return nil, fmt.Errorf("address belongs to node %q, not %q", ch.NodeID, peerID)
	}
	if len(ch.Nonce) < nonceBytes {
		return nil, fmt.Errorf("%w: challenge nonce of %d bytes, want at least %d", ErrMalformed, len(ch.Nonce), nonceBytes)
	}
	h := hello{Version: version, Group: cfg.Group, From: cfg.NodeID, To: peerID, Term: cfg.Term, Nonce: newNonce()}
	h.MAC = mac(cfg.Token, ch.Nonce, &h)
	if err := writeFrame(c, typeHello, h.encode()); err != nil {
		return nil, fmt.Errorf("send hello: %w", err)
	}
	typ, p, err = readFrameMax(r, &buf, MaxHandshakeFrame)
	if err != nil {
		return nil, fmt.Errorf("read welcome: %w", err)
	}
	switch typ {
	case typeRefuse:
		reason := decodeReason(p)
		if strings.HasPrefix(reason, fmt.Sprintf("protocol version %d,", version)) {
			return nil, fmt.Errorf("%w: %w: %s", ErrRefused, ErrPassiveTooOld, reason)
		}
		return nil, fmt.Errorf("%w: %s", ErrRefused, reason)
	case typeWelcome:
	default:
		return nil, fmt.Errorf("%w: expected welcome, got frame type %d", ErrMalformed, typ)
	}
	var w welcome
	if err := w.decode(p); err != nil {
		return nil, err
	}
	switch {
	case len(w.MAC) == 0:
		return nil, fmt.Errorf("%w: welcome carries no proof of the shared secret", ErrPassiveUnauthenticated)
	case !hmac.Equal(w.MAC, welcomeMAC(cfg.Token, h.Nonce, &h)):
		return nil, fmt.Errorf("%w: welcome MAC does not match (auth_token mismatch, or a welcome of another connection)", ErrPassiveUnauthenticated)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Session{
		conn: c, log: log.With("component", "eventsync-client", "passive", peerID), Peer: peerID, Term: cfg.Term,
		Max: int64(w.MaxQueueBytes), wake: make(chan struct{}, 1), progress: make(chan struct{}),
		acked: map[string]uint64{}, sent: map[string]uint64{}, inflight: map[string][]sentBatch{}, started: map[string]bool{}, startSeq: map[string]uint64{}, delivered: map[string]uint64{}, done: make(chan struct{}),
		applied: map[string]uint64{}, version: version,
		ping: orDefault(cfg.PingInterval, PingInterval), liveness: orDefault(cfg.LivenessTimeout, LivenessTimeout),
	}, nil
}

// Start marks app as streaming on this session from now on: the caller has just captured a
// snapshot point for it. Entries of apps not started are not sent.
func (s *Session) Start(app string, seq uint64) {
	s.mu.Lock()
	s.started[app] = true
	s.startSeq[app] = seq
	s.sent[app] = seq
	if s.acked[app] < seq {
		// Inputs up to the snapshot point need no acknowledgement: the snapshot will cover them.
		s.acked[app] = seq
	}
	s.mu.Unlock()
}

// StartSeq is the snapshot point app started streaming at; ok is false if it has not started.
func (s *Session) StartSeq(app string) (seq uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startSeq[app], s.started[app]
}

// Started reports whether app streams on this session.
func (s *Session) Started(app string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started[app]
}

// Send queues app's entries for the passive and reports whether they were sent: entries of an
// app that has not started streaming on this session are not (a snapshot point will cover
// them). It never blocks; it fails when the session is closed or the passive has fallen too far
// behind (the session is then closed).
func (s *Session) Send(app string, es []Entry) (bool, error) {
	if len(es) == 0 {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ErrSessionClosed
	}
	if !s.started[app] {
		return false, nil
	}
	start := len(s.pending)
	s.pending = append(s.pending, 0, 0, 0, 0, typeEntries)
	s.pending = appendEntries(s.pending, app, es)
	binary.BigEndian.PutUint32(s.pending[start:], uint32(len(s.pending)-start-4))
	s.sent[app] = es[len(es)-1].Seq
	size := int64(len(s.pending) - start)
	s.inflight[app] = append(s.inflight[app], sentBatch{last: es[len(es)-1].Seq, bytes: size})
	s.lagBytes += size
	if len(s.pending) > maxPending {
		s.closeLocked(errors.New("passive too slow: send buffer full"))
		return false, ErrSessionClosed
	}
	s.kick()
	return true, nil
}

// Control tells the passive that a snapshot covering app up to seq is committed.
func (s *Session) Control(app string, seq uint64, revision int64) {
	m := control{App: app, Seq: seq, Revision: revision}
	s.frame(typeControl, m.encode())
}

// Delivered tells the passive that every sink output of app's inputs up to seq is written, so
// a promotion need not emit them again. Values not above the last one sent are dropped.
func (s *Session) Delivered(app string, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || seq <= s.delivered[app] {
		return
	}
	s.delivered[app] = seq
	m := AppSeq{App: app, Seq: seq}
	s.pending = appendFrame(s.pending, typeDelivered, m.encode())
	s.kick()
}

// Handover tells the passive the lease was released for it to take at once.
func (s *Session) Handover(term int64) { s.frame(typeHandover, encodeTerm(term)) }

func (s *Session) frame(typ uint8, p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.pending = appendFrame(s.pending, typ, p)
	s.kick()
}

func (s *Session) kick() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Session) writer() {
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		s.wmu.Lock()
		s.mu.Lock()
		buf := s.pending
		if len(buf) == 0 {
			s.mu.Unlock()
			s.wmu.Unlock()
			continue
		}
		// Double buffering: appends go to the spare while buf is written. Each buffer has
		// one owner at a time, so the spare is given up here and handed back after the write.
		s.pending, s.spare = s.spare[:0], nil
		s.mu.Unlock()
		_, err := s.conn.Write(buf)
		s.wmu.Unlock()
		if err != nil {
			s.Close(fmt.Errorf("write: %w", err))
			return
		}
		s.mu.Lock()
		s.spare = buf[:0]
		s.mu.Unlock()
	}
}

// flush writes what is pending, after anything the writer has taken: a clean close sends its
// last frames (a switchover's handover) in order.
func (s *Session) flush() {
	// The deadline also bounds a write the writer has under way to a stuck passive.
	_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.mu.Lock()
	buf, closed := s.pending, s.closed
	s.pending = nil
	s.mu.Unlock()
	if closed || len(buf) == 0 {
		return
	}
	_, _ = s.conn.Write(buf)
}

func (s *Session) reader(r *bufio.Reader) {
	var buf []byte
	for {
		typ, p, err := readFrame(r, &buf)
		if err != nil {
			s.Close(fmt.Errorf("read: %w", err))
			return
		}
		switch typ {
		case typeAck:
			var a ack
			if err := a.decode(p); err != nil {
				s.Close(err)
				return
			}
			s.mu.Lock()
			for _, x := range a.Apps {
				if x.Seq > s.acked[x.App] {
					s.acked[x.App] = x.Seq
					s.ackInflightLocked(x.App, x.Seq)
				}
			}
			if a.v3 {
				clear(s.applied)
				for _, x := range a.Applied {
					s.applied[x.App] = x.Seq
				}
			}
			s.qBytes, s.qEvents = int64(a.QueueBytes), int64(a.QueueEvents)
			s.lastAck = time.Now()
			close(s.progress)
			s.progress = make(chan struct{})
			s.mu.Unlock()
		case typeError:
			s.Close(fmt.Errorf("passive reported: %s", decodeReason(p)))
			return
		default:
			s.Close(fmt.Errorf("%w: unexpected frame type %d from passive", ErrMalformed, typ))
			return
		}
	}
}

// watchdog pings the passive and ends the session when it stops answering.
func (s *Session) watchdog() {
	t := time.NewTicker(s.ping)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
		}
		s.mu.Lock()
		silent := time.Since(s.lastAck)
		s.mu.Unlock()
		if silent > s.liveness {
			s.Close(fmt.Errorf("passive unresponsive: no acknowledgement for %s", silent.Round(time.Millisecond)))
			return
		}
		s.frame(typePing, nil)
	}
}

// Wait blocks until the passive acknowledged app up to seq (nil), the session closed
// (ErrSessionClosed) or ctx ended.
func (s *Session) Wait(ctx context.Context, app string, seq uint64) error {
	for {
		s.mu.Lock()
		if s.acked[app] >= seq {
			s.mu.Unlock()
			return nil
		}
		if s.closed {
			s.mu.Unlock()
			return ErrSessionClosed
		}
		ch := s.progress
		s.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Applied is how far the passive's own runtime has applied app (a hot passive), as its last
// acknowledgement said; ok is false when it keeps no runtime in step for app (cold), or speaks
// a protocol older than 3.
func (s *Session) Applied(app string) (seq uint64, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq, ok = s.applied[app]
	return seq, ok
}

// WaitApplied blocks until the passive reports its runtime applied app up to seq (nil), the
// session closed (ErrSessionClosed) or ctx ended; it pings every `every` meanwhile, since a
// passive reports its position only in acknowledgements. A switchover uses it to hand over to
// a passive that needs no catching up.
func (s *Session) WaitApplied(ctx context.Context, app string, seq uint64, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		s.mu.Lock()
		if a, ok := s.applied[app]; ok && a >= seq {
			s.mu.Unlock()
			return nil
		}
		if s.closed {
			s.mu.Unlock()
			return ErrSessionClosed
		}
		ch := s.progress
		s.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			s.frame(typePing, nil)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// PeerID is the passive's node id.
func (s *Session) PeerID() string { return s.Peer }

// MaxQueue is the passive's queue bound.
func (s *Session) MaxQueue() int64 { return s.Max }

// Version is the protocol version the session speaks.
func (s *Session) Version() uint16 { return s.version }

// Acked reports, without waiting, whether the passive acknowledged app up to seq: for an input
// sent on this session, that the passive holds it.
func (s *Session) Acked(app string, seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked[app] >= seq
}

// Lag is the number of inputs sent but not yet acknowledged, over all apps.
func (s *Session) Lag() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var n int64
	for app, sent := range s.sent {
		if a := s.acked[app]; sent > a {
			n += int64(sent - a)
		}
	}
	return n
}

// sentBatch is one batch of entries in flight to the passive.
type sentBatch struct {
	last  uint64
	bytes int64
}

// ackInflightLocked drops the batches of app the passive has acknowledged up to seq. A batch
// acknowledged only in part stays counted whole.
func (s *Session) ackInflightLocked(app string, seq uint64) {
	q := s.inflight[app]
	n := 0
	for n < len(q) && q[n].last <= seq {
		s.lagBytes -= q[n].bytes
		n++
	}
	if n == len(q) {
		s.inflight[app] = q[:0]
	} else {
		s.inflight[app] = q[n:]
	}
}

// LagBytes is the encoded size of the inputs sent but not yet acknowledged, over all apps.
func (s *Session) LagBytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lagBytes
}

// QueueBytes is the passive's queue weight as last acknowledged.
func (s *Session) QueueBytes() (bytes, events int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.qBytes, s.qEvents
}

// Done is closed when the session ends.
func (s *Session) Done() <-chan struct{} { return s.done }

// Err is why the session ended.
func (s *Session) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Closed reports whether the session ended.
func (s *Session) Closed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close ends the session; waiters get ErrSessionClosed. Pending frames are flushed best-effort
// only when err is nil (a clean close).
func (s *Session) Close(err error) {
	if err == nil {
		s.flush()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked(err)
}

func (s *Session) closeLocked(err error) {
	if s.closed {
		return
	}
	s.closed, s.err = true, err
	s.conn.Close()
	close(s.done)
	close(s.progress)
	s.progress = make(chan struct{})
	if err != nil {
		s.log.Warn("sync session closed", "err", err)
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}
