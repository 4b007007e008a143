package eventsync

import (
	"bufio"
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/streamha/streamha/internal/acceptor"
)

// HolderCheckTimeout bounds VerifyHolder's read of the cluster database during a handshake.
const HolderCheckTimeout = 2 * time.Second

// ServerConfig configures the passive side of event sync.
type ServerConfig struct {
	Group, NodeID string
	// Token is the shared secret (auth_token) the active proves it holds with an HMAC of this
	// connection's nonce. Required: at least MinTokenBytes.
	Token         string
	MaxQueueBytes int64
	Logger        *slog.Logger
	// VerifyHolder checks, with one read of the cluster database, that node `from` holds the
	// lease under exactly term; a non-nil error refuses the session. Required: without it a
	// peer holding the secret could claim any term, reset the queue and lock the real active
	// out. It runs only after the HMAC has been verified, and before any state changes.
	VerifyHolder func(ctx context.Context, term int64, from string) error
	// Accept decides whether a session from node `from` under term may start: the node must be
	// passive and term must not be older than the lease term it knows. A non-nil error refuses.
	// It is called after VerifyHolder, so it may act on the acceptance (another node serves).
	Accept func(term int64, from string) error
	// OnHandover is called when the active announces it released the lease for a switchover.
	OnHandover func(term int64)
	// OnSessionEnd, when set, is called (on its own goroutine) when an established session
	// ends: the active may have died, so the passive checks its liveness at once.
	OnSessionEnd func(term int64, from string)
	// Applied, when set, reports per app the last input the passive's own runtime applied (a
	// hot passive); it goes to version 3 actives with every acknowledgement. Must not block.
	Applied func() []AppSeq
}

// Server is the passive's event sync server: it authenticates the active, queues its inputs,
// trims on control messages and acknowledges cumulatively.
type Server struct {
	cfg ServerConfig
	log *slog.Logger

	mu      sync.Mutex
	q       *Queue
	qTerm   int64 // term of the active whose inputs the queue holds
	maxTerm int64
	conn    net.Conn
	peer    string
	lastErr string
	changed chan struct{} // closed and replaced at every change of the queue (Read's Changed)

	acc acceptor.Acceptor // connections, closed and awaited by Close
}

// NewServer returns a server with an empty queue. It refuses a configuration without a shared
// secret or without VerifyHolder: the sync channel is always authenticated.
func NewServer(cfg ServerConfig) (*Server, error) {
	if err := checkToken(cfg.Token); err != nil {
		return nil, fmt.Errorf("eventsync: server: %w", err)
	}
	if cfg.VerifyHolder == nil {
		return nil, errors.New("eventsync: server: VerifyHolder is required (the passive checks the claimed term against the cluster database)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger.With("component", "eventsync-server"), q: NewQueue(cfg.MaxQueueBytes), changed: make(chan struct{})}
	s.acc.Logger = s.log
	return s, nil
}

// maxFrame bounds a frame of an authenticated session: none needs more than the queue holds.
func (s *Server) maxFrame() uint32 {
	if m := s.cfg.MaxQueueBytes; m > 0 && m+64<<10 < MaxFrame {
		return uint32(m + 64<<10)
	}
	return MaxFrame
}

// Serve accepts sessions on ln until Close.
func (s *Server) Serve(ln net.Listener) error { return s.acc.Serve(ln, "eventsync", s.serve) }

// Close stops accepting and ends every session.
func (s *Server) Close() { s.acc.Close() }

// TakeQueue ends any session and hands the queue over for replay (promotion), with the term of
// the active that filled it; the server keeps a fresh empty queue.
func (s *Server) TakeQueue() (*Queue, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
	q, term := s.q, s.qTerm
	s.q = NewQueue(s.cfg.MaxQueueBytes)
	s.qTerm = 0
	s.notifyLocked()
	return q, term
}

// notifyLocked wakes the readers waiting on Changed. s.mu is held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Feed is one app's part of the queue as a hot passive reads it, consistent at one instant.
type Feed struct {
	Term int64  // term of the active filling the queue; 0 when no session has filled it
	Gen  uint64 // identity of the queue: a new queue (new term, promotion, reset) has a new one
	// Entries are held inputs after the asked seq, in order, at most about the asked number
	// (whole frames). They may start after a gap: inputs trimmed by a snapshot, or never sent.
	Entries   []Entry
	Last      uint64 // highest seq the queue has seen (held, or covered by a snapshot)
	Persisted uint64 // newest committed snapshot the active reported, and its revision
	Revision  int64
	Delivered uint64          // the active wrote every sink output of inputs up to here
	Changed   <-chan struct{} // closed at the next change of the queue
}

// Read returns app's held inputs after seq `after` (about max of them) with the queue's
// positions. The frames are shared with the queue and decoded outside the server's lock, so a
// reader does not hold back the session.
func (s *Server) Read(app string, after uint64, max int) Feed {
	s.mu.Lock()
	f := Feed{Term: s.qTerm, Gen: s.q.gen, Last: s.q.Last(app), Delivered: s.q.Delivered(app), Changed: s.changed}
	f.Persisted, f.Revision = s.q.Persisted(app)
	chunks := s.q.chunksAfter(app, after, max)
	s.mu.Unlock()
	f.Entries = decodeAfter(chunks, after)
	return f
}

// PutBack returns a queue taken for a promotion that failed, so its inputs are not lost; it is
// ignored if a new session has filled the server's queue meanwhile.
func (s *Server) PutBack(q *Queue, term int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.q.Len() == 0 && s.qTerm == 0 {
		s.q, s.qTerm = q, term
		s.notifyLocked()
	}
}

// QueueCopy returns a copy of the queue that later appends and trims do not change, cheaply
// (frames are shared, never copied). A passive uses it to check, without taking the queue and
// without holding the server's lock, whether a promotion could replay.
func (s *Server) QueueCopy() *Queue {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.q.clone()
}

// Reset ends any session and empties the queue (a demoted node rejoining as passive).
func (s *Server) Reset() { s.TakeQueue() }

// Stats reports the queue and session for status and metrics.
type Stats struct {
	Connected bool
	Peer      string
	Term      int64
	Events    int64
	Bytes     int64
	Max       int64
	LastError string
	Apps      map[string]AppQueueStats
}

// AppQueueStats is one app's queue position.
type AppQueueStats struct {
	Last, Persisted, Delivered uint64
	Revision                   int64
}

// Stats returns a consistent view of the server.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Connected: s.conn != nil, Peer: s.peer, Term: s.qTerm, Events: s.q.Len(), Bytes: s.q.Bytes(), Max: s.q.Max(), LastError: s.lastErr, Apps: map[string]AppQueueStats{}}
	for _, a := range s.q.Apps() {
		p, rev := s.q.Persisted(a)
		st.Apps[a] = AppQueueStats{Last: s.q.Last(a), Persisted: p, Delivered: s.q.Delivered(a), Revision: rev}
	}
	return st
}

func (s *Server) fail(c net.Conn, reason string) {
	s.mu.Lock()
	s.lastErr = reason
	s.mu.Unlock()
	s.log.Warn("sync session refused or ended", "remote", c.RemoteAddr().String(), "reason", reason)
}

func (s *Server) serve(c net.Conn) {
	defer c.Close()
	small := bufio.NewReaderSize(c, MaxHandshakeFrame) // a stranger gets a small buffer
	h, err := s.handshake(c, small)
	if err != nil {
		s.fail(c, err.Error())
		return
	}
	s.log.Info("sync session started", "active", h.From, "term", h.Term, "remote", c.RemoteAddr().String())
	r := bufio.NewReaderSize(small, 256<<10)
	var buf []byte
	for {
		typ, p, err := readFrameMax(r, &buf, s.maxFrame())
		if err != nil {
			s.endSession(c, h, err)
			return
		}
		if err := s.handle(c, h, typ, p); err != nil {
			_ = writeFrame(c, typeError, encodeReason(err.Error()))
			s.endSession(c, h, err)
			return
		}
		if r.Buffered() == 0 && small.Buffered() == 0 {
			if err := s.sendAck(c, h.Version); err != nil {
				s.endSession(c, h, err)
				return
			}
		}
	}
}

func (s *Server) endSession(c net.Conn, h hello, err error) {
	s.mu.Lock()
	if s.conn == c {
		s.conn = nil
	}
	s.mu.Unlock()
	s.log.Info("sync session ended", "active", h.From, "term", h.Term, "reason", err.Error())
	if s.cfg.OnSessionEnd != nil {
		go s.cfg.OnSessionEnd(h.Term, h.From)
	}
}

func (s *Server) handshake(c net.Conn, r *bufio.Reader) (hello, error) {
	var h hello
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	nonce := newNonce()
	ch := challenge{Nonce: nonce, NodeID: s.cfg.NodeID}
	if err := writeFrame(c, typeChallenge, ch.encode()); err != nil {
		return h, fmt.Errorf("send challenge: %w", err)
	}
	var buf []byte
	typ, p, err := readFrameMax(r, &buf, MaxHandshakeFrame)
	if err != nil {
		return h, fmt.Errorf("read hello: %w", err)
	}
	if typ != typeHello {
		return h, fmt.Errorf("%w: expected hello, got frame type %d", ErrMalformed, typ)
	}
	if err := h.decode(p); err != nil {
		return h, fmt.Errorf("decode hello: %w", err)
	}
	refuse := func(reason string) (hello, error) {
		_ = writeFrame(c, typeRefuse, encodeReason(reason))
		return h, errors.New(reason)
	}
	switch {
	case h.Version < MinProtocolVersion || h.Version > ProtocolVersion:
		return refuse(fmt.Sprintf("protocol version %d, this node speaks %d to %d", h.Version, MinProtocolVersion, ProtocolVersion))
	case h.Group != s.cfg.Group:
		return refuse(fmt.Sprintf("group %q is not this node's group %q", h.Group, s.cfg.Group))
	case h.To != s.cfg.NodeID:
		return refuse(fmt.Sprintf("session is for node %q, this is %q", h.To, s.cfg.NodeID))
	case !hmac.Equal(h.MAC, mac(s.cfg.Token, nonce, &h)):
		return refuse("authentication failed (auth_token mismatch)")
	case h.Version >= AuthProtocolVersion && len(h.Nonce) < nonceBytes:
		return refuse(fmt.Sprintf("hello nonce of %d bytes, want at least %d", len(h.Nonce), nonceBytes))
	}
	// Nothing below changes the server's state until the claimed term is verified: a refused
	// session leaves the queue and the highest term seen as they were.
	s.mu.Lock()
	seen := s.maxTerm
	s.mu.Unlock()
	if h.Term < seen {
		return refuse(fmt.Sprintf("stale term %d: term %d already seen", h.Term, seen))
	}
	vctx, cancel := context.WithTimeout(context.Background(), HolderCheckTimeout)
	err = s.cfg.VerifyHolder(vctx, h.Term, h.From)
	cancel()
	if err != nil {
		return refuse(fmt.Sprintf("term %d not verified for %s: %v", h.Term, h.From, err))
	}
	if s.cfg.Accept != nil {
		if err := s.cfg.Accept(h.Term, h.From); err != nil {
			return refuse(err.Error())
		}
	}
	s.mu.Lock()
	if h.Term < s.maxTerm {
		s.mu.Unlock()
		return refuse(fmt.Sprintf("stale term %d: term %d already seen", h.Term, s.maxTerm))
	}
	s.maxTerm = h.Term
	if s.qTerm != h.Term {
		s.q = NewQueue(s.cfg.MaxQueueBytes)
		s.qTerm = h.Term
		s.notifyLocked()
	}
	if s.conn != nil {
		s.conn.Close()
	}
	s.conn, s.peer, s.lastErr = c, h.From, ""
	s.mu.Unlock()
	w := welcome{MaxQueueBytes: uint64(s.cfg.MaxQueueBytes)}
	if h.Version >= AuthProtocolVersion {
		// This passive proves itself too; an older active (a rolling deploy) expects no proof.
		w.MAC = welcomeMAC(s.cfg.Token, h.Nonce, &h)
	}
	if err := writeFrame(c, typeWelcome, w.encode()); err != nil {
		return h, fmt.Errorf("send welcome: %w", err)
	}
	_ = c.SetDeadline(time.Time{})
	return h, nil
}

func (s *Server) handle(c net.Conn, h hello, typ uint8, p []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != c {
		return errors.New("session replaced")
	}
	switch typ {
	case typeEntries:
		if _, err := s.q.AppendFrame(p); err != nil {
			s.lastErr = err.Error()
			return err
		}
		s.notifyLocked()
	case typeControl:
		var m control
		if err := m.decode(p); err != nil {
			return err
		}
		s.q.Trim(m.App, m.Seq, m.Revision)
		s.notifyLocked()
	case typeHandover:
		t, err := decodeTerm(p)
		if err != nil {
			return err
		}
		if s.cfg.OnHandover != nil {
			go s.cfg.OnHandover(t)
		}
	case typeDelivered:
		var m AppSeq
		if err := m.decode(p); err != nil {
			return err
		}
		s.q.Deliver(m.App, m.Seq)
		s.notifyLocked()
	case typePing:
		// Answered by the ack that follows every read batch.
	case typeError:
		return fmt.Errorf("active reported: %s", decodeReason(p))
	default:
		return fmt.Errorf("%w: unexpected frame type %d", ErrMalformed, typ)
	}
	return nil
}

func (s *Server) sendAck(c net.Conn, version uint16) error {
	s.mu.Lock()
	a := ack{QueueBytes: uint64(s.q.Bytes()), QueueEvents: uint64(s.q.Len()), v3: version >= 3}
	for _, name := range s.q.Apps() {
		a.Apps = append(a.Apps, AppSeq{App: name, Seq: s.q.Last(name)})
	}
	s.mu.Unlock()
	if a.v3 && s.cfg.Applied != nil {
		a.Applied = s.cfg.Applied()
	}
	return writeFrame(c, typeAck, a.encode())
}
