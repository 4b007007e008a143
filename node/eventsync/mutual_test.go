package eventsync

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakePassive listens where the passive advertised its sync address and runs serve on each
// connection; it counts connections.
func fakePassive(t *testing.T, serve func(n int, c net.Conn, r *bufio.Reader)) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conns = new(atomic.Int32)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(conns.Add(1))
			go func() {
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(10 * time.Second))
				serve(n, c, bufio.NewReader(c))
			}()
		}
	}()
	return ln.Addr().String(), conns
}

// impostor answers the active's hello with a welcome computed by welcomeFor (nil: no MAC),
// then acknowledges far more than it was sent.
func impostor(t *testing.T, welcomeFor func(h *hello) []byte) func(int, net.Conn, *bufio.Reader) {
	return func(_ int, c net.Conn, r *bufio.Reader) {
		ch := challenge{Nonce: newNonce(), NodeID: "p"}
		if writeFrame(c, typeChallenge, ch.encode()) != nil {
			return
		}
		var buf []byte
		typ, p, err := readFrame(r, &buf)
		var h hello
		if err != nil || typ != typeHello || h.decode(p) != nil {
			t.Errorf("impostor: hello: type %d err %v", typ, err)
			return
		}
		w := welcome{MaxQueueBytes: 1 << 20, MAC: welcomeFor(&h)}
		_ = writeFrame(c, typeWelcome, w.encode())
		a := ack{Apps: []AppSeq{{App: "app", Seq: 1000}}, v3: true}
		_ = writeFrame(c, typeAck, a.encode())
		_, _ = io.Copy(io.Discard, r)
	}
}

// TestUnauthenticatedPassiveRefused: whatever answers at the passive's sync address without
// the shared secret (no welcome MAC, one keyed by another secret, or one over another nonce)
// gets no session, so its acknowledgements are never counted. Before protocol 4 the active
// accepted any welcome: Dial succeeded and Wait returned on the impostor's ack.
func TestUnauthenticatedPassiveRefused(t *testing.T) {
	const wrongToken = "not-the-shared-secret"
	for _, tc := range []struct {
		name string
		mac  func(h *hello) []byte
	}{
		{"no MAC", func(*hello) []byte { return nil }},
		{"wrong secret", func(h *hello) []byte { return welcomeMAC(wrongToken, h.Nonce, h) }},
		{"another nonce", func(h *hello) []byte { return welcomeMAC(testToken, newNonce(), h) }},
		{"the active's own MAC reflected", func(h *hello) []byte { return h.MAC }},
		{"another term", func(h *hello) []byte { x := *h; x.Term++; return welcomeMAC(testToken, h.Nonce, &x) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := fakePassive(t, impostor(t, tc.mac))
			s, err := dial(t, addr, DialConfig{Group: "g", NodeID: "a", Term: 5})
			if err == nil {
				defer s.Close(nil)
				s.Start("app", 0)
				_, _ = s.Send("app", ents(1))
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				werr := s.Wait(ctx, "app", 1)
				t.Fatalf("Dial accepted an unauthenticated passive (Wait for its ack: %v)", werr)
			}
			if !errors.Is(err, ErrPassiveUnauthenticated) {
				t.Fatalf("Dial = %v, want ErrPassiveUnauthenticated", err)
			}
		})
	}
}

// TestReplayedWelcomeRefused: a welcome captured on the wire (a relay between the active and the
// real passive) is worthless on a new connection: the active's nonce is fresh each time, so an
// impostor replaying the captured challenge and welcome is refused.
func TestReplayedWelcomeRefused(t *testing.T) {
	_, real := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1 << 20})
	type capture struct{ challenge, welcome []byte }
	captured := make(chan capture, 1)
	addr, conns := fakePassive(t, func(n int, c net.Conn, cr *bufio.Reader) {
		var buf []byte
		if n == 1 { // relay to the real passive, recording its challenge and welcome
			up, err := net.Dial("tcp", real)
			if err != nil {
				return
			}
			defer up.Close()
			ur := bufio.NewReader(up)
			var got capture
			for _, step := range []struct {
				from *bufio.Reader
				to   net.Conn
				keep *[]byte
			}{{ur, c, &got.challenge}, {cr, up, nil}, {ur, c, &got.welcome}} {
				typ, p, err := readFrame(step.from, &buf)
				if err != nil {
					return
				}
				if step.keep != nil {
					*step.keep = append([]byte(nil), p...)
				}
				_ = writeFrame(step.to, typ, p)
			}
			captured <- got
			go func() { _, _ = io.Copy(c, ur) }()
			_, _ = io.Copy(up, cr)
			return
		}
		got := <-captured
		captured <- got
		_ = writeFrame(c, typeChallenge, got.challenge)
		if _, _, err := readFrame(cr, &buf); err != nil {
			return
		}
		_ = writeFrame(c, typeWelcome, got.welcome)
		_ = writeFrame(c, typeAck, (&ack{Apps: []AppSeq{{App: "app", Seq: 1000}}, v3: true}).encode())
		_, _ = io.Copy(io.Discard, cr)
	})
	s, err := dial(t, addr, DialConfig{Group: "g", NodeID: "a", Term: 3})
	if err != nil {
		t.Fatalf("genuine session through the relay: %v", err)
	}
	s.Close(nil)
	s2, err := dial(t, addr, DialConfig{Group: "g", NodeID: "a", Term: 3})
	if err == nil {
		s2.Close(nil)
		t.Fatal("a replayed welcome was accepted on a new connection")
	}
	if !errors.Is(err, ErrPassiveUnauthenticated) || conns.Load() != 2 {
		t.Fatalf("replayed welcome: Dial = %v after %d connections, want ErrPassiveUnauthenticated on the second", err, conns.Load())
	}
}

// TestOldPassiveNotDowngraded: a new active meeting a passive that refuses protocol 4 (not yet
// upgraded) refuses it by name and does not retry an older, unauthenticated version: the pair
// runs without a standby until the passive's node is upgraded. Before, the active reconnected
// at version 2 and accepted the unauthenticated welcome.
func TestOldPassiveNotDowngraded(t *testing.T) {
	addr, conns := fakePassive(t, func(_ int, c net.Conn, r *bufio.Reader) {
		ch := challenge{Nonce: newNonce(), NodeID: "p"}
		_ = writeFrame(c, typeChallenge, ch.encode())
		var buf []byte
		_, p, err := readFrame(r, &buf)
		var h hello
		if err != nil || h.decode(p) != nil {
			return
		}
		if h.Version > 3 { // what a version 3 passive answers
			_ = writeFrame(c, typeRefuse, encodeReason("protocol version 4, this node speaks 1 to 3"))
			return
		}
		_ = writeFrame(c, typeWelcome, (&welcome{MaxQueueBytes: 1 << 20}).encode())
		_, _ = io.Copy(io.Discard, r)
	})
	s, err := dial(t, addr, DialConfig{Group: "g", NodeID: "a", Term: 2})
	if err == nil {
		s.Close(nil)
		t.Fatalf("session at version %d with a passive that cannot authenticate", s.Version())
	}
	if !errors.Is(err, ErrPassiveTooOld) || !strings.Contains(err.Error(), "protocol version 4") || conns.Load() != 1 {
		t.Fatalf("Dial = %v after %d connections, want ErrPassiveTooOld and no second attempt", err, conns.Load())
	}
}
