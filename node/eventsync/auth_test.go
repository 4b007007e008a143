package eventsync

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSecretIsRequired: neither side of the sync channel runs without a shared secret of at
// least MinTokenBytes, and the server needs the holder check.
func TestSecretIsRequired(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  ServerConfig
		want string
	}{
		{"no secret", ServerConfig{Group: "g", NodeID: "p", VerifyHolder: anyHolder}, "no shared secret"},
		{"short secret", ServerConfig{Group: "g", NodeID: "p", Token: "s3cret", VerifyHolder: anyHolder}, "6 bytes, at least 16"},
		{"no holder check", ServerConfig{Group: "g", NodeID: "p", Token: testToken}, "VerifyHolder is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if s, err := NewServer(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewServer = %v, %v; want an error mentioning %q", s, err, tc.want)
			}
		})
	}
	// The client refuses before connecting: the listener never sees a connection.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 2)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	for _, token := range []string{"", "short"} {
		_, err := Dial(context.Background(), ln.Addr().String(), "p", DialConfig{Group: "g", NodeID: "a", Token: token, Term: 1})
		if err == nil || errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "shared secret") {
			t.Fatalf("Dial with token %q = %v, want a local error about the shared secret", token, err)
		}
	}
	select {
	case <-accepted:
		t.Fatal("a client without a valid secret connected")
	default:
	}
}

// rawHello opens a connection to addr, reads the challenge and sends hello; it returns the
// nonce it was challenged with and the server's answer (frame type and reason, if refused).
func rawHello(t *testing.T, addr string, build func(nonce []byte) []byte) (nonce []byte, typ uint8, reason string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	var buf []byte
	typ, p, err := readFrame(r, &buf)
	var ch challenge
	if err != nil || typ != typeChallenge || ch.decode(p) != nil {
		t.Fatalf("challenge: type %d err %v", typ, err)
	}
	if err := writeFrame(c, typeHello, build(ch.Nonce)); err != nil {
		t.Fatal(err)
	}
	typ, p, err = readFrame(r, &buf)
	if err != nil {
		t.Fatalf("answer to hello: %v", err)
	}
	if typ == typeRefuse {
		reason = decodeReason(p)
	}
	return ch.Nonce, typ, reason
}

// TestHelloWithoutMACRefused: a hello with no MAC (what an active without a secret sent
// before the secret was mandatory) is refused, and no cluster database read is spent on it.
func TestHelloWithoutMACRefused(t *testing.T) {
	called := make(chan struct{}, 1)
	_, addr := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1 << 20,
		VerifyHolder: func(context.Context, int64, string) error {
			called <- struct{}{}
			return nil
		}})
	for _, m := range [][]byte{nil, bytes.Repeat([]byte{0}, 32)} {
		_, typ, reason := rawHello(t, addr, func([]byte) []byte {
			h := hello{Version: ProtocolVersion, Group: "g", From: "a", To: "p", Term: 7, MAC: m}
			return h.encode()
		})
		if typ != typeRefuse || !strings.Contains(reason, "authentication failed") {
			t.Fatalf("hello with MAC %x: frame type %d (%q), want an authentication refusal", m, typ, reason)
		}
	}
	select {
	case <-called:
		t.Fatal("the holder check ran for an unauthenticated hello")
	default:
	}
}

// TestReplayedHelloRefused: a hello captured on the wire (here by a relay between a real
// active and the passive) is refused when replayed on a new connection, because every
// connection is challenged with a fresh nonce; the genuine session is not disturbed.
func TestReplayedHelloRefused(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1 << 20})
	relay, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer relay.Close()
	type capture struct {
		nonce, hello []byte
	}
	captured := make(chan capture, 1)
	go func() {
		c, err := relay.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		up, err := net.Dial("tcp", addr)
		if err != nil {
			return
		}
		defer up.Close()
		ur, cr := bufio.NewReader(up), bufio.NewReader(c)
		var buf []byte
		typ, p, err := readFrame(ur, &buf) // the challenge, passed on
		if err != nil {
			return
		}
		var ch challenge
		_ = ch.decode(p)
		nonce := append([]byte(nil), ch.Nonce...)
		_ = writeFrame(c, typ, p)
		typ, p, err = readFrame(cr, &buf) // the hello, recorded and passed on
		if err != nil {
			return
		}
		captured <- capture{nonce: nonce, hello: append([]byte(nil), p...)}
		_ = writeFrame(up, typ, p)
		go func() { _, _ = io.Copy(c, ur) }()
		_, _ = io.Copy(up, cr)
	}()
	s, err := dial(t, relay.Addr().String(), DialConfig{Group: "g", NodeID: "a", Term: 3})
	if err != nil {
		t.Fatalf("genuine session through the relay: %v", err)
	}
	defer s.Close(nil)
	s.Start("app", 0)
	if _, err := s.Send("app", ents(1, 2, 3)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx, "app", 3); err != nil {
		t.Fatal(err)
	}
	got := <-captured

	nonce, typ, reason := rawHello(t, addr, func([]byte) []byte { return got.hello })
	if bytes.Equal(nonce, got.nonce) {
		t.Fatalf("two connections were challenged with the same nonce %x", nonce)
	}
	if typ != typeRefuse || !strings.Contains(reason, "authentication failed") {
		t.Fatalf("replayed hello: frame type %d (%q), want an authentication refusal", typ, reason)
	}
	if st := srv.Stats(); !st.Connected || st.Peer != "a" || st.Term != 3 || st.Events != 3 || s.Closed() {
		t.Fatalf("the replay disturbed the genuine session: %+v (closed %v)", st, s.Closed())
	}
}

// leaseRow is the cluster database's lease row as VerifyHolder reads it: the node-level
// wiring (node/ha) reads the real one; here the test sets it.
type leaseRow struct {
	mu     sync.Mutex
	holder string
	term   int64
	reads  int
	down   bool
}

func (l *leaseRow) verify(_ context.Context, term int64, from string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	switch {
	case l.down:
		return errors.New("cluster database unreachable")
	case term != l.term:
		return fmt.Errorf("the lease is at term %d", l.term)
	case from != l.holder:
		return fmt.Errorf("term %d is held by %q", term, l.holder)
	}
	return nil
}

func (l *leaseRow) readCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads
}

// TestUnverifiedTermLeavesQueueUntouched: a peer holding the secret but not the claimed term
// (a forged high term, an old one, another node's, or any term while the database cannot be
// read) is refused, and the passive keeps the inputs it acknowledged, its session and its
// highest term: the real active stays connected and can reconnect afterwards.
func TestUnverifiedTermLeavesQueueUntouched(t *testing.T) {
	lease := &leaseRow{holder: "a", term: 5}
	srv, addr := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1 << 20, VerifyHolder: lease.verify})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	real, err := dial(t, addr, DialConfig{Group: "g", NodeID: "a", Term: 5})
	if err != nil {
		t.Fatal(err)
	}
	real.Start("app", 0)
	if _, err := real.Send("app", ents(1, 2, 3, 4, 5)); err != nil {
		t.Fatal(err)
	}
	if err := real.Wait(ctx, "app", 5); err != nil {
		t.Fatal(err)
	}
	untouched := func(t *testing.T, after string) {
		t.Helper()
		st := srv.Stats()
		if st.Events != 5 || st.Term != 5 || st.Apps["app"].Last != 5 || !st.Connected || st.Peer != "a" || real.Closed() {
			t.Fatalf("after %s the passive's state changed: %+v (real session closed: %v)", after, st, real.Closed())
		}
	}
	for _, tc := range []struct {
		name string
		from string
		term int64
		down bool
	}{
		{"forged high term from a stranger", "x", 1000002, false},
		{"forged high term in the holder's name", "a", 1000002, false},
		{"the next term, not granted yet", "b", 6, false},
		{"another node's term", "b", 5, false},
		{"an old term", "b", 4, false},
		{"the holder's term while the database is down", "a", 5, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lease.mu.Lock()
			lease.down = tc.down
			lease.mu.Unlock()
			_, err := dial(t, addr, DialConfig{Group: "g", NodeID: tc.from, Term: tc.term})
			if err == nil || !errors.Is(err, ErrRefused) {
				t.Fatalf("session from %s under term %d: %v, want refused", tc.from, tc.term, err)
			}
			untouched(t, tc.name)
		})
	}
	lease.mu.Lock()
	lease.down = false
	lease.mu.Unlock()

	// The real active reconnects under its term and finds its acknowledged inputs held.
	real.Close(nil)
	again, err := dial(t, addr, DialConfig{Group: "g", NodeID: "a", Term: 5})
	if err != nil {
		t.Fatalf("the real active cannot reconnect after the refusals: %v", err)
	}
	defer again.Close(nil)
	again.Start("app", 5)
	if _, err := again.Send("app", ents(6)); err != nil {
		t.Fatal(err)
	}
	if err := again.Wait(ctx, "app", 6); err != nil {
		t.Fatal(err)
	}
	q, term := srv.TakeQueue()
	if got, gaps := q.Replay("app", 0); term != 5 || len(got) != 6 || len(gaps) != 0 {
		t.Fatalf("queue after the refusals: term %d, %d entries, gaps %v; want term 5, 6 entries", term, len(got), gaps)
	}

	// A wrong secret costs no database read.
	before := lease.readCount()
	if _, err := dial(t, addr, DialConfig{Group: "g", NodeID: "a", Token: "not-the-shared-secret", Term: 5}); !errors.Is(err, ErrRefused) {
		t.Fatalf("wrong secret: %v", err)
	}
	if n := lease.readCount(); n != before {
		t.Fatalf("a hello with a wrong secret read the lease %d times", n-before)
	}
}
