// Package wso2event is @source(type='wso2event'): WSO2's binary databridge receiver (the
// protocol of the databridge agent's "Binary" data endpoint, port 9611), so existing WSO2
// publishers send to the active node unchanged. Sessions come from a login checked against the
// node's source_users; a publish is answered once its events are safe per sync_mode.
package wso2event

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/streamha/streamha/node/engine"
	"github.com/streamha/streamha/node/ha"
)

// Options is the option table of @source(type='wso2event'); any other option is an error.
var Options = map[string]string{
	"version": "the stream version of the WSO2 stream id <stream name>:<version> (default 1.0.0)",
}

// DefaultVersion is the stream version when the source names none.
const DefaultVersion = "1.0.0"

// Stream is one stream fed by the databridge, addressed by its WSO2 stream id.
type Stream struct {
	App string
	Def *engine.StreamDef
	ID  string // name:version
	// order lists the attribute indexes in wire order (meta_*, correlation_*, payload).
	order []int
}

// NewStream checks a @source(type='wso2event') of stream def in app.
func NewStream(app string, def *engine.StreamDef, spec engine.SourceSpec) (*Stream, error) {
	if err := spec.CheckOptions(Options); err != nil {
		return nil, err
	}
	switch {
	case spec.Map.Type != "" && spec.Map.Type != "wso2event":
		return nil, fmt.Errorf("@map(type='%s') is not supported by wso2event sources (only 'wso2event')", spec.Map.Type)
	case len(spec.Map.Options) > 0 || len(spec.Map.Attributes) > 0 || len(spec.Map.Positional) > 0 || len(spec.Map.Other) > 0:
		return nil, errors.New("@map(type='wso2event') takes no options or @attributes: attributes named meta_* and correlation_* are the event's meta and correlation data, the others its payload")
	}
	v := spec.Options["version"]
	if v == "" {
		v = DefaultVersion
	}
	return &Stream{App: app, Def: def, ID: def.Name + ":" + v, order: layout(def)}, nil
}

// Node is what the receiver needs of the HA node.
type Node interface {
	Submit(app, stream string, events []ha.Event, key string) (*ha.Pending, error)
}

// Config is the receiver's node-level settings.
type Config struct {
	// Authenticate checks login credentials against the node's source_users.
	Authenticate func(user, password string) bool
	Logger       *slog.Logger
	// MaxSessions bounds the sessions kept; the oldest is dropped beyond it (default 10,000).
	MaxSessions int
	// PayloadTimeout bounds how long a message may take to arrive once its header has.
	PayloadTimeout time.Duration
}

// Server is the databridge receiver of a node. Start and Close may alternate any number of times.
type Server struct {
	node    Node
	cfg     Config
	streams map[string]*Stream

	mu       sync.Mutex
	lns      map[net.Listener]struct{} // open listeners: plain, and TLS when configured
	conns    map[net.Conn]struct{}
	sessions map[string]string // session id → user
	order    []string          // session ids, oldest first
}

// NewServer returns a receiver for streams (distinct ids).
func NewServer(streams []*Stream, node Node, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 10000
	}
	if cfg.PayloadTimeout <= 0 {
		cfg.PayloadTimeout = 30 * time.Second
	}
	cfg.Logger = cfg.Logger.With("component", "databridge")
	s := &Server{node: node, cfg: cfg, streams: map[string]*Stream{}}
	for _, st := range streams {
		if prev, dup := s.streams[st.ID]; dup {
			return nil, fmt.Errorf("wso2event sources %s/%s and %s/%s both have stream id %s", prev.App, prev.Def.Name, st.App, st.Def.Name, st.ID)
		}
		s.streams[st.ID] = st
	}
	return s, nil
}

// SetNode sets the node the streams feed, before the first Start.
func (s *Server) SetNode(n Node) { s.node = n }

// Start accepts publishers on ln, in the background, until Close; a plain and a TLS listener
// may both be started and share the sessions. The first Start after Close begins with no
// sessions. ln is registered before Start returns, so a Close right after closes it.
func (s *Server) Start(ln net.Listener) {
	s.mu.Lock()
	if len(s.lns) == 0 {
		s.lns, s.conns = map[net.Listener]struct{}{}, map[net.Conn]struct{}{}
		s.sessions, s.order = map[string]string{}, nil
	}
	s.lns[ln] = struct{}{}
	s.mu.Unlock()
	go s.accept(ln)
}

func (s *Server) accept(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		s.mu.Lock()
		if _, ok := s.lns[ln]; !ok {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		go s.serve(c, ln)
	}
}

// Close closes the ports at once and forgets every session. A connection finishes the message
// it is processing (its answer is written) and is then closed.
func (s *Server) Close() {
	s.mu.Lock()
	lns := s.lns
	s.lns = nil
	s.sessions, s.order = map[string]string{}, nil
	conns := s.conns
	s.conns = nil
	s.mu.Unlock()
	for ln := range lns {
		ln.Close()
	}
	for c := range conns {
		_ = c.SetReadDeadline(time.Now()) // unblocks a read between messages; a publish under way is answered
	}
}

func (s *Server) open(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.lns[ln]
	return ok
}

func (s *Server) serve(c net.Conn, ln net.Listener) {
	defer func() {
		c.Close()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	var buf, out []byte
	for {
		typ, p, err := s.read(c, r, &buf)
		if err != nil {
			var pe *protoError
			if errors.As(err, &pe) {
				// A frame that cannot be delimited: answer why, then close (framing is lost).
				_, _ = c.Write(appendError(nil, pe))
			} else if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, os.ErrDeadlineExceeded) && s.open(ln) {
				s.cfg.Logger.Warn("closing publisher connection", "remote", c.RemoteAddr().String(), "err", err)
			}
			return
		}
		out = s.handle(typ, p, out[:0])
		if _, err := c.Write(out); err != nil {
			return
		}
		if !s.open(ln) {
			return
		}
	}
}

func (s *Server) read(c net.Conn, r *bufio.Reader, buf *[]byte) (byte, []byte, error) {
	_ = c.SetReadDeadline(time.Time{})
	// The header may wait as long as the publisher likes (pooled connections idle); the
	// payload must follow within PayloadTimeout.
	if _, err := r.Peek(1); err != nil {
		return 0, nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(s.cfg.PayloadTimeout))
	return readFrame(r, buf)
}

func (s *Server) handle(typ byte, p []byte, out []byte) []byte {
	var err error
	switch typ {
	case msgLogin:
		var sess string
		if sess, err = s.login(p); err == nil {
			return appendLogin(out, sess)
		}
	case msgLogout:
		r := &reader{b: p}
		id := r.str("session id")
		if err = r.err; err == nil {
			s.mu.Lock()
			delete(s.sessions, id)
			s.mu.Unlock()
			return append(out, ansOK)
		}
	case msgPublish:
		if err = s.publish(p); err == nil {
			return append(out, ansOK)
		}
	default:
		err = errorf(ClassDataBridge, "message type %d is not supported (0 login, 1 logout, 2 publish)", typ)
	}
	var pe *protoError
	if !errors.As(err, &pe) {
		pe = errorf(ClassDataBridge, "%v", err)
	}
	return appendError(out, pe)
}

func (s *Server) login(p []byte) (string, error) {
	r := &reader{b: p}
	ul := r.i32("user name length")
	pl := r.i32("password length")
	user := r.bytes(int(ul), "user name")
	pass := r.bytes(int(pl), "password")
	if r.err != nil {
		return "", r.err
	}
	if s.cfg.Authenticate == nil || !s.cfg.Authenticate(string(user), string(pass)) {
		s.cfg.Logger.Warn("databridge login refused", "user", string(user))
		return "", errorf(ClassAuthentication, "%s is not authorised to access the service", user)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions == nil {
		return "", errorf(ClassDataBridge, "not active")
	}
	s.sessions[id] = string(user)
	s.order = append(s.order, id)
	for len(s.order) > s.cfg.MaxSessions {
		delete(s.sessions, s.order[0])
		s.order = s.order[1:]
	}
	return id, nil
}

// run is a stretch of a publish's events that go to one stream.
type run struct {
	st     *Stream
	events []ha.Event
}

// publish decodes every event first (nothing is applied when any is bad), submits each run of
// events of one stream in order, and returns once all are safe.
func (s *Server) publish(p []byte) error {
	r := &reader{b: p}
	id := r.str("session id")
	count := r.i32("event count")
	if r.err != nil {
		return r.err
	}
	s.mu.Lock()
	_, ok := s.sessions[id]
	s.mu.Unlock()
	if !ok {
		return errorf(ClassSessionTimeout, "session %s has expired or does not exist: log in again", id)
	}
	if count < 0 || int(count) > len(r.b)/16 {
		return errorf(ClassMalformedEvent, "event count %d does not fit the %d bytes left", count, len(r.b))
	}
	var runs []run
	for i := 0; i < int(count); i++ {
		size := r.i32(fmt.Sprintf("event %d size", i))
		body := r.bytes(int(size), fmt.Sprintf("event %d", i))
		if r.err != nil {
			return r.err
		}
		st, ev, err := s.decodeEvent(body)
		if err != nil {
			return errorf(classOf(err), "event %d: %s", i, msgOf(err))
		}
		if len(runs) == 0 || runs[len(runs)-1].st != st {
			runs = append(runs, run{st: st})
		}
		runs[len(runs)-1].events = append(runs[len(runs)-1].events, ev)
	}
	if len(r.b) != 0 {
		return errorf(ClassMalformedEvent, "%d bytes after the last event", len(r.b))
	}
	if len(runs) == 0 {
		return nil
	}
	pend := make([]*ha.Pending, 0, len(runs))
	var subErr error
	for _, rn := range runs {
		pd, err := s.node.Submit(rn.st.App, rn.st.Def.Name, rn.events, "")
		if err != nil {
			subErr = err
			break
		}
		pend = append(pend, pd)
	}
	// Every submitted run is waited on (the node counts them in flight until then).
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var waitErr error
	for _, pd := range pend {
		if _, err := pd.Wait(ctx); err != nil && waitErr == nil {
			waitErr = err
		}
	}
	if err := errors.Join(subErr, waitErr); err != nil {
		return ingestError(subErr, waitErr)
	}
	return nil
}

func ingestError(errs ...error) error {
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, ha.ErrNotActive):
			return errorf(ClassDataBridge, "not active: this node does not take events now; publish to the active node")
		case errors.Is(err, ha.ErrBadEvent):
			return errorf(ClassMalformedEvent, "%v", err)
		default:
			return errorf(ClassDataBridge, "%v (the events may or may not be applied)", err)
		}
	}
	return nil
}

func classOf(err error) string {
	var pe *protoError
	if errors.As(err, &pe) {
		return pe.class
	}
	return ClassMalformedEvent
}

func msgOf(err error) string {
	var pe *protoError
	if errors.As(err, &pe) {
		return pe.msg
	}
	return err.Error()
}

// decodeEvent reads ts:i64 streamId:str attributes… arbitrary(key:str value:str)* .
func (s *Server) decodeEvent(b []byte) (*Stream, ha.Event, error) {
	r := &reader{b: b}
	ts := r.i64("timestamp")
	sid := r.str("stream id")
	if r.err != nil {
		return nil, ha.Event{}, r.err
	}
	st, ok := s.streams[sid]
	if !ok {
		return nil, ha.Event{}, errorf(ClassUndefinedEvent, "no stream definition for stream id %s", sid)
	}
	vals := make([]engine.Value, len(st.Def.Attrs))
	for _, i := range st.order {
		a := st.Def.Attrs[i]
		vals[i] = r.value(a.Type, a.Name)
	}
	for r.err == nil && len(r.b) > 0 { // arbitrary data map: read to check it, not used
		r.str("arbitrary data key")
		r.str("arbitrary data value")
	}
	if r.err != nil {
		return nil, ha.Event{}, errorf(ClassMalformedEvent, "stream %s: %s", sid, msgOf(r.err))
	}
	return st, ha.Event{TS: ts, HasTS: ts != 0, Data: vals}, nil
}
