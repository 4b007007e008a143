package eventsync

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// frameHeader is a frame's length prefix and type, without its payload.
func frameHeader(n uint32, typ uint8) []byte {
	return append(binary.BigEndian.AppendUint32(nil, n), typ)
}

// waitClosed reads c until the server closes it; an error if it stays open for 10 s.
func waitClosed(c net.Conn) error {
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("the server kept the connection open")
	}
	return nil
}

// TestPreAuthFrameBounded: a stranger declaring a 64 MiB hello is refused from the frame's
// header, before anything is allocated for it (six such connections once took a passive to
// 1.5 GiB), and the server says which limit it passed.
func TestPreAuthFrameBounded(t *testing.T) {
	srv, addr := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1 << 20})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var buf []byte
	if typ, _, err := readFrame(bufio.NewReader(c), &buf); err != nil || typ != typeChallenge {
		t.Fatalf("challenge: %d %v", typ, err)
	}
	if _, err := c.Write(frameHeader(MaxFrame, typeHello)); err != nil {
		t.Fatal(err)
	}
	if err := waitClosed(c); err != nil {
		t.Fatal(err)
	}
	if e := srv.Stats().LastError; !strings.Contains(e, "frame length 67108864 (limit 4096)") {
		t.Fatalf("last error %q does not name the handshake frame limit", e)
	}
}

// TestSessionFrameBounded: after the handshake, a frame larger than the queue could hold ends
// the session from its header.
func TestSessionFrameBounded(t *testing.T) {
	_, addr := startServer(t, ServerConfig{Group: "g", NodeID: "p", MaxQueueBytes: 1 << 20})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	var buf []byte
	typ, p, err := readFrame(r, &buf)
	var ch challenge
	if err != nil || typ != typeChallenge || ch.decode(p) != nil {
		t.Fatalf("challenge: %d %v", typ, err)
	}
	h := hello{Version: ProtocolVersion, Group: "g", From: "a", To: "p", Term: 1, Nonce: newNonce()}
	h.MAC = mac(testToken, ch.Nonce, &h)
	if err := writeFrame(c, typeHello, h.encode()); err != nil {
		t.Fatal(err)
	}
	if typ, _, err := readFrame(r, &buf); err != nil || typ != typeWelcome {
		t.Fatalf("welcome: %d %v", typ, err)
	}
	if _, err := c.Write(frameHeader(2<<20, typeEntries)); err != nil {
		t.Fatal(err)
	}
	if err := waitClosed(c); err != nil {
		t.Fatal(err)
	}
}
