package eventsync

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// testToken is the shared secret of the tests that are not about the secret itself.
const testToken = "eventsync-test-secret"

// anyHolder stands in for the cluster database in tests that are not about the holder check:
// every claimed term is the claimant's.
func anyHolder(context.Context, int64, string) error { return nil }

// startServer runs a server on a loopback port; an empty Token or nil VerifyHolder gets
// testToken and anyHolder.
func startServer(t *testing.T, cfg ServerConfig) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	if cfg.VerifyHolder == nil {
		cfg.VerifyHolder = anyHolder
	}
	s, err := NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(s.Close)
	return s, ln.Addr().String()
}

// dial opens a session to passive "p"; an empty Token gets testToken.
func dial(t *testing.T, addr string, cfg DialConfig) (*Session, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Token == "" {
		cfg.Token = testToken
	}
	return Dial(ctx, addr, "p", cfg)
}

func TestSessionStreamsAcksAndTrims(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1 << 20})
	s, err := dial(t, addr, DialConfig{Group: "g", NodeID: "a", Term: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(nil)
	s.Start("app", 0)
	for i := uint64(1); i <= 100; i += 10 {
		es := make([]Entry, 10)
		for j := range es {
			es[j] = Entry{Seq: i + uint64(j), TS: 1000, Stream: "S", Data: []byte("x")}
		}
		if _, err := s.Send("app", es); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx, "app", 100); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if st := srv.Stats(); st.Events != 100 || !st.Connected || st.Peer != "a" {
		t.Fatalf("server stats %+v", st)
	}
	s.Control("app", 60, 1)
	s.Delivered("app", 80)
	s.Delivered("app", 70) // never backwards
	deadline := time.Now().Add(5 * time.Second)
	for st := srv.Stats(); st.Events != 40 || st.Apps["app"].Delivered != 80; st = srv.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("trim or delivered position not applied: %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	q, _ := srv.TakeQueue()
	got, gaps := q.Replay("app", 60)
	if len(got) != 40 || len(gaps) != 0 || got[0].Seq != 61 {
		t.Fatalf("replay %d entries, gaps %v", len(got), gaps)
	}
	if d := q.Delivered("app"); d != 80 {
		t.Fatalf("queue delivered position %d, want 80", d)
	}
	if err := s.Wait(ctx, "app", 101); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("wait after the passive took its queue: %v, want ErrSessionClosed", err)
	}
}

func TestHandshakeRefusals(t *testing.T) {
	_, addr := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1 << 20,
		Accept: func(term int64, from string) error {
			if term < 5 {
				return errors.New("stale term")
			}
			return nil
		}})
	cases := []struct {
		name string
		cfg  DialConfig
		want string
	}{
		{"wrong token", DialConfig{Group: "g", NodeID: "a", Token: "a-guessed-secret-of-some-length", Term: 5}, "authentication failed"},
		{"wrong group", DialConfig{Group: "h", NodeID: "a", Term: 5}, "group"},
		{"stale term", DialConfig{Group: "g", NodeID: "a", Term: 4}, "stale term"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dial(t, addr, tc.cfg)
			if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want refusal mentioning %q", err, tc.want)
			}
		})
	}
}

// TestServerRefusesOlderTerm checks the server's own term check, with no Accept callback (the
// node's callback checks too, so TestHandshakeRefusals passes without the server's): after a
// session at term 5 whose inputs were acknowledged, a handshake at term 4 is refused, and the
// queue, its term and the term-5 session are left as they were (no reset, nothing dropped).
func TestServerRefusesOlderTerm(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1 << 20})
	cur, err := dial(t, addr, DialConfig{Group: "g", NodeID: "a", Term: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer cur.Close(nil)
	cur.Start("app", 0)
	if _, err := cur.Send("app", ents(1, 2, 3, 4, 5, 6, 7, 8, 9, 10)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cur.Wait(ctx, "app", 10); err != nil {
		t.Fatalf("inputs 1..10 not acknowledged at term 5: %v", err)
	}

	_, err = dial(t, addr, DialConfig{Group: "g", NodeID: "b", Term: 4})
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "stale term") {
		t.Fatalf("handshake at term 4 after term 5: %v, want a refusal naming the stale term", err)
	}
	if st := srv.Stats(); st.Term != 5 || st.Events != 10 || st.Apps["app"].Last != 10 || !st.Connected || st.Peer != "a" {
		t.Fatalf("after the refused term-4 handshake: %+v; want the term-5 session and its 10 queued inputs", st)
	}
	// The term-5 session still streams: the refused handshake did not replace it.
	if _, err := cur.Send("app", ents(11, 12)); err != nil {
		t.Fatal(err)
	}
	if err := cur.Wait(ctx, "app", 12); err != nil {
		t.Fatalf("term-5 session after the refused handshake: %v", err)
	}
	q, term := srv.TakeQueue()
	got, gaps := q.Replay("app", 0)
	if term != 5 || len(got) != 12 || len(gaps) != 0 || got[0].Seq != 1 || got[11].Seq != 12 {
		t.Fatalf("queue of term %d replays %d entries (gaps %v); want term 5, inputs 1..12", term, len(got), gaps)
	}
}

func TestQueueFullEndsSessionLoudly(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1000})
	s, err := dial(t, addr, DialConfig{Group: "g", NodeID: "a", Term: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.Start("app", 0)
	big := []Entry{{Seq: 1, Stream: "S", Data: make([]byte, 2000)}}
	s.Send("app", big)
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session not closed on a full queue")
	}
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "queue full") {
		t.Fatalf("session error %v, want queue full", err)
	}
	if st := srv.Stats(); !strings.Contains(st.LastError, "queue full") || st.Events != 0 {
		t.Fatalf("server stats %+v", st)
	}
}

func TestGarbageOnThePortIsRefused(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1 << 20})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().LastError == "" {
		if time.Now().After(deadline) {
			t.Fatal("garbage not reported")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The server is still serving.
	s, err := dial(t, addr, DialConfig{Group: "g", NodeID: "a", Term: 1})
	if err != nil {
		t.Fatalf("after garbage: %v", err)
	}
	s.Close(nil)
}

func TestSilentPassiveIsDropped(t *testing.T) {
	// A passive that accepts the session and then never answers (a blackholed link).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		writeFrame(c, typeChallenge, (&challenge{Nonce: newNonce(), NodeID: "p"}).encode())
		var buf []byte
		_, p, _ := readFrame(c, &buf) // hello
		var h hello
		_ = h.decode(p)
		writeFrame(c, typeWelcome, (&welcome{MaxQueueBytes: 1 << 20, MAC: welcomeMAC(testToken, h.Nonce, &h)}).encode())
		time.Sleep(10 * time.Second)
	}()
	s, err := dial(t, ln.Addr().String(), DialConfig{Group: "g", NodeID: "a", Term: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.Start("app", 0)
	s.Send("app", ents(1))
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx, "app", 1); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("wait = %v, want ErrSessionClosed", err)
	}
	if took := time.Since(start); took > LivenessTimeout+time.Second {
		t.Fatalf("silent passive dropped after %s", took)
	}
}

// TestWriterKeepsFramesIntact covers the writer's double buffering: after a wake-up that finds
// nothing to send, frames appended while an earlier batch is on the wire must not overwrite
// that batch (they once shared a buffer, and the passive read the later frame twice).
func TestWriterKeepsFramesIntact(t *testing.T) {
	local, remote := net.Pipe() // a write blocks until the other end reads it
	defer remote.Close()
	conn := &writeSignalConn{Conn: local, writing: make(chan struct{}, 8)}
	s := &Session{conn: conn, log: slog.New(slog.DiscardHandler), wake: make(chan struct{}, 1),
		progress: make(chan struct{}), done: make(chan struct{}), acked: map[string]uint64{},
		sent: map[string]uint64{}, started: map[string]bool{}, startSeq: map[string]uint64{}}
	go s.writer()
	defer s.Close(errors.New("test over"))

	var buf []byte
	read := func() control {
		t.Helper()
		_ = remote.SetReadDeadline(time.Now().Add(5 * time.Second))
		typ, p, err := readFrame(remote, &buf)
		if err != nil || typ != typeControl {
			t.Fatalf("read frame: type %d, err %v", typ, err)
		}
		var c control
		if err := c.decode(p); err != nil {
			t.Fatal(err)
		}
		return c
	}
	send := func(seq uint64) { s.Control("app", seq, int64(seq)) }

	send(1)
	if c := read(); c.Seq != 1 {
		t.Fatalf("first frame seq %d", c.Seq)
	}
	<-conn.writing // batch 1's write
	// Wake-ups with nothing pending. s.wake has one slot and only the writer receives from
	// it, so when the third send completes the writer has received the second wake-up: it
	// was done with batch 1 (its buffer handed back) and with the first empty wake-up.
	for i := 0; i < 3; i++ {
		s.wake <- struct{}{}
	}
	send(2)
	<-conn.writing // the writer took batch 2 and is blocked writing it until the pipe is read
	send(3)        // appended meanwhile
	for _, want := range []uint64{2, 3} {
		if c := read(); c.Seq != want || c.Revision != int64(want) {
			t.Fatalf("frame = %+v, want seq %d: a batch on the wire was overwritten", c, want)
		}
	}
}

// writeSignalConn reports each Write as it starts, before it blocks on the other end.
type writeSignalConn struct {
	net.Conn
	writing chan struct{}
}

func (c *writeSignalConn) Write(p []byte) (int, error) {
	c.writing <- struct{}{}
	return c.Conn.Write(p)
}

// TestOlderActiveVersionAccepted: during a rolling deploy an active of the previous protocol
// version syncs to an upgraded passive; versions outside the range are refused by name.
func TestOlderActiveVersionAccepted(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1 << 20})
	for _, v := range []uint16{MinProtocolVersion, ProtocolVersion, ProtocolVersion + 1} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(c)
		var buf []byte
		typ, p, err := readFrame(r, &buf)
		var ch challenge
		if err != nil || typ != typeChallenge || ch.decode(p) != nil {
			t.Fatalf("challenge: type %d err %v", typ, err)
		}
		h := hello{Version: v, Group: "g", From: "a", To: "p", Term: int64(v), Nonce: newNonce()}
		h.MAC = mac(testToken, ch.Nonce, &h)
		if err := writeFrame(c, typeHello, h.encode()); err != nil {
			t.Fatal(err)
		}
		typ, p, err = readFrame(r, &buf)
		c.Close()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case v <= ProtocolVersion && typ != typeWelcome:
			t.Fatalf("version %d: frame type %d (%s), want welcome", v, typ, decodeReason(p))
		case v > ProtocolVersion && (typ != typeRefuse || !strings.Contains(decodeReason(p), "protocol version")):
			t.Fatalf("version %d: frame type %d, want a refusal naming the version", v, typ)
		}
	}
	_ = srv
}

// TestWriterConcurrentSendersInOrder: frames from concurrent senders, with spurious wake-ups
// between them, all arrive intact and in each sender's order (bounded: 4 × 2000 frames).
func TestWriterConcurrentSendersInOrder(t *testing.T) {
	local, remote := net.Pipe()
	defer remote.Close()
	s := &Session{conn: local, log: slog.New(slog.DiscardHandler), wake: make(chan struct{}, 1),
		progress: make(chan struct{}), done: make(chan struct{}), acked: map[string]uint64{},
		sent: map[string]uint64{}, started: map[string]bool{}, startSeq: map[string]uint64{}}
	go s.writer()
	defer s.Close(errors.New("test over"))
	const senders, frames = 4, 2000
	for g := 0; g < senders; g++ {
		go func(app string) {
			for i := uint64(1); i <= frames; i++ {
				s.Control(app, i, int64(i))
				if i%7 == 0 {
					s.kick()
				}
			}
		}(string(rune('a' + g)))
	}
	next := map[string]uint64{}
	var buf []byte
	for n := 0; n < senders*frames; n++ {
		if n%50 == 0 {
			time.Sleep(time.Millisecond) // let writes block with appends piling up behind them
		}
		_ = remote.SetReadDeadline(time.Now().Add(10 * time.Second))
		typ, p, err := readFrame(remote, &buf)
		if err != nil || typ != typeControl {
			t.Fatalf("frame %d: type %d, err %v", n, typ, err)
		}
		var c control
		if err := c.decode(p); err != nil {
			t.Fatalf("frame %d: %v", n, err)
		}
		if c.Seq != next[c.App]+1 || c.Revision != int64(c.Seq) {
			t.Fatalf("frame %d of sender %s: seq %d revision %d, want seq %d", n, c.App, c.Seq, c.Revision, next[c.App]+1)
		}
		next[c.App] = c.Seq
	}
}

// TestSessionEndIsReported: when the active's connection drops (a dead process's socket is
// closed by the kernel), OnSessionEnd tells the passive at once with the session's term and peer.
func TestSessionEndIsReported(t *testing.T) {
	type ended struct {
		term int64
		from string
	}
	got := make(chan ended, 1)
	_, addr := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1 << 20,
		OnSessionEnd: func(term int64, from string) { got <- ended{term, from} }})
	s, err := dial(t, addr, DialConfig{Group: "g", NodeID: "a", Term: 7})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		t.Fatalf("session end reported while it lasts: %+v", e)
	default:
	}
	s.Close(nil)
	select {
	case e := <-got:
		if e.term != 7 || e.from != "a" {
			t.Fatalf("reported %+v, want term 7 from a", e)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the end of the session was not reported")
	}
}
